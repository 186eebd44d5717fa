"""Response models of the reports (API.md, Reports); figures are defined in the README."""

from __future__ import annotations

from pydantic import BaseModel


class WorkloadRow(BaseModel):
    cadre_id: str
    username: str
    display_name: str
    community_id: str | None
    grid_id: str | None
    visits: int
    weekly_quota: int
    households_linked: int
    households_due: int
    mandatory_pending: int
    mandatory_overdue: int
    grievances_open: int
    grievances_overdue: int


class Workload(BaseModel):
    week: str
    items: list[WorkloadRow]


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


class Resolution(BaseModel):
    group_by: str
    items: list[ResolutionRow]


class LateEntry(BaseModel):
    visit_id: str
    household_id: str
    visitor_id: str
    visited_at: str
    recorded_at: str
    gap_hours: float
    voided: bool


class LateEntries(BaseModel):
    items: list[LateEntry]
