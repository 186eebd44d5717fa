"""Star rating (星级管理): each month each cadre earns stars by published criteria.

The criteria are versioned data like the deadline policy. A month is judged by
the version in effect at the moment it is judged (its end, or now while it
runs), so a report as of an earlier moment shows the rules known then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.record import require_aware

# What each measure is, for people reading a star (the figures come from the reports).
MEASURES = {
    "households_due": "linked households past the 90-day visit cadence at the judging moment",
    "weeks_below_quota": "weeks of the month (ISO weeks whose Thursday falls in it) "
    "with fewer visits than the weekly quota",
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


@dataclass(frozen=True)
class StarCriteria:
    version: str
    effective_from: datetime
    weekly_quota: int
    stars: tuple[StarCriterion, ...]


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
