"""Star rating (星级管理): each month each cadre earns stars by published criteria.

The criteria are versioned data like the deadline policy. A month is judged by
the version in effect at the moment it is judged (its end, or now while it
runs), so a report as of an earlier moment shows the rules known then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.record import require_aware
from domain.vocabulary import VisitChannel

# What each measure is, for people reading a star (the figures come from the reports).
MEASURES = {
    "households_due": "linked households past the 90-day visit cadence at the judging moment",
    "weeks_below_quota": "weeks of the month (ISO weeks whose Thursday falls in it) "
    "with fewer distinct households visited, by the channels the quota counts, "
    "than the weekly quota",
    "mandatory_overdue": "mandatory visits that fell due in the month and were overdue",
    "response_rate": "response rate of the cases received in the month",
    "resolution_rate": "resolution rate of the cases received in the month",
    "satisfaction_rate": "satisfaction rate of the cases received in the month",
    "on_time_rate": "on-time close rate of the cases received in the month",
}


@dataclass(frozen=True)
class StarCriterion:
    star: str
    name: str
    measure: str
    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown star measure {self.measure}")
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"star {self.star} needs exactly one of at_least and at_most")

    def earned(self, value: float | None) -> bool:
        """A star needs something to judge: no figure (nothing to divide by) earns nothing."""
        if value is None:
            return False
        if self.at_least is not None:
            return value >= self.at_least
        return value <= self.at_most  # type: ignore[operator]

    @property
    def text(self) -> str:
        bound = f">= {self.at_least}" if self.at_least is not None else f"<= {self.at_most}"
        return f"{self.measure} {bound}: {MEASURES[self.measure]}"


# What a version that does not say counts: the weekly quota counts
# households visited in person (上门走访); the 90-day cadence counts any channel.
QUOTA_CHANNELS = frozenset({VisitChannel.IN_PERSON.value})
CADENCE_CHANNELS = frozenset(channel.value for channel in VisitChannel)
CADENCE_DAYS = 90


@dataclass(frozen=True)
class StarCriteria:
    """One version of the criteria, with the visiting rules they judge by: the weekly quota
    (distinct households visited in an ISO week by the channels it counts) and the cadence
    (days a household may go without a visit by the channels it counts)."""

    version: str
    effective_from: datetime
    weekly_quota: int
    stars: tuple[StarCriterion, ...]
    quota_channels: frozenset[str] = QUOTA_CHANNELS
    cadence_days: int = CADENCE_DAYS
    cadence_channels: frozenset[str] = CADENCE_CHANNELS

    def __post_init__(self) -> None:
        known = {channel.value for channel in VisitChannel}
        for channels in (self.quota_channels, self.cadence_channels):
            if not channels or not channels <= known:
                raise ValueError(f"criteria {self.version}: channels must be some of {known}")
        if self.cadence_days <= 0:
            raise ValueError(f"criteria {self.version}: cadence_days must be positive")

    @property
    def cadence(self) -> timedelta:
        return timedelta(days=self.cadence_days)


class StarBook:
    """Every version of the star criteria; the one in effect at a moment judges."""

    def __init__(self, versions: Iterable[StarCriteria]) -> None:
        self._versions = sorted(versions, key=lambda v: v.effective_from)
        if not self._versions:
            raise ValueError("star criteria need at least one version")

    def in_effect_at(self, moment: datetime) -> StarCriteria:
        require_aware(moment, "moment")
        applicable = [v for v in self._versions if v.effective_from <= moment]
        return applicable[-1] if applicable else self._versions[0]

    @property
    def versions(self) -> list[StarCriteria]:
        return list(self._versions)
