"""Response models of the reports ; figures are defined in the README."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


def unfolded() -> Any:
    return Field(
        description="events the read models behind this report could not fold (0 normally);"
        " see README, 'Events a read model cannot fold'"
    )


class WorkloadRow(BaseModel):
    cadre_id: str
    username: str
    display_name: str
    community_id: str | None
    grid_id: str | None
    visits: int = Field(description="visits this week, not voided, by any channel")
    households_visited: int = Field(
        description="distinct households visited this week by the channels the weekly quota"
        " counts (in person unless the criteria version says otherwise)"
    )
    weekly_quota: int
    quota_met: bool = Field(description="households_visited reached the weekly quota")
    households_linked: int
    households_due: int
    mandatory_pending: int
    mandatory_overdue: int
    grievances_open: int
    grievances_overdue: int


class Workload(BaseModel):
    week: str
    items: list[WorkloadRow]
    unfolded_events: int = unfolded()


class OverdueHousehold(BaseModel):
    household_id: str
    community_id: str
    grid_id: str
    contact_cadre_id: str | None
    last_visited_at: str | None
    days_since: int


class PendingMandatory(BaseModel):
    household_id: str
    life_event_id: str
    kind: str
    occurred_on: str
    visit_due_by: str
    overdue: bool


class Coverage(BaseModel):
    households_total: int
    visited_within_cadence: int
    households_due: int
    overdue_households: list[OverdueHousehold]
    pending_mandatory: list[PendingMandatory]
    unfolded_events: int = unfolded()


class ResolutionRow(BaseModel):
    group: str
    filed: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_rate: float | None
    reopen_rate: float | None
    median_days_to_resolve: float | None
    open_overdue: int
    extended: int = Field(description="cases whose resolve deadline was extended")
    urged: int = Field(description="cases urged (督办) at least once")
    escalated_for_delay: int = Field(
        description="cases the deadline watcher escalated for missing their resolve deadline"
    )


class Resolution(BaseModel):
    group_by: str
    items: list[ResolutionRow]
    unfolded_events: int = unfolded()


class LateEntry(BaseModel):
    visit_id: str
    household_id: str
    visitor_id: str
    visited_at: str | None = Field(description="null for a time beyond the calendar")
    recorded_at: str | None
    gap_hours: float
    voided: bool


class LateEntries(BaseModel):
    items: list[LateEntry]
    unfolded_events: int = unfolded()


class Star(BaseModel):
    star: str = Field(
        description="visit, quota, mandatory, response, resolution, satisfaction, on_time"
    )
    name: str = Field(description="the star's Chinese name, e.g. 遍访解困星")
    earned: bool
    criterion: str = Field(description="the rule, in words: measure, bound and meaning")
    criterion_version: str = Field(description="the version of the star criteria that judged it")
    measure: str
    at_least: int | float | None
    at_most: int | float | None
    value: int | float | None = Field(description="the cadre's figure; null when nothing to judge")
    figures: dict[str, Any] = Field(description="the counts the value was computed from")


class StarRow(BaseModel):
    cadre_id: str
    username: str
    display_name: str
    community_id: str | None
    grid_id: str | None
    stars_earned: int
    stars: list[Star] = Field(description="the stars earned")
    not_earned: list[Star] = Field(description="the other stars, with why not")


class Stars(BaseModel):
    month: str
    judged_at: str = Field(description="the end of the month, or now while it runs")
    final: bool = Field(description="whether the month is over")
    criteria_version: str
    items: list[StarRow]
    unfolded_events: int = unfolded()
