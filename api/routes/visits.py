"""Visits: logged by the caller, amended or voided with a reason, never deleted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import CurrentActor
from api.http import committed, expected_version, located, tagged
from api.paging import (
    AsOf,
    ConsistentWith,
    Cursor,
    Limit,
    Moment,
    Page,
    QueryId,
    check_caseworker,
    check_household,
)
from api.schemas import Reason, VisitAmend, VisitLog
from api.state import Services
from application.history import HistoryEntry
from application.visits import VisitView

router = APIRouter(prefix="/v1/visits", tags=["visits"])
IfMatch = Annotated[int | None, Depends(expected_version)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=VisitView)
def log_visit(
    body: VisitLog, actor: CurrentActor, services: Services, response: Response
) -> VisitView:
    """Log a visit made by the caller. Visits in the future are refused."""
    view, position = services.visits.log(
        actor,
        household_id=body.household_id,
        visited_at=body.visited_at,
        channel=body.channel.value,
        purpose=body.purpose.value,
        notes=body.notes,
        life_event_id=body.life_event_id,
        grievance_id=body.grievance_id,
    )
    located(response, "visits", view.id)
    return committed(response, view, position)


@router.get("", response_model=Page[VisitView])
def list_visits(
    actor: CurrentActor,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    consistent_with: ConsistentWith = None,
    household_id: QueryId = None,
    cadre_id: QueryId = None,
    visited_from: Annotated[Moment | None, Query(alias="from")] = None,
    visited_to: Annotated[Moment | None, Query(alias="to")] = None,
) -> Page[VisitView]:
    """Visits in your jurisdiction, newest first."""
    check_household(services, actor, household_id)
    check_caseworker(services, cadre_id, "cadre_id")
    services.projections.settle(consistent_with)
    items, next_cursor = services.visits.search(
        actor,
        household_id=household_id,
        cadre_id=cadre_id,
        visited_from=visited_from,
        visited_to=visited_to,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{visit_id}", response_model=VisitView)
def get_visit(
    visit_id: str,
    actor: CurrentActor,
    services: Services,
    response: Response,
    as_of: AsOf = None,
) -> VisitView:
    """The visit now, or with `as_of` as the record stood at that moment."""
    return tagged(response, services.visits.get(actor, visit_id, as_of=as_of))


@router.get("/{visit_id}/history", response_model=list[HistoryEntry])
def visit_history(visit_id: str, actor: CurrentActor, services: Services) -> list[HistoryEntry]:
    """Every event of the visit, oldest first, with actor and recorded time."""
    return services.visits.events(actor, visit_id)


@router.post("/{visit_id}/amend", response_model=VisitView)
def amend_visit(
    visit_id: str,
    body: VisitAmend,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> VisitView:
    """Correct a visit's notes, giving the reason."""
    view, position = services.visits.amend(
        actor, visit_id, notes=body.notes, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{visit_id}/void", response_model=VisitView)
def void_visit(
    visit_id: str,
    body: Reason,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> VisitView:
    """Void a visit, giving the reason; it then counts for nothing."""
    view, position = services.visits.void(
        actor, visit_id, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)
