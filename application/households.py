"""Household commands and queries: registration, responsibility, tags, employment, life events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from application.access import Disclosure
from application.actors import Actor
from application.case_lists import CaseLists, page_of
from application.casebook import Casebook, check_version
from application.errors import DuplicateIdNumber, Forbidden, NotFound, UnknownReference
from application.free_text import FreeText
from application.history import History, HistoryEntry
from application.masking import mask_id_number, mask_name, mask_phone
from application.organisation import Organisation, actor_of
from application.ports import Clock, IdNumberIndex, PersonalDataCopies, PersonalDataVault
from application.read_model import eq
from domain.household import Household, Sealed
from domain.national_id import require_national_id
from domain.record import require_text


@dataclass(frozen=True)
class HouseholdView:
    id: str
    version: int
    community_id: str
    grid_id: str
    head_name: str | None
    phone: str | None
    id_number: str | None
    member_count: int
    address: dict[str, str]
    origin: dict[str, str]
    relocated_on: date
    tags: list[str]
    labour_force: int
    employed: int
    zero_employment: bool
    contact_cadre_id: str | None
    life_events: list[dict[str, Any]]
    erased: bool


@dataclass(frozen=True)
class LifeEventRecorded:
    life_event_id: str
    visit_due_by: date
    household: HouseholdView


PERSONAL_FIELDS = ("head_name", "phone", "id_number")


class Households:
    def __init__(
        self,
        book: Casebook,
        organisation: Organisation,
        vault: PersonalDataVault,
        clock: Clock,
        lists: CaseLists,
        id_index: IdNumberIndex,
    ) -> None:
        self.book = book
        self.id_index = id_index
        self.organisation = organisation
        self.access = organisation.access
        self.vault = vault
        self.clock = clock
        self.lists = lists
        self.history = History(book, vault)
        self.texts: FreeText = self.history.texts
        # Called before an erasure gathers what to scrub, so that the read models
        # know every visit and case of the household (wired to the projections).
        self.settle_reads: Callable[[], object] = lambda: None
        # Copies of personal data kept outside the log (remembered answers to
        # repeated POSTs) are scrubbed through these when a household is erased.
        self.copies: list[PersonalDataCopies] = []

    def register(
        self,
        actor: Actor,
        *,
        community_id: str,
        grid_id: str,
        head_name: str,
        member_count: int,
        address: dict[str, Any],
        origin: dict[str, Any],
        relocated_on: date,
        phone: str | None = None,
        id_number: str | None = None,
        tags: list[str] | None = None,
    ) -> tuple[HouseholdView, int]:
        community = self.organisation.community_reference(community_id)
        community.check_has_grid(grid_id)
        self.access.check_works_cases(actor, community_id, grid_id)
        if id_number is not None and id_number.strip():
            id_number = require_national_id(id_number, today=self.clock.now().date())
        else:
            id_number = None
        household_id = uuid4()
        self.vault.create_key(household_id)
        sealed = self._seal(household_id, head_name, phone, id_number)
        household = Household.register(
            household_id=household_id,
            community_id=community_id,
            grid_id=grid_id,
            sealed=sealed,
            member_count=member_count,
            address=address,
            origin=origin,
            relocated_on=relocated_on,
            tags=tags or [],
            actor=actor.account_id,
            now=self.clock.now(),
        )
        if id_number is not None:
            self._reserve(actor, id_number, household_id)
        try:
            position = self.book.commit(lambda: [household])
        except BaseException:
            self.id_index.release(household_id)
            raise
        return self.view(actor, household), position

    def _reserve(self, actor: Actor, id_number: str, household_id: UUID) -> None:
        """Reserve the ID number for the new household, or ``DuplicateIdNumber``.

        The index's unique key decides between two registrations racing for one
        number. A reservation whose household was never recorded (a crash between
        reserving and recording) or has since been erased is taken over.
        """
        for _ in range(3):
            holder = self.id_index.claim(id_number, household_id)
            if holder is None:
                return
            existing = self.book.find(Household, holder)
            if existing is not None and not existing.erased:
                raise DuplicateIdNumber(self._named_to(actor, existing))
            if self.id_index.transfer(id_number, holder, household_id):
                return
        raise DuplicateIdNumber(None)

    def _named_to(self, actor: Actor, household: Household) -> str | None:
        """The household's ID when the actor may read it; otherwise it stays unnamed."""
        try:
            self.access.check_reads_cases(
                actor, household.community_id, household.grid_id, kind="household"
            )
        except (Forbidden, NotFound):
            return None
        return str(household.id)

    def _seal(
        self, household_id: UUID, head_name: str, phone: str | None, id_number: str | None
    ) -> Sealed:
        def seal_optional(value: str | None, field: str, max_length: int) -> str | None:
            if value is None or not value.strip():
                return None
            return self.vault.seal(household_id, require_text(value, field, max_length))

        return Sealed(
            head_name=self.vault.seal(household_id, require_text(head_name, "head_name", 100)),
            phone=seal_optional(phone, "phone", 30),
            id_number=seal_optional(id_number, "id_number", 30),
        )

    # -- commands on a registered household -----------------------------------

    def assign_contact_cadre(
        self, actor: Actor, household_id: str, *, cadre_id: str, expected_version: int | None = None
    ) -> tuple[HouseholdView, int]:
        def decide(household: Household) -> None:
            cadre = self.organisation.caseworker_reference(cadre_id, "cadre_id")
            if not self.access.covers(actor_of(cadre), household.community_id, household.grid_id):
                raise UnknownReference("cadre_id", "account")
            household.assign_contact_cadre(
                cadre_id=str(cadre.id), actor=actor.account_id, now=self.clock.now()
            )

        return self._change(actor, household_id, expected_version, decide)

    def move(
        self,
        actor: Actor,
        household_id: str,
        *,
        grid_id: str,
        address: dict[str, Any],
        expected_version: int | None = None,
    ) -> tuple[HouseholdView, int]:
        def decide(household: Household) -> None:
            self.organisation.community(household.community_id).check_has_grid(grid_id)
            self.access.check_works_cases(actor, household.community_id, grid_id)
            household.move(
                grid_id=grid_id, address=address, actor=actor.account_id, now=self.clock.now()
            )

        return self._change(actor, household_id, expected_version, decide)

    def change_tags(
        self,
        actor: Actor,
        household_id: str,
        *,
        add: list[str],
        remove: list[str],
        expected_version: int | None = None,
    ) -> tuple[HouseholdView, int]:
        return self._change(
            actor,
            household_id,
            expected_version,
            lambda h: h.change_tags(
                add=add, remove=remove, actor=actor.account_id, now=self.clock.now()
            ),
        )

    def record_employment(
        self,
        actor: Actor,
        household_id: str,
        *,
        labour_force: int,
        employed: int,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[HouseholdView, int]:
        return self._change(
            actor,
            household_id,
            expected_version,
            lambda h: h.record_employment(
                labour_force=labour_force,
                employed=employed,
                note=self.texts.seal_optional(h.id, note, "note"),
                actor=actor.account_id,
                now=self.clock.now(),
            ),
        )

    def report_life_event(
        self,
        actor: Actor,
        household_id: str,
        *,
        kind: str,
        occurred_on: date,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[LifeEventRecorded, int]:
        life_event_id = str(uuid4())
        due: list[date] = []

        def decide(household: Household) -> None:
            due[:] = [
                household.report_life_event(
                    life_event_id=life_event_id,
                    kind=kind,
                    occurred_on=occurred_on,
                    note=self.texts.seal_optional(household.id, note, "note"),
                    actor=actor.account_id,
                    now=self.clock.now(),
                )
            ]

        view, position = self._change(actor, household_id, expected_version, decide)
        return LifeEventRecorded(life_event_id, due[0], view), position

    def erase(
        self,
        actor: Actor,
        household_id: str,
        *,
        legal_basis: str,
        expected_version: int | None = None,
    ) -> tuple[HouseholdView, int]:
        """Erase a household's personal data on a lawful request (admin).

        The erasure is recorded first; then the household's key is destroyed, so
        every ciphertext of it, in events, snapshots and copies, becomes unreadable
        while the history and its verification stay intact.
        """
        self.access.check_admin(actor)
        erased: list[Household] = []

        def attempt() -> list[Household]:
            household = self.book.load(Household, household_id, "household")
            check_version(household, expected_version)
            if household.erased:
                # A crash between recording and shredding is finished on the repeat.
                self.id_index.release(household.id)
                self.vault.shred(household.id)
            household.erase(legal_basis=legal_basis, actor=actor.account_id, now=self.clock.now())
            erased[:] = [household]
            return [household]

        position = self.book.commit(attempt)
        household = erased[0]
        clear = self._every_personal_value(household.id)
        for copies in self.copies:
            copies.scrub(str(household.id), clear)
        # The ID number can no longer be matched to the household, nor refused again.
        self.id_index.release(household.id)
        self.vault.shred(household.id)
        return self.view(actor, household), position

    def _every_personal_value(self, household_id: UUID) -> list[str]:
        """Every name, phone, ID number and free text about the household, in clear.

        Read before the key is destroyed: the household's own events, and those of
        its visits and cases, whose remembered answers may repeat them.
        """
        found = set()
        for event in self.book.events.get(household_id):
            for name in PERSONAL_FIELDS:
                token = getattr(event, name, None)
                clear = self.vault.unseal(household_id, token) if token else None
                if clear:
                    found.add(clear)
        for key in self._visits_and_cases(household_id):
            found |= self.texts.every_clear_value(household_id, self.book.events.get(key))
        found |= self.texts.every_clear_value(household_id, self.book.events.get(household_id))
        return sorted(found)

    def _visits_and_cases(self, household_id: UUID) -> list[UUID]:
        self.settle_reads()
        store, model = self.lists.store, self.lists.casework
        where = [eq("household_id", str(household_id))]
        rows = store.select(model, "visits", where) + store.select(model, "grievances", where)
        return [UUID(row["id"]) for row in rows]

    def _change(
        self,
        actor: Actor,
        household_id: str,
        expected_version: int | None,
        decide: Callable[[Household], None],
    ) -> tuple[HouseholdView, int]:
        changed: list[Household] = []

        def attempt() -> list[Household]:
            household = self.book.load(Household, household_id, "household")
            self.access.check_works_cases(
                actor, household.community_id, household.grid_id, kind="household"
            )
            check_version(household, expected_version)
            decide(household)
            changed[:] = [household]
            return [household]

        position = self.book.commit(attempt)
        return self.view(actor, changed[0]), position

    # -- queries --------------------------------------------------------------

    def get(self, actor: Actor, household_id: str, as_of: datetime | None = None) -> HouseholdView:
        """The household now, or as the record stood at ``as_of``."""
        if as_of is None:
            return self.view(actor, self.load_readable(actor, household_id))
        # Who may read, and how much, is judged by where the household is now,
        # as for its history: a past grid must not reopen a household to a cadre.
        current = self.load_readable(actor, household_id)
        household = self.history.as_of(Household, household_id, "household", as_of)
        return self.view(actor, household, judged_by=current)

    def events(self, actor: Actor, household_id: str) -> list[HistoryEntry]:
        """Every event of the household, oldest first."""
        household = self.load_readable(actor, household_id)
        disclosure = self.access.disclosure(actor, household.community_id, household.grid_id)
        events = self.history.events(household_id, "household")
        return self.history.entries(events, household.id, disclosure)

    def search(
        self,
        actor: Actor,
        *,
        community_id: str | None = None,
        grid_id: str | None = None,
        tag: str | None = None,
        zero_employment: bool | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[HouseholdView], str | None]:
        """Households in the actor's jurisdiction that match every filter given."""
        self.access.check_reads_history(actor)
        found = self.lists.households(
            actor,
            community_id=community_id,
            grid_id=grid_id,
            tag=tag,
            zero_employment=zero_employment,
            limit=None if q else limit,
            cursor=None if q else cursor,
        )
        load = self.book.load
        views = (self.view(actor, load(Household, key, "household")) for key in found.ids)
        if not q:
            return list(views), found.next_cursor
        # Names are sealed, so a text search reads each candidate as the caller may see it.
        return page_of([view for view in views if matches(view, q)], limit, cursor)

    def load_readable(self, actor: Actor, household_id: str) -> Household:
        household = self.book.load(Household, household_id, "household")
        self.access.check_reads_cases(
            actor, household.community_id, household.grid_id, kind="household"
        )
        return household

    def view(
        self, actor: Actor, household: Household, judged_by: Household | None = None
    ) -> HouseholdView:
        place = judged_by or household
        disclosure = self.access.disclosure(actor, place.community_id, place.grid_id)
        personal = self.personal_data(household, disclosure)
        return HouseholdView(
            id=str(household.id),
            version=household.version,
            community_id=household.community_id,
            grid_id=household.grid_id,
            member_count=household.member_count,
            address=household.address,
            origin=household.origin,
            relocated_on=household.relocated_on,
            tags=list(household.tags),
            labour_force=household.labour_force,
            employed=household.employed,
            zero_employment=household.zero_employment,
            contact_cadre_id=household.contact_cadre_id,
            life_events=[
                {
                    "life_event_id": key,
                    **value,
                    "overdue_recorded": bool(value.get("overdue_recorded")),
                }
                for key, value in household.life_events.items()
            ],
            erased=household.erased,
            **personal,
        )

    def personal_data(self, household: Household, disclosure: Disclosure) -> dict[str, str | None]:
        if disclosure is Disclosure.HIDDEN or household.erased:
            return {"head_name": None, "phone": None, "id_number": None}
        clear = {
            field: self.vault.unseal(household.id, token) if token else None
            for field, token in (
                ("head_name", household.head_name),
                ("phone", household.phone),
                ("id_number", household.id_number),
            )
        }
        if disclosure is Disclosure.CLEAR:
            return clear
        masks = {"head_name": mask_name, "phone": mask_phone, "id_number": mask_id_number}
        return {field: masks[field](value) if value else None for field, value in clear.items()}


def matches(view: HouseholdView, q: str) -> bool:
    """Free-text search over what the reader may see: name, address, origin."""
    haystack = " ".join(
        [view.head_name or "", *view.address.values(), *view.origin.values(), view.phone or ""]
    )
    return q.strip() in haystack
