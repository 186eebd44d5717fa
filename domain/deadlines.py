"""Deadline rules: versioned policies for grievances, and mandatory-visit due dates.

A policy version is data (loaded by the application from a file in the repo);
each grievance records the version that set its deadlines, so a replay shows
the rules of the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from domain.errors import InvalidCommand
from domain.record import require_aware
from domain.vocabulary import LifeEventKind, Urgency

MAX_EXTENSION_DAYS = 30

# 五访: a mandatory visit is overdue after 7 days, 3 for the most pressing events.
MANDATORY_VISIT_DAYS: Mapping[LifeEventKind, int] = {
    LifeEventKind.WEDDING: 7,
    LifeEventKind.FUNERAL: 7,
    LifeEventKind.DISPUTE: 7,
    LifeEventKind.ILLNESS: 3,
    LifeEventKind.DISASTER: 3,
    LifeEventKind.FAMILY_CHANGE: 3,
}


def mandatory_visit_due_by(kind: LifeEventKind, occurred_on: date) -> date:
    """The last day on which the mandatory visit for a life event is on time."""
    return occurred_on + timedelta(days=MANDATORY_VISIT_DAYS[kind])


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The first instant after ``day`` in the county's local time: a due day's deadline."""
    return datetime.combine(day + timedelta(days=1), time(0), zone)


@dataclass(frozen=True)
class Deadlines:
    respond_by: datetime
    resolve_by: datetime
    policy_version: str


@dataclass(frozen=True)
class DeadlinePolicy:
    """How long a case of each urgency has to be accepted and to be resolved."""

    version: str
    effective_from: datetime
    respond_within: Mapping[Urgency, timedelta]
    resolve_within: Mapping[Urgency, timedelta]
    # A case still open this long after its resolve deadline goes up one level by itself.
    escalate_after: timedelta = timedelta(days=3)

    def deadlines_for(self, urgency: Urgency, received_at: datetime) -> Deadlines:
        return Deadlines(
            respond_by=received_at + self.respond_within[urgency],
            resolve_by=received_at + self.resolve_within[urgency],
            policy_version=self.version,
        )


class PolicyBook:
    """Every policy version; a case is governed by the one in effect when it was received."""

    def __init__(self, policies: Iterable[DeadlinePolicy]) -> None:
        self._policies = sorted(policies, key=lambda p: p.effective_from)
        if not self._policies:
            raise ValueError("a policy book needs at least one policy")

    def in_effect_at(self, moment: datetime) -> DeadlinePolicy:
        require_aware(moment, "received_at")
        applicable = [p for p in self._policies if p.effective_from <= moment]
        # A case received before the first policy took effect follows the first one.
        return applicable[-1] if applicable else self._policies[0]

    def version(self, version: str) -> DeadlinePolicy:
        for policy in self._policies:
            if policy.version == version:
                return policy
        raise InvalidCommand(f"no deadline policy version {version}")

    def governing(self, version: str, received_at: datetime) -> DeadlinePolicy:
        """The version a case recorded; the one in effect when it was received if unknown here."""
        try:
            return self.version(version)
        except InvalidCommand:
            return self.in_effect_at(received_at)

    @property
    def versions(self) -> list[DeadlinePolicy]:
        return list(self._policies)
