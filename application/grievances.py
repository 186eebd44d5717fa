"""Grievance commands and queries: filing, and every step of the case's lifecycle."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from application.access import Disclosure
from application.actors import Actor
from application.casebook import Casebook, check_version
from application.errors import Forbidden, LinkGone, NotFound, UnknownReference
from application.free_text import FreeText
from application.history import HistoryEntry, parties_from
from application.households import Households
from application.organisation import actor_of, hash_secret
from application.ports import Clock
from domain.deadlines import PolicyBook
from domain.errors import InvalidCommand
from domain.grievance import FeedbackLink, Grievance
from domain.household import Household
from domain.record import natural_id
from domain.visit import Visit
from domain.vocabulary import FeedbackVia, Role, Urgency, one_of

# How long a resident's one-time feedback link stays usable.
FEEDBACK_LINK_LIFETIME = timedelta(days=7)
# Where a feedback link points, before its token.
FEEDBACK_LINK_PATH = "/r/"
# The actor of feedback a resident gives through a link: no account stands behind it.
RESIDENT = "resident"


@dataclass(frozen=True)
class GrievanceView:
    id: str
    version: int
    household_id: str
    community_id: str
    grid_id: str
    category: str
    urgency: str
    channel: str
    # Free text is sealed under the household's key: null once the household is erased.
    summary: str | None
    description: str | None
    received_at: datetime
    filed_at: datetime
    visit_id: str | None
    parties: list[Any] | None
    status: str
    level: str
    assignee_id: str | None
    respond_by: datetime
    resolve_by: datetime
    policy_version: str
    extended: bool
    accepted_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    outcome: str | None
    reopen_count: int
    last_rating: str | None
    # How the latest feedback came: callback (回访 by phone or visit) or resident_link.
    last_feedback_via: str | None
    merged_into: str | None
    # Deadlines the watcher has recorded as missed: {"deadline": respond|resolve, "due_at"}.
    missed_deadlines: list[dict[str, Any]]


@dataclass(frozen=True)
class FeedbackLinkView:
    """A one-time link for the resident: ``url`` is its path; the token is shown only here."""

    url: str
    expires_at: datetime


class Grievances:
    def __init__(
        self, book: Casebook, households: Households, policies: PolicyBook, clock: Clock
    ) -> None:
        self.book = book
        self.households = households
        self.organisation = households.organisation
        self.access = households.access
        self.vault = households.vault
        self.policies = policies
        self.clock = clock
        self.lists = households.lists
        self.texts: FreeText = households.texts

    def file(
        self,
        actor: Actor,
        *,
        household_id: str,
        category: str,
        urgency: str,
        channel: str,
        summary: str,
        description: str | None = None,
        received_at: datetime | None = None,
        visit_id: str | None = None,
        parties: list[Any] | None = None,
    ) -> tuple[GrievanceView, int]:
        """Deadlines count from ``received_at`` (default now), so logging late buys no time."""
        household = self.book.load_reference(Household, household_id, "household", "household_id")
        self.access.check_works_cases(
            actor, household.community_id, household.grid_id, kind="household", field="household_id"
        )
        if visit_id:
            visit = self.book.load_reference(Visit, visit_id, "visit", "visit_id")
            if visit.household_id != str(household.id):
                # Told apart from a made-up ID, it would reveal visits to other households.
                raise UnknownReference("visit_id", "visit")
        now = self.clock.now()
        received = received_at or now
        policy = self.policies.in_effect_at(received)
        deadlines = policy.deadlines_for(one_of(Urgency, urgency, "urgency"), received)
        case = Grievance.file(
            grievance_id=uuid4(),
            household_id=str(household.id),
            community_id=household.community_id,
            grid_id=household.grid_id,
            category=category,
            urgency=urgency,
            channel=channel,
            summary=self.texts.seal(household.id, summary, "summary", 500),
            description=self.texts.seal_optional(household.id, description, "description"),
            received_at=received,
            visit_id=visit_id,
            parties=self._seal_parties(household, parties),
            deadlines=deadlines,
            actor=actor.account_id,
            now=now,
        )
        position = self.book.commit(lambda: [case])
        return self.view(actor, case), position

    def _seal_parties(self, household: Household, parties: list[Any] | None) -> str | None:
        # Parties name people, so they are sealed under the filing household's key.
        if not parties:
            return None
        text = json.dumps(parties, ensure_ascii=False)
        if len(text) > 20_000:
            raise InvalidCommand("parties is too long", field="parties")
        return self.vault.seal(household.id, text)

    # -- lifecycle ------------------------------------------------------------

    def assign(
        self,
        actor: Actor,
        grievance_id: str,
        *,
        assignee_id: str,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[GrievanceView, int]:
        def decide(case: Grievance, now: datetime) -> None:
            self.access.check_supervises(actor, case.community_id, case.grid_id)
            assignee = self.organisation.caseworker_reference(assignee_id, "assignee_id")
            if not self.access.covers(actor_of(assignee), case.community_id, case.grid_id):
                raise UnknownReference("assignee_id", "account")
            case.assign(
                assignee_id=str(assignee.id),
                note=self.texts.seal_optional(case.household_id, note, "note"),
                actor=actor.account_id,
                now=now,
            )

        return self._change(actor, grievance_id, expected_version, decide)

    def accept(
        self,
        actor: Actor,
        grievance_id: str,
        *,
        expected_version: int | None = None,
    ) -> tuple[GrievanceView, int]:
        return self._change(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.accept(actor=actor.account_id, now=now),
        )

    def decline(
        self, actor: Actor, grievance_id: str, *, reason: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        return self._change(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.decline(
                reason=sealed(self.texts, case, reason, "reason", 2000),
                actor=actor.account_id,
                now=now,
            ),
        )

    def note(
        self, actor: Actor, grievance_id: str, *, text: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        return self._change(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.note(
                text=sealed(self.texts, case, text, "text"), actor=actor.account_id, now=now
            ),
        )

    def escalate(
        self, actor: Actor, grievance_id: str, *, reason: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        def decide(case: Grievance, now: datetime) -> None:
            self._check_assignee_or_supervisor(actor, case, "escalate")
            case.escalate(
                reason=sealed(self.texts, case, reason, "reason", 2000),
                actor=actor.account_id,
                now=now,
            )

        return self._change(actor, grievance_id, expected_version, decide)

    def extend(
        self,
        actor: Actor,
        grievance_id: str,
        *,
        days: int,
        reason: str,
        expected_version: int | None = None,
    ) -> tuple[GrievanceView, int]:
        return self._supervised(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.extend(
                days=days,
                reason=sealed(self.texts, case, reason, "reason", 2000),
                actor=actor.account_id,
                now=now,
            ),
        )

    def urge(
        self, actor: Actor, grievance_id: str, *, note: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        return self._supervised(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.urge(
                note=sealed(self.texts, case, note, "note"), actor=actor.account_id, now=now
            ),
        )

    def resolve(
        self,
        actor: Actor,
        grievance_id: str,
        *,
        resolution: str,
        outcome: str,
        expected_version: int | None = None,
    ) -> tuple[GrievanceView, int]:
        def decide(case: Grievance, now: datetime) -> None:
            self._check_assignee_or_supervisor(actor, case, "resolve")
            case.resolve(
                resolution=sealed(self.texts, case, resolution, "resolution"),
                outcome=outcome,
                actor=actor.account_id,
                now=now,
            )

        return self._change(actor, grievance_id, expected_version, decide)

    def give_feedback(
        self,
        actor: Actor,
        grievance_id: str,
        *,
        rating: str,
        solved: bool,
        comment: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[GrievanceView, int]:
        return self._change(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.give_feedback(
                rating=rating,
                solved=solved,
                comment=self.texts.seal_optional(case.household_id, comment, "comment"),
                actor=actor.account_id,
                now=now,
            ),
        )

    def issue_feedback_link(
        self, actor: Actor, grievance_id: str, *, expected_version: int | None = None
    ) -> tuple[FeedbackLinkView, int]:
        """A one-time link (SMS, QR code) where the resident answers the callback.

        The token is random and shown once; the record keeps only its hash.
        """
        token = secrets.token_urlsafe(24)
        token_hash = hash_secret(token)
        issued: list[datetime] = []

        def attempt() -> list[Any]:
            case = self.book.load(Grievance, grievance_id, "grievance")
            self.access.check_works_cases(actor, case.community_id, case.grid_id, kind="grievance")
            check_version(case, expected_version)
            now = self.clock.now()
            expires_at = now + FEEDBACK_LINK_LIFETIME
            case.issue_feedback_link(
                token_hash=token_hash, expires_at=expires_at, actor=actor.account_id, now=now
            )
            link = FeedbackLink.issue(
                link_id=feedback_link_key(token_hash),
                grievance_id=str(case.id),
                actor=actor.account_id,
                now=now,
            )
            issued[:] = [expires_at]
            return [case, link]

        position = self.book.commit(attempt)
        return FeedbackLinkView(url=FEEDBACK_LINK_PATH + token, expires_at=issued[0]), position

    def check_feedback_link(self, token: str) -> None:
        """Nothing if the link may still answer; ``LinkGone`` if used or expired."""
        self._linked_case(token, self.clock.now())

    def resident_feedback(
        self, token: str, *, rating: str, solved: bool, comment: str | None = None
    ) -> int:
        """The resident's answer through a link: recorded once, ``via: resident_link``."""

        def attempt() -> list[Grievance]:
            now = self.clock.now()
            case, token_hash = self._linked_case(token, now)
            case.give_feedback(
                rating=rating,
                solved=solved,
                comment=self.texts.seal_optional(case.household_id, comment, "comment"),
                actor=RESIDENT,
                now=now,
                via=FeedbackVia.RESIDENT_LINK.value,
                link_hash=token_hash,
            )
            return [case]

        return self.book.commit(attempt)

    def _linked_case(self, token: str, now: datetime) -> tuple[Grievance, str]:
        token_hash = hash_secret(token)
        link = self.book.find(FeedbackLink, feedback_link_key(token_hash))
        if link is None:
            raise NotFound("feedback link")
        case = self.book.load(Grievance, link.grievance_id, "feedback link")
        if not case.link_usable(token_hash, now):
            raise LinkGone("this feedback link was used or has expired")
        return case, token_hash

    def close(
        self, actor: Actor, grievance_id: str, *, note: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        return self._supervised(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.close(
                note=sealed(self.texts, case, note, "note"), actor=actor.account_id, now=now
            ),
        )

    def withdraw(
        self, actor: Actor, grievance_id: str, *, reason: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        return self._change(
            actor,
            grievance_id,
            expected_version,
            lambda case, now: case.withdraw(
                reason=sealed(self.texts, case, reason, "reason", 2000),
                actor=actor.account_id,
                now=now,
            ),
        )

    def merge(
        self, actor: Actor, grievance_id: str, *, into: str, expected_version: int | None = None
    ) -> tuple[GrievanceView, int]:
        def decide(case: Grievance, now: datetime) -> None:
            self.access.check_supervises(actor, case.community_id, case.grid_id)
            target = self.book.load_reference(Grievance, into, "grievance", "into")
            if not self.access.covers(actor, target.community_id, target.grid_id):
                raise UnknownReference("into", "grievance")
            if target.status in ("merged", "withdrawn"):
                raise InvalidCommand(f"into names a case that was {target.status}", field="into")
            case.merge_into(into=str(target.id), actor=actor.account_id, now=now)

        return self._change(actor, grievance_id, expected_version, decide)

    def _check_assignee_or_supervisor(self, actor: Actor, case: Grievance, action: str) -> None:
        if actor.role is not Role.SUPERVISOR and actor.account_id != case.assignee_id:
            raise Forbidden(f"only the assignee or a supervisor may {action} this case")

    def _supervised(
        self,
        actor: Actor,
        grievance_id: str,
        expected_version: int | None,
        decide: Callable[[Grievance, datetime], None],
    ) -> tuple[GrievanceView, int]:
        """A command only a supervisor in scope may give."""

        def supervised(case: Grievance, now: datetime) -> None:
            self.access.check_supervises(actor, case.community_id, case.grid_id)
            decide(case, now)

        return self._change(actor, grievance_id, expected_version, supervised)

    def _change(
        self,
        actor: Actor,
        grievance_id: str,
        expected_version: int | None,
        decide: Callable[[Grievance, datetime], None],
    ) -> tuple[GrievanceView, int]:
        changed: list[Grievance] = []

        def attempt() -> list[Grievance]:
            case = self.book.load(Grievance, grievance_id, "grievance")
            self.access.check_works_cases(actor, case.community_id, case.grid_id, kind="grievance")
            check_version(case, expected_version)
            decide(case, self.clock.now())
            changed[:] = [case]
            return [case]

        position = self.book.commit(attempt)
        return self.view(actor, changed[0]), position

    # -- queries --------------------------------------------------------------

    def get(self, actor: Actor, grievance_id: str, as_of: datetime | None = None) -> GrievanceView:
        """The case now, or as the record stood at ``as_of``."""
        case = self.book.load(Grievance, grievance_id, "grievance")
        self.access.check_reads_cases(actor, case.community_id, case.grid_id, kind="grievance")
        if as_of is not None:
            # Judged by the case as it is now, like its history; shown as it was.
            case = self.households.history.as_of(Grievance, grievance_id, "grievance", as_of)
        return self.view(actor, case)

    def events(self, actor: Actor, grievance_id: str) -> list[HistoryEntry]:
        """Every event of the case, oldest first."""
        case = self.book.load(Grievance, grievance_id, "grievance")
        self.access.check_reads_cases(actor, case.community_id, case.grid_id, kind="grievance")
        history = self.households.history
        disclosure = self.access.disclosure(actor, case.community_id, case.grid_id)
        events = history.events(grievance_id, "grievance")
        return history.entries(events, UUID(case.household_id), disclosure)

    def search(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        category: str | None = None,
        community_id: str | None = None,
        assignee_id: str | None = None,
        household_id: str | None = None,
        overdue: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[GrievanceView], str | None]:
        """Cases in the actor's jurisdiction; overdue means open past the resolve deadline."""
        self.access.check_reads_history(actor)
        found = self.lists.grievances(
            actor,
            now=self.clock.now(),
            status=status,
            category=category,
            community_id=community_id,
            assignee_id=assignee_id,
            household_id=household_id,
            overdue=overdue,
            limit=limit,
            cursor=cursor,
        )
        load = self.book.load
        views = [self.view(actor, load(Grievance, key, "grievance")) for key in found.ids]
        return views, found.next_cursor

    def view(self, actor: Actor, case: Grievance) -> GrievanceView:
        reveal = self.texts.reveal
        return GrievanceView(
            id=str(case.id),
            version=case.version,
            household_id=case.household_id,
            community_id=case.community_id,
            grid_id=case.grid_id,
            category=case.category,
            urgency=case.urgency,
            channel=case.channel,
            summary=reveal(case.household_id, case.summary),
            description=reveal(case.household_id, case.description),
            received_at=case.received_at,
            filed_at=case.created_on,
            visit_id=case.visit_id,
            parties=self._parties(actor, case),
            status=case.status,
            level=case.level,
            assignee_id=case.assignee_id,
            respond_by=case.respond_by,
            resolve_by=case.resolve_by,
            policy_version=case.policy_version,
            extended=case.extended,
            accepted_at=case.accepted_at,
            resolved_at=case.resolved_at,
            resolution=reveal(case.household_id, case.resolution),
            outcome=case.outcome,
            reopen_count=case.reopen_count,
            last_rating=case.last_rating,
            last_feedback_via=case.last_feedback_via,
            merged_into=case.merged_into,
            missed_deadlines=[
                {"deadline": deadline, "due_at": due_at}
                for deadline, due_at in case.missed_recorded
            ],
        )

    def _parties(self, actor: Actor, case: Grievance) -> list[Any] | None:
        if case.parties is None:
            return None
        if self.access.disclosure(actor, case.community_id, case.grid_id) is not Disclosure.CLEAR:
            return None
        return parties_from(self.vault.unseal(UUID(case.household_id), case.parties))


def feedback_link_key(token_hash: str) -> UUID:
    """The ID of the link a token's hash names."""
    return natural_id("feedback-link", token_hash)


def sealed(
    texts: FreeText, case: Grievance, value: str, field: str, max_length: int = 10_000
) -> str:
    """A text about the case's household, checked in clear and sealed under its key."""
    return texts.seal(case.household_id, value, field, max_length)
