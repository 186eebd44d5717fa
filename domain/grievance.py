"""A grievance (诉求) or dispute and its way from filing to close-out (销号).

filed → assigned → in_progress → resolved → closed, with decline, escalate,
extend, urge, reopen on unsatisfied feedback, withdraw and merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.deadlines import MAX_EXTENSION_DAYS, Deadlines
from domain.errors import InvalidCommand, NotPermitted, StateConflict
from domain.record import (
    CaseRecord,
    optional_text,
    require_aware,
    require_count,
    require_plausible_moment,
    require_text,
)
from domain.vocabulary import (
    OPEN_STATUSES,
    Category,
    FeedbackVia,
    GrievanceStatus,
    IntakeChannel,
    Level,
    Outcome,
    Rating,
    Urgency,
    one_of,
)

Status = GrievanceStatus
RESPOND, RESOLVE = "respond", "resolve"


@dataclass(frozen=True)
class MissedDeadline:
    """A deadline that passed while the case was open: ``since`` is when it became overdue.

    A resolve deadline passes unmet at the first moment after it at which the
    case is open: at the deadline itself, or when a resolved case is reopened
    later (a reopened case keeps its original deadlines). A respond deadline
    passes unmet when the case is open and not yet accepted just after it.
    """

    deadline: str
    due_at: datetime
    since: datetime

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.deadline, self.due_at)


class Grievance(CaseRecord):
    TOPIC = "anju:Grievance"

    class Event(CaseRecord.Event):
        def mutate(self, aggregate: Any) -> Any:
            # Before any later event applies, note the deadlines that passed since
            # the last one: a fold of event times, so it never reads the clock.
            if aggregate is not None:
                aggregate.missed.extend(aggregate.missed_before(self.timestamp))
            return super().mutate(aggregate)

    class Filed(Event, Aggregate.Created):
        TOPIC = "anju:Grievance.Filed"
        household_id: str
        community_id: str
        grid_id: str
        category: str
        urgency: str
        channel: str
        summary: str
        description: str | None
        received_at: datetime
        visit_id: str | None
        parties: str | None  # sealed: parties name people
        respond_by: datetime
        resolve_by: datetime
        policy_version: str

        def apply(self, case: Grievance) -> None:
            case.household_id = self.household_id
            case.community_id = self.community_id
            case.grid_id = self.grid_id
            case.category = self.category
            case.urgency = self.urgency
            case.channel = self.channel
            case.summary = self.summary
            case.description = self.description
            case.received_at = self.received_at
            case.visit_id = self.visit_id
            case.parties = self.parties
            case.respond_by = self.respond_by
            case.resolve_by = self.resolve_by
            case.policy_version = self.policy_version
            case.status = Status.FILED.value
            case.level = Level.GRID.value
            case.assignee_id = None
            case.extended = False
            case.accepted_at = None
            case.resolved_at = None
            case.resolution = None
            case.outcome = None
            case.reopen_count = 0
            case.last_rating = None
            case.merged_into = None
            case.open_since = self.received_at
            case.missed = []
            case.missed_recorded = []
            case.auto_escalated_for = None
            case.resolvers = []
            case.feedback_links = {}
            case.last_feedback_via = None

    Created = Filed

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    class Assigned(Event):
        TOPIC = "anju:Grievance.Assigned"
        assignee_id: str
        note: str | None

        def apply(self, case: Grievance) -> None:
            case.assignee_id = self.assignee_id
            case.status = Status.ASSIGNED.value

    class Accepted(Event):
        TOPIC = "anju:Grievance.Accepted"

        def apply(self, case: Grievance) -> None:
            case.status = Status.IN_PROGRESS.value
            if case.accepted_at is None:
                case.accepted_at = self.timestamp

    class Declined(Event):
        TOPIC = "anju:Grievance.Declined"
        reason: str

        def apply(self, case: Grievance) -> None:
            case.assignee_id = None
            case.status = Status.FILED.value

    class Noted(Event):
        TOPIC = "anju:Grievance.Noted"
        text: str

    class Escalated(Event):
        TOPIC = "anju:Grievance.Escalated"
        reason: str
        from_level: str
        to_level: str

        def apply(self, case: Grievance) -> None:
            case.level = self.to_level
            case.assignee_id = None
            case.status = Status.FILED.value

    class AutoEscalated(Escalated):
        """Escalated by the deadline watcher: open too long past the resolve deadline."""

        TOPIC = "anju:Grievance.AutoEscalated"
        resolve_by: datetime
        overdue_since: datetime
        policy_version: str

        def apply(self, case: Grievance) -> None:
            super().apply(case)
            case.auto_escalated_for = self.resolve_by

    class DeadlinePassed(Event):
        """A respond or resolve deadline passed while the case was open (recorded once)."""

        TOPIC = "anju:Grievance.DeadlinePassed"
        deadline: str
        due_at: datetime
        overdue_since: datetime

        def apply(self, case: Grievance) -> None:
            case.missed_recorded.append((self.deadline, self.due_at))

    class Extended(Event):
        TOPIC = "anju:Grievance.Extended"
        days: int
        reason: str
        resolve_by: datetime

        def apply(self, case: Grievance) -> None:
            case.extended = True
            case.resolve_by = self.resolve_by

    class Urged(Event):
        TOPIC = "anju:Grievance.Urged"
        note: str

    class Resolved(Event):
        TOPIC = "anju:Grievance.Resolved"
        resolution: str
        outcome: str

        def apply(self, case: Grievance) -> None:
            case.status = Status.RESOLVED.value
            case.resolution = self.resolution
            case.outcome = self.outcome
            case.resolved_at = self.timestamp
            if self.actor not in case.resolvers:
                case.resolvers.append(self.actor)

    class FeedbackLinkIssued(Event):
        """A one-time link for the resident's answer: known by the hash of its token only."""

        TOPIC = "anju:Grievance.FeedbackLinkIssued"
        token_hash: str
        expires_at: datetime

        def apply(self, case: Grievance) -> None:
            case.feedback_links[self.token_hash] = self.expires_at

    class FeedbackGiven(Event):
        TOPIC = "anju:Grievance.FeedbackGiven"
        rating: str
        solved: bool
        comment: str | None
        reopened: bool
        # Added later: feedback recorded before carries neither and came by callback.
        via: str = FeedbackVia.CALLBACK.value
        link_hash: str | None = None

        def apply(self, case: Grievance) -> None:
            case.last_rating = self.rating
            case.last_feedback_via = self.via
            case.feedback_links.clear()  # one answer per resolution: every link is spent
            if self.reopened:
                case.status = Status.IN_PROGRESS.value
                case.reopen_count += 1
                case.resolved_at = None
                case.open_since = self.timestamp
            else:
                case.status = Status.CLOSED.value

    class Closed(Event):
        TOPIC = "anju:Grievance.Closed"
        note: str

        def apply(self, case: Grievance) -> None:
            case.status = Status.CLOSED.value
            case.feedback_links.clear()

    class Withdrawn(Event):
        TOPIC = "anju:Grievance.Withdrawn"
        reason: str

        def apply(self, case: Grievance) -> None:
            case.status = Status.WITHDRAWN.value

    class Merged(Event):
        TOPIC = "anju:Grievance.Merged"
        into: str

        def apply(self, case: Grievance) -> None:
            case.status = Status.MERGED.value
            case.merged_into = self.into

    household_id: str
    community_id: str
    grid_id: str
    category: str
    urgency: str
    channel: str
    summary: str
    description: str | None
    received_at: datetime
    visit_id: str | None
    parties: str | None
    respond_by: datetime
    resolve_by: datetime
    policy_version: str
    status: str
    level: str
    assignee_id: str | None
    extended: bool
    accepted_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    outcome: str | None
    reopen_count: int
    last_rating: str | None
    merged_into: str | None
    open_since: datetime
    missed: list[MissedDeadline]
    missed_recorded: list[tuple[str, datetime]]
    auto_escalated_for: datetime | None
    # Everyone who resolved the case, and its feedback links: token hash -> expiry.
    resolvers: list[str]
    feedback_links: dict[str, datetime]
    last_feedback_via: str | None

    @classmethod
    def file(
        cls,
        *,
        grievance_id: UUID,
        household_id: str,
        community_id: str,
        grid_id: str,
        category: str,
        urgency: str,
        channel: str,
        summary: str,
        description: str | None,
        received_at: datetime,
        visit_id: str | None,
        parties: str | None,
        deadlines: Deadlines,
        actor: str,
        now: datetime,
    ) -> Grievance:
        check_received_at(received_at, now)
        return cls._create(
            cls.Filed,
            id=grievance_id,
            household_id=household_id,
            community_id=community_id,
            grid_id=grid_id,
            category=one_of(Category, category, "category").value,
            urgency=one_of(Urgency, urgency, "urgency").value,
            channel=one_of(IntakeChannel, channel, "channel").value,
            summary=require_text(summary, "summary", 500),
            description=optional_text(description, "description"),
            received_at=received_at,
            visit_id=visit_id,
            parties=parties,
            respond_by=deadlines.respond_by,
            resolve_by=deadlines.resolve_by,
            policy_version=deadlines.policy_version,
            actor=actor,
            timestamp=now,
        )

    # -- checks ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def check_status(self, *allowed: Status, action: str) -> None:
        if self.status not in allowed:
            wanted = " or ".join(status.value for status in allowed)
            raise StateConflict(
                f"cannot {action} a case that is {self.status} (must be {wanted})",
                state=self.status,
            )

    def check_is_open(self, action: str) -> None:
        self.check_status(*OPEN_STATUSES, action=action)

    def check_assignee(self, actor: str, action: str) -> None:
        if actor != self.assignee_id:
            raise NotPermitted(f"only the assignee may {action} this case")

    # -- deadlines --------------------------------------------------------------

    def missed_before(self, moment: datetime) -> list[MissedDeadline]:
        """Deadlines first found passed, with the case open, just before ``moment``."""
        if not self.is_open:
            return []
        passed = []
        if self.accepted_at is None and self.respond_by < moment:
            passed.append(MissedDeadline(RESPOND, self.respond_by, self.respond_by))
        if self.resolve_by < moment:
            since = max(self.resolve_by, self.open_since)
            passed.append(MissedDeadline(RESOLVE, self.resolve_by, since))
        known = {missed.key for missed in self.missed}
        return [missed for missed in passed if missed.key not in known]

    def missed_by(self, now: datetime) -> list[MissedDeadline]:
        """Every deadline missed up to ``now``, in the order they passed."""
        return [*self.missed, *self.missed_before(now)]

    def record_missed_deadlines(self, *, actor: str, now: datetime) -> int:
        """Record each missed deadline not yet recorded, exactly once; how many."""
        recorded = set(self.missed_recorded)
        fresh = [missed for missed in self.missed_by(now) if missed.key not in recorded]
        for missed in fresh:
            self.record(
                self.DeadlinePassed,
                deadline=missed.deadline,
                due_at=missed.due_at,
                overdue_since=missed.since,
                actor=actor,
                now=now,
            )
        return len(fresh)

    def escalate_if_overdue(
        self, *, after: timedelta, policy_version: str, actor: str, now: datetime
    ) -> bool:
        """Go up one level when open more than ``after`` past the resolve deadline (once per deadline)."""
        overdue = self._resolve_overdue(now)
        to_level = Level(self.level).next_up()
        if overdue is None or to_level is None or self.auto_escalated_for == self.resolve_by:
            return False
        if now <= overdue.since + after:
            return False
        days = (now - overdue.since) // timedelta(days=1)
        self.record(
            self.AutoEscalated,
            reason=f"办理超期{days}天，自动上报 (resolve deadline missed by {days} days)",
            from_level=self.level,
            to_level=to_level.value,
            resolve_by=self.resolve_by,
            overdue_since=overdue.since,
            policy_version=policy_version,
            actor=actor,
            now=now,
        )
        return True

    def wakes_at(self, now: datetime, after: timedelta) -> datetime | None:
        """The next moment a deadline can pass with no new event; ``None`` if none can.

        A deadline passes strictly after its moment, so a moment equal to ``now``
        still lies ahead of this round.
        """
        if not self.is_open:
            return None
        moments = [self.respond_by, self.resolve_by]
        overdue = self._resolve_overdue(now)
        if overdue is not None:
            moments.append(overdue.since + after)
        later = [moment for moment in moments if moment >= now]
        return min(later, default=None)

    def _resolve_overdue(self, now: datetime) -> MissedDeadline | None:
        if not self.is_open:
            return None
        for missed in self.missed_by(now):
            if missed.key == (RESOLVE, self.resolve_by):
                return missed
        return None

    # -- commands -------------------------------------------------------------

    def assign(self, *, assignee_id: str, note: str | None, actor: str, now: datetime) -> None:
        self.check_status(Status.FILED, action="assign")
        self.record(
            self.Assigned,
            assignee_id=assignee_id,
            note=optional_text(note, "note"),
            actor=actor,
            now=now,
        )

    def accept(self, *, actor: str, now: datetime) -> None:
        self.check_status(Status.ASSIGNED, action="accept")
        self.check_assignee(actor, "accept")
        self.record(self.Accepted, actor=actor, now=now)

    def decline(self, *, reason: str, actor: str, now: datetime) -> None:
        self.check_status(Status.ASSIGNED, action="decline")
        self.check_assignee(actor, "decline")
        self.record(
            self.Declined, reason=require_text(reason, "reason", 2000), actor=actor, now=now
        )

    def note(self, *, text: str, actor: str, now: datetime) -> None:
        self.check_is_open("add a note to")
        self.record(self.Noted, text=require_text(text, "text"), actor=actor, now=now)

    def escalate(self, *, reason: str, actor: str, now: datetime) -> None:
        self.check_is_open("escalate")
        to_level = Level(self.level).next_up()
        if to_level is None:
            raise StateConflict("the case is already at county level", state=self.status)
        self.record(
            self.Escalated,
            reason=require_text(reason, "reason", 2000),
            from_level=self.level,
            to_level=to_level.value,
            actor=actor,
            now=now,
        )

    def extend(self, *, days: int, reason: str, actor: str, now: datetime) -> None:
        self.check_is_open("extend")
        if self.extended:
            raise StateConflict("the deadline has already been extended once", state=self.status)
        require_count(days, "days", 1, MAX_EXTENSION_DAYS)
        self.record(
            self.Extended,
            days=days,
            reason=require_text(reason, "reason", 2000),
            resolve_by=self.resolve_by + timedelta(days=days),
            actor=actor,
            now=now,
        )

    def urge(self, *, note: str, actor: str, now: datetime) -> None:
        self.check_is_open("urge")
        self.record(self.Urged, note=require_text(note, "note"), actor=actor, now=now)

    def resolve(self, *, resolution: str, outcome: str, actor: str, now: datetime) -> None:
        self.check_status(Status.IN_PROGRESS, action="resolve")
        self.record(
            self.Resolved,
            resolution=require_text(resolution, "resolution"),
            outcome=one_of(Outcome, outcome, "outcome").value,
            actor=actor,
            now=now,
        )

    def check_not_judged(self, actor: str) -> None:
        """Feedback is never recorded by the person being judged: assignee or resolver."""
        if actor == self.assignee_id or actor in self.resolvers:
            raise NotPermitted(
                "whoever worked this case may not record its feedback; "
                "a supervisor or another cadre makes the callback"
            )

    def link_usable(self, token_hash: str, now: datetime) -> bool:
        """Whether a feedback link may still answer: issued, unspent, unexpired, case resolved."""
        expires_at = self.feedback_links.get(token_hash)
        return self.status == Status.RESOLVED and expires_at is not None and now < expires_at

    def issue_feedback_link(
        self, *, token_hash: str, expires_at: datetime, actor: str, now: datetime
    ) -> None:
        self.check_status(Status.RESOLVED, action="issue a feedback link for")
        require_aware(expires_at, "expires_at")
        if expires_at <= now:
            raise InvalidCommand("a feedback link must expire later", field="expires_at")
        self.record(
            self.FeedbackLinkIssued,
            token_hash=require_text(token_hash, "token_hash", 200),
            expires_at=expires_at,
            actor=actor,
            now=now,
        )

    def give_feedback(
        self,
        *,
        rating: str,
        solved: bool,
        comment: str | None,
        actor: str,
        now: datetime,
        via: str = FeedbackVia.CALLBACK.value,
        link_hash: str | None = None,
    ) -> None:
        """The resident's verdict: unsatisfied reopens the case, anything else closes it.

        By callback, the recorder must not be the cadre being judged; by resident
        link, the link must be usable, and answering spends it.
        """
        self.check_status(Status.RESOLVED, action="give feedback on")
        the_via = one_of(FeedbackVia, via, "via")
        if the_via is FeedbackVia.CALLBACK:
            self.check_not_judged(actor)
            link_hash = None
        elif link_hash is None or not self.link_usable(link_hash, now):
            raise StateConflict("the feedback link is used or expired", state=self.status)
        the_rating = one_of(Rating, rating, "rating")
        self.record(
            self.FeedbackGiven,
            rating=the_rating.value,
            solved=solved,
            comment=optional_text(comment, "comment"),
            reopened=the_rating is Rating.UNSATISFIED,
            via=the_via.value,
            link_hash=link_hash,
            actor=actor,
            now=now,
        )

    def close(self, *, note: str, actor: str, now: datetime) -> None:
        self.check_status(Status.RESOLVED, action="close")
        self.record(self.Closed, note=require_text(note, "note"), actor=actor, now=now)

    def withdraw(self, *, reason: str, actor: str, now: datetime) -> None:
        self.check_is_open("withdraw")
        self.record(
            self.Withdrawn, reason=require_text(reason, "reason", 2000), actor=actor, now=now
        )

    def merge_into(self, *, into: str, actor: str, now: datetime) -> None:
        self.check_is_open("merge")
        if into == str(self.id):
            raise InvalidCommand("a case cannot be merged into itself", field="into")
        self.record(self.Merged, into=into, actor=actor, now=now)


class FeedbackLink(CaseRecord):
    """Finds the case a resident's one-time link answers, by the hash of its token.

    Its ID derives from that hash (like an access token's), so opening a link is
    one lookup; whether the link is still usable is the case's to say.
    """

    TOPIC = "anju:FeedbackLink"

    class Event(CaseRecord.Event):
        pass

    class Issued(Event, Aggregate.Created):
        TOPIC = "anju:FeedbackLink.Issued"
        grievance_id: str

        def apply(self, link: FeedbackLink) -> None:
            link.grievance_id = self.grievance_id

    Created = Issued

    def __init__(self) -> None:
        """State comes from the creation event's ``apply``."""

    grievance_id: str

    @classmethod
    def issue(cls, *, link_id: UUID, grievance_id: str, actor: str, now: datetime) -> FeedbackLink:
        require_aware(now, "now")
        return cls._create(
            cls.Issued, id=link_id, grievance_id=grievance_id, actor=actor, timestamp=now
        )


def check_received_at(received_at: datetime, now: datetime) -> None:
    require_aware(now, "now")
    require_plausible_moment(received_at, "received_at", now)
    if received_at > now:
        raise InvalidCommand("received_at cannot be in the future", field="received_at")
