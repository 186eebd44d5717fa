"""Grievances: filing, and each step of the case's lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from api.auth import CurrentActor
from api.http import committed, expected_version, located, tagged
from api.paging import (
    AsOf,
    ConsistentWith,
    Cursor,
    Limit,
    Page,
    QueryId,
    check_caseworker,
    check_household,
    check_place,
)
from api.schemas import (
    CloseNote,
    Empty,
    Extension,
    Feedback,
    GrievanceAssign,
    GrievanceFile,
    MergeInto,
    NoteText,
    Reason,
    Resolution,
    Urge,
)
from api.state import Services
from application.grievances import FeedbackLinkView, GrievanceView
from application.history import HistoryEntry
from domain.vocabulary import Category, GrievanceStatus

router = APIRouter(prefix="/v1/grievances", tags=["grievances"])
IfMatch = Annotated[int | None, Depends(expected_version)]
Answer = GrievanceView


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GrievanceView)
def file_grievance(
    body: GrievanceFile, actor: CurrentActor, services: Services, response: Response
) -> Answer:
    """File a grievance. Deadlines count from `received_at` (default: now)."""
    view, position = services.grievances.file(
        actor,
        household_id=body.household_id,
        category=body.category.value,
        urgency=body.urgency.value,
        channel=body.channel.value,
        summary=body.summary,
        description=body.description,
        received_at=body.received_at,
        visit_id=body.visit_id,
        parties=body.parties,
    )
    located(response, "grievances", view.id)
    return committed(response, view, position)


@router.get("", response_model=Page[GrievanceView])
def list_grievances(
    actor: CurrentActor,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    consistent_with: ConsistentWith = None,
    status: GrievanceStatus | None = None,
    category: Category | None = None,
    community_id: QueryId = None,
    assignee_id: QueryId = None,
    household_id: QueryId = None,
    overdue: bool | None = None,
) -> Page[GrievanceView]:
    """Cases in your jurisdiction, soonest resolve deadline first."""
    check_place(services, actor, community_id, None)
    check_caseworker(services, assignee_id, "assignee_id")
    check_household(services, actor, household_id)
    services.projections.settle(consistent_with)
    items, next_cursor = services.grievances.search(
        actor,
        status=status.value if status else None,
        category=category.value if category else None,
        community_id=community_id,
        assignee_id=assignee_id,
        household_id=household_id,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{grievance_id}", response_model=GrievanceView)
def get_grievance(
    grievance_id: str,
    actor: CurrentActor,
    services: Services,
    response: Response,
    as_of: AsOf = None,
) -> GrievanceView:
    """The grievance now, or with `as_of` as the record stood at that moment."""
    return tagged(response, services.grievances.get(actor, grievance_id, as_of=as_of))


@router.get("/{grievance_id}/history", response_model=list[HistoryEntry])
def grievance_history(
    grievance_id: str, actor: CurrentActor, services: Services
) -> list[HistoryEntry]:
    """Every event of the grievance, oldest first, with actor and recorded time."""
    return services.grievances.events(actor, grievance_id)


@router.post("/{grievance_id}/assign", response_model=GrievanceView)
def assign(
    grievance_id: str,
    body: GrievanceAssign,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """filed → assigned (supervisor): dispatch the case to a cadre (支部下单)."""
    view, position = services.grievances.assign(
        actor, grievance_id, assignee_id=body.assignee_id, note=body.note, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/accept", response_model=GrievanceView)
def accept(
    grievance_id: str,
    body: Empty,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """assigned → in_progress (the assignee takes it: 党员接单)."""
    view, position = services.grievances.accept(actor, grievance_id, expected_version=version)
    return committed(response, view, position)


@router.post("/{grievance_id}/decline", response_model=GrievanceView)
def decline(
    grievance_id: str,
    body: Reason,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """assigned → filed (the assignee hands it back: 退单), with a reason."""
    view, position = services.grievances.decline(
        actor, grievance_id, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/note", response_model=GrievanceView)
def note(
    grievance_id: str,
    body: NoteText,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """Add a note to an open case; its state is unchanged."""
    view, position = services.grievances.note(
        actor, grievance_id, text=body.text, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/escalate", response_model=GrievanceView)
def escalate(
    grievance_id: str,
    body: Reason,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """Send an open case up one level, back to filed there."""
    view, position = services.grievances.escalate(
        actor, grievance_id, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/extend", response_model=GrievanceView)
def extend(
    grievance_id: str,
    body: Extension,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """Extend the resolve deadline once, by at most 30 days (supervisor)."""
    view, position = services.grievances.extend(
        actor, grievance_id, days=body.days, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/urge", response_model=GrievanceView)
def urge(
    grievance_id: str,
    body: Urge,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """Record a supervisor's push (督办) on an open case."""
    view, position = services.grievances.urge(
        actor, grievance_id, note=body.note, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/resolve", response_model=GrievanceView)
def resolve(
    grievance_id: str,
    body: Resolution,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """in_progress → resolved, with the resolution and its outcome."""
    view, position = services.grievances.resolve(
        actor,
        grievance_id,
        resolution=body.resolution,
        outcome=body.outcome.value,
        expected_version=version,
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/feedback", response_model=GrievanceView)
def feedback(
    grievance_id: str,
    body: Feedback,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """The resident's verdict: closes the case, or reopens it when unsatisfied."""
    view, position = services.grievances.give_feedback(
        actor,
        grievance_id,
        rating=body.rating.value,
        solved=body.solved,
        comment=body.comment,
        expected_version=version,
    )
    return committed(response, view, position)


@router.post(
    "/{grievance_id}/feedback-link",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackLinkView,
)
def feedback_link(
    grievance_id: str,
    actor: CurrentActor,
    services: Services,
    request: Request,
    response: Response,
    version: IfMatch,
    body: Empty | None = None,
) -> FeedbackLinkView:
    """A one-time link (SMS, QR code) where the resident of a resolved case answers the callback.

    The link is shown once and expires; opening it needs no account.
    """
    link, position = services.grievances.issue_feedback_link(
        actor, grievance_id, expected_version=version
    )
    url = str(request.base_url).rstrip("/") + link.url
    response.headers["Location"] = link.url
    response.headers["Log-Position"] = str(position)
    response.headers["Cache-Control"] = "no-store"
    return FeedbackLinkView(url=url, expires_at=link.expires_at)


@router.post("/{grievance_id}/close", response_model=GrievanceView)
def close(
    grievance_id: str,
    body: CloseNote,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """resolved → closed without feedback (supervisor)."""
    view, position = services.grievances.close(
        actor, grievance_id, note=body.note, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/withdraw", response_model=GrievanceView)
def withdraw(
    grievance_id: str,
    body: Reason,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """The resident withdraws an open case (terminal)."""
    view, position = services.grievances.withdraw(
        actor, grievance_id, reason=body.reason, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{grievance_id}/merge", response_model=GrievanceView)
def merge(
    grievance_id: str,
    body: MergeInto,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> Answer:
    """Merge an open case into its duplicate (supervisor; terminal)."""
    view, position = services.grievances.merge(
        actor, grievance_id, into=body.into, expected_version=version
    )
    return committed(response, view, position)
