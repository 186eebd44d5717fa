"""Reports and the grievance ledger, answered by the read models."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from api.auth import CurrentActor
from api.paging import AsOf, CleanId, ConsistentWith, Day, Month, Week, check_place
from api.report_schemas import Coverage, LateEntries, Resolution, Stars, Workload
from api.state import Services
from application.ledger import Ledger
from application.reports import Reports
from domain.vocabulary import FeedbackVia

router = APIRouter(tags=["reports"])

Community = Annotated[
    str | None,
    Query(max_length=100, description="One community (default: your jurisdiction)"),
    CleanId,
]
Grid = Annotated[
    str | None, Query(max_length=100, description="One grid of the community"), CleanId
]
From = Annotated[Day | None, Query(alias="from", description="First local date, inclusive")]
To = Annotated[Day | None, Query(alias="to", description="Last local date, inclusive")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class GroupBy(StrEnum):
    CATEGORY = "category"
    GRID = "grid"
    COMMUNITY = "community"


class LedgerFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True)
class ReportScope:
    """The query every report shares: where, and which read models answer."""

    reports: Reports
    place: dict[str, str | None]
    headers: dict[str, str]


def report_scope(
    actor: CurrentActor,
    services: Services,
    community_id: Community = None,
    grid_id: Grid = None,
    consistent_with: ConsistentWith = None,
    as_of: AsOf = None,
) -> ReportScope:
    """The live reports once consistent, or reports rebuilt from the log as of a moment."""
    check_place(services, actor, community_id, grid_id)
    place = {"community_id": community_id, "grid_id": grid_id}
    if as_of is not None:
        return ReportScope(services.reports.as_of(as_of), place, {})
    position = services.projections.settle(consistent_with)
    return ReportScope(services.reports, place, {"Read-Model-Position": str(position)})


Scoped = Annotated[ReportScope, Depends(report_scope)]


@router.get("/v1/reports/workload", response_model=Workload)
def workload(
    actor: CurrentActor, scope: Scoped, response: Response, week: Week = None
) -> dict[str, Any]:
    """Per cadre: visits this week against the quota, linked and due households, cases."""
    response.headers.update(scope.headers)
    return scope.reports.workload(actor, week=week, **scope.place)


@router.get("/v1/reports/coverage", response_model=Coverage)
def coverage(actor: CurrentActor, scope: Scoped, response: Response) -> dict[str, Any]:
    """Households visited within the 90-day cadence, overdue ones, pending mandatory visits."""
    response.headers.update(scope.headers)
    return scope.reports.coverage(actor, **scope.place)


@router.get("/v1/reports/resolution", response_model=Resolution)
def resolution(
    actor: CurrentActor,
    scope: Scoped,
    response: Response,
    date_from: From = None,
    date_to: To = None,
    group_by: GroupBy = GroupBy.CATEGORY,
    feedback_via: FeedbackVia | None = None,
) -> dict[str, Any]:
    """The three rates and the other resolution measures, per group.

    `feedback_via=callback|resident_link` cuts the rates read from feedback
    (resolution and satisfaction) to cases whose latest feedback came that way.
    """
    response.headers.update(scope.headers)
    return scope.reports.resolution(
        actor,
        date_from=date_from,
        date_to=date_to,
        group_by=group_by.value,
        feedback_via=feedback_via.value if feedback_via else None,
        **scope.place,
    )


@router.get("/v1/reports/stars", response_model=Stars)
def stars(
    actor: CurrentActor, scope: Scoped, response: Response, month: Month = None
) -> dict[str, Any]:
    """Per cadre: the month's stars earned, each with its criterion, version and figures."""
    response.headers.update(scope.headers)
    return scope.reports.stars(actor, month=month, **scope.place)


@router.get("/v1/policies")
def policies(actor: CurrentActor, services: Services, as_of: AsOf = None) -> dict[str, Any]:
    """The published deadline policy and star criteria in effect now, or at ``as_of``."""
    return services.reports.rules(as_of)


@router.get("/v1/reports/late-entries", response_model=LateEntries)
def late_entries(
    actor: CurrentActor,
    scope: Scoped,
    response: Response,
    date_from: From = None,
    date_to: To = None,
) -> dict[str, Any]:
    """Visits recorded more than 48 hours after they happened, with the gap."""
    response.headers.update(scope.headers)
    return scope.reports.late_entries(actor, date_from=date_from, date_to=date_to, **scope.place)


@router.get(
    "/v1/ledger/grievances",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, XLSX: {}},
            "description": "The ledger: one row per case, Chinese headers",
        }
    },
)
def grievance_ledger(
    actor: CurrentActor,
    scope: Scoped,
    format: LedgerFormat = LedgerFormat.CSV,
    date_from: From = None,
    date_to: To = None,
) -> Response:
    """The grievance ledger (台账) as CSV (UTF-8 with BOM) or XLSX."""
    ledger = scope.reports.ledger(actor, date_from=date_from, date_to=date_to, **scope.place)
    if format is LedgerFormat.XLSX:
        body, media_type = xlsx_of(ledger), XLSX
    else:
        body, media_type = csv_of(ledger), "text/csv; charset=utf-8"
    filename = quote(f"诉求台账.{format.value}")
    disposition = f"attachment; filename=\"ledger.{format.value}\"; filename*=UTF-8''{filename}"
    headers = {
        "Content-Disposition": disposition,
        # A file has no field to say it: events its read models could not fold (README).
        "Anju-Unfolded-Events": str(ledger.unfolded_events),
        **scope.headers,
    }
    return Response(body, media_type=media_type, headers=headers)


def csv_of(ledger: Ledger) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs read the Chinese as such."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(ledger.headers)
    writer.writerows(ledger.rows)
    return "\ufeff".encode() + text.getvalue().encode("utf-8")


def spreadsheet_safe(value: object) -> object:
    """XLSX cannot hold control characters (free text may carry them): they are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def xlsx_of(ledger: Ledger) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("诉求台账")
    sheet.append(ledger.headers)
    for row in ledger.rows:
        sheet.append([spreadsheet_safe(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
