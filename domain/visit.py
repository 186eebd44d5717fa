"""A visit (走访) by a cadre to a household: amended or voided, never deleted."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta, tzinfo
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
        the_channel = one_of(VisitChannel, channel, "channel")
        the_purpose = one_of(VisitPurpose, purpose, "purpose")
        if the_purpose is VisitPurpose.MANDATORY and not life_event_id:
            raise InvalidCommand(
                "a mandatory visit names the life_event_id it answers", field="life_event_id"
            )
        return cls._create(
            cls.Logged,
            id=visit_id,
            household_id=household_id,
            visitor_id=actor,
            visited_at=visited_at,
            channel=the_channel.value,
            purpose=the_purpose.value,
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

    def counts_toward(self, channels: Collection[str]) -> bool:
        """Whether the visit counts toward a rule (cadence, weekly quota) counting ``channels``."""
        return counts_toward(self.channel, self.voided, channels)

    def discharges(self, life_event_id: str, occurred_on: date, zone: tzinfo) -> bool:
        """Whether the visit discharges the mandatory visit (五访) of a life event."""
        return discharges_mandatory_visit(
            channel=self.channel,
            purpose=self.purpose,
            named=self.life_event_id,
            voided=self.voided,
            visited_on=self.visited_at.astimezone(zone).date(),
            life_event_id=life_event_id,
            occurred_on=occurred_on,
        )

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


def counts_toward(channel: str, voided: bool, channels: Collection[str]) -> bool:
    """A visit counts toward a rule when it is not voided and its channel is one the rule
    counts: which channels count for the cadence and for the weekly quota is policy data."""
    return not voided and channel in channels


def discharges_mandatory_visit(
    *,
    channel: str,
    purpose: str,
    named: str | None,
    voided: bool,
    visited_on: date,
    life_event_id: str,
    occurred_on: date,
) -> bool:
    """A mandatory visit (五访) is discharged only by an in-person visit, not voided, made
    because of the life event: purpose ``mandatory``, naming it, on or after the day it
    occurred (local days). A routine visit that happens to come later does not."""
    return (
        not voided
        and channel == VisitChannel.IN_PERSON
        and purpose == VisitPurpose.MANDATORY
        and named == life_event_id
        and visited_on >= occurred_on
    )
