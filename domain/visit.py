"""A visit (走访) by a cadre to a household: amended or voided, never deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand, StateConflict
from domain.record import (
    CaseRecord,
    optional_text,
    require_aware,
    require_plausible_moment,
    require_text,
)
from domain.vocabulary import VisitChannel, VisitPurpose, one_of

# A visit recorded more than this long after it happened is late-logged (补录).
LATE_LOGGING_THRESHOLD = timedelta(hours=48)


class Visit(CaseRecord):
    TOPIC = "anju:Visit"

    class Event(CaseRecord.Event):
        pass

    class Logged(Event, Aggregate.Created):
        TOPIC = "anju:Visit.Logged"
        household_id: str
        visitor_id: str
        visited_at: datetime
        channel: str
        purpose: str
        notes: str
        life_event_id: str | None
        grievance_id: str | None
        late_logged: bool

        def apply(self, visit: Visit) -> None:
            visit.household_id = self.household_id
            visit.visitor_id = self.visitor_id
            visit.visited_at = self.visited_at
            visit.channel = self.channel
            visit.purpose = self.purpose
            visit.notes = self.notes
            visit.life_event_id = self.life_event_id
            visit.grievance_id = self.grievance_id
            visit.late_logged = self.late_logged
            visit.voided = False
            visit.void_reason = None

    Created = Logged

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    class Amended(Event):
        TOPIC = "anju:Visit.Amended"
        notes: str
        reason: str

        def apply(self, visit: Visit) -> None:
            visit.notes = self.notes

    class Voided(Event):
        TOPIC = "anju:Visit.Voided"
        reason: str

        def apply(self, visit: Visit) -> None:
            visit.voided = True
            visit.void_reason = self.reason

    household_id: str
    visitor_id: str
    visited_at: datetime
    channel: str
    purpose: str
    notes: str
    life_event_id: str | None
    grievance_id: str | None
    late_logged: bool
    voided: bool
    void_reason: str | None

    @classmethod
    def log(
        cls,
        *,
        visit_id: UUID,
        household_id: str,
        visited_at: datetime,
        channel: str,
        purpose: str,
        notes: str,
        life_event_id: str | None,
        grievance_id: str | None,
        actor: str,
        now: datetime,
    ) -> Visit:
        require_aware(now, "now")
        require_plausible_moment(visited_at, "visited_at", now)
        if visited_at > now:
            raise InvalidCommand("visited_at cannot be in the future", field="visited_at")
        return cls._create(
            cls.Logged,
            id=visit_id,
            household_id=household_id,
            visitor_id=actor,
            visited_at=visited_at,
            channel=one_of(VisitChannel, channel, "channel").value,
            purpose=one_of(VisitPurpose, purpose, "purpose").value,
            notes=optional_text(notes, "notes") or "",
            life_event_id=life_event_id,
            grievance_id=grievance_id,
            late_logged=now - visited_at > LATE_LOGGING_THRESHOLD,
            actor=actor,
            timestamp=now,
        )

    @property
    def recorded_at(self) -> datetime:
        return self.created_on

    @property
    def counts(self) -> bool:
        """Any visit not voided counts toward cadence and quota, whatever its channel."""
        return not self.voided

    @property
    def satisfies_mandatory_visit(self) -> bool:
        return not self.voided and self.channel == VisitChannel.IN_PERSON

    def amend(self, *, notes: str, reason: str, actor: str, now: datetime) -> None:
        self.check_not_voided()
        self.record(
            self.Amended,
            notes=require_text(notes, "notes"),
            reason=require_text(reason, "reason", 2000),
            actor=actor,
            now=now,
        )

    def void(self, *, reason: str, actor: str, now: datetime) -> None:
        self.check_not_voided()
        self.record(self.Voided, reason=require_text(reason, "reason", 2000), actor=actor, now=now)

    def check_not_voided(self) -> None:
        if self.voided:
            raise StateConflict("the visit is voided", state="voided")
