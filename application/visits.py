"""Visit commands and queries: log, amend, void."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from application.actors import Actor
from application.casebook import Casebook, check_version
from application.errors import Forbidden, UnknownReference
from application.free_text import FreeText
from application.history import HistoryEntry
from application.households import Households
from application.ports import Clock
from domain.grievance import Grievance
from domain.household import Household
from domain.visit import Visit
from domain.vocabulary import Role


@dataclass(frozen=True)
class VisitView:
    id: str
    version: int
    household_id: str
    visitor_id: str
    visited_at: datetime
    recorded_at: datetime
    late_logged: bool
    channel: str
    purpose: str
    # Free text is sealed under the household's key: null once the household is erased.
    notes: str | None
    life_event_id: str | None
    grievance_id: str | None
    voided: bool
    void_reason: str | None


def visit_view(visit: Visit, texts: FreeText) -> VisitView:
    return VisitView(
        id=str(visit.id),
        version=visit.version,
        household_id=visit.household_id,
        visitor_id=visit.visitor_id,
        visited_at=visit.visited_at,
        recorded_at=visit.recorded_at,
        late_logged=visit.late_logged,
        channel=visit.channel,
        purpose=visit.purpose,
        notes=texts.reveal(visit.household_id, visit.notes),
        life_event_id=visit.life_event_id,
        grievance_id=visit.grievance_id,
        voided=visit.voided,
        void_reason=texts.reveal(visit.household_id, visit.void_reason),
    )


class Visits:
    def __init__(self, book: Casebook, households: Households, clock: Clock) -> None:
        self.book = book
        self.households = households
        self.access = households.access
        self.clock = clock
        self.lists = households.lists
        self.texts = households.texts

    def log(
        self,
        actor: Actor,
        *,
        household_id: str,
        visited_at: datetime,
        channel: str,
        purpose: str,
        notes: str,
        life_event_id: str | None = None,
        grievance_id: str | None = None,
    ) -> tuple[VisitView, int]:
        """The caller is the visitor."""
        household = self.book.load_reference(Household, household_id, "household", "household_id")
        self.access.check_works_cases(
            actor, household.community_id, household.grid_id, kind="household", field="household_id"
        )
        if life_event_id:
            household.check_has_life_event(life_event_id)
        if grievance_id:
            case = self.book.load_reference(Grievance, grievance_id, "grievance", "grievance_id")
            if case.household_id != str(household.id):
                # Told apart from a made-up ID, it would reveal cases of other households.
                raise UnknownReference("grievance_id", "grievance")
        visit = Visit.log(
            visit_id=uuid4(),
            household_id=str(household.id),
            visited_at=visited_at,
            channel=channel,
            purpose=purpose,
            notes=self.texts.seal_optional(household.id, notes, "notes") or "",
            life_event_id=life_event_id,
            grievance_id=grievance_id,
            actor=actor.account_id,
            now=self.clock.now(),
        )
        position = self.book.commit(lambda: [visit])
        return visit_view(visit, self.texts), position

    def amend(
        self,
        actor: Actor,
        visit_id: str,
        *,
        notes: str,
        reason: str,
        expected_version: int | None = None,
    ) -> tuple[VisitView, int]:
        return self._change(
            actor,
            visit_id,
            expected_version,
            lambda v: v.amend(
                notes=self.texts.seal(v.household_id, notes, "notes", 10_000),
                reason=self.texts.seal(v.household_id, reason, "reason", 2000),
                actor=actor.account_id,
                now=self.clock.now(),
            ),
        )

    def void(
        self, actor: Actor, visit_id: str, *, reason: str, expected_version: int | None = None
    ) -> tuple[VisitView, int]:
        return self._change(
            actor,
            visit_id,
            expected_version,
            lambda v: v.void(
                reason=self.texts.seal(v.household_id, reason, "reason", 2000),
                actor=actor.account_id,
                now=self.clock.now(),
            ),
        )

    def _change(
        self,
        actor: Actor,
        visit_id: str,
        expected_version: int | None,
        decide: Callable[[Visit], None],
    ) -> tuple[VisitView, int]:
        changed: list[Visit] = []

        def attempt() -> list[Visit]:
            visit = self.book.load(Visit, visit_id, "visit")
            household = self.book.load(Household, visit.household_id, "household")
            self.access.check_works_cases(
                actor, household.community_id, household.grid_id, kind="visit"
            )
            # A visit is corrected by the cadre who made it, or by a supervisor.
            if actor.role is not Role.SUPERVISOR and actor.account_id != visit.visitor_id:
                raise Forbidden("only the visitor or a supervisor may correct a visit")
            check_version(visit, expected_version)
            decide(visit)
            changed[:] = [visit]
            return [visit]

        position = self.book.commit(attempt)
        return visit_view(changed[0], self.texts), position

    def get(self, actor: Actor, visit_id: str, as_of: datetime | None = None) -> VisitView:
        """The visit now, or as the record stood at ``as_of``."""
        if as_of is None:
            visit = self.book.load(Visit, visit_id, "visit")
        else:
            visit = self.households.history.as_of(Visit, visit_id, "visit", as_of)
        self._check_reads(actor, visit)
        return visit_view(visit, self.texts)

    def events(self, actor: Actor, visit_id: str) -> list[HistoryEntry]:
        """Every event of the visit, oldest first."""
        household = self._check_reads(actor, self.book.load(Visit, visit_id, "visit"))
        history = self.households.history
        disclosure = self.access.disclosure(actor, household.community_id, household.grid_id)
        return history.entries(history.events(visit_id, "visit"), household.id, disclosure)

    def _check_reads(self, actor: Actor, visit: Visit) -> Household:
        household = self.book.load(Household, visit.household_id, "household")
        self.access.check_reads_cases(
            actor, household.community_id, household.grid_id, kind="visit"
        )
        return household

    def search(
        self,
        actor: Actor,
        *,
        household_id: str | None = None,
        cadre_id: str | None = None,
        visited_from: datetime | None = None,
        visited_to: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[VisitView], str | None]:
        """Visits in the actor's jurisdiction, newest first."""
        self.access.check_reads_history(actor)
        found = self.lists.visits(
            actor,
            household_id=household_id,
            cadre_id=cadre_id,
            visited_from=visited_from,
            visited_to=visited_to,
            limit=limit,
            cursor=cursor,
        )
        return [
            visit_view(self.book.load(Visit, key, "visit"), self.texts) for key in found.ids
        ], found.next_cursor
