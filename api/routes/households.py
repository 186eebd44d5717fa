"""Households: registration, responsibility, tags, employment, life events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import CurrentActor
from api.http import committed, expected_version, located, tagged
from api.paging import (
    AsOf,
    CleanText,
    ConsistentWith,
    Cursor,
    Limit,
    Page,
    QueryId,
    check_place,
)
from api.schemas import (
    ContactCadreAssign,
    EmploymentRecord,
    Erasure,
    HouseholdMove,
    HouseholdRegister,
    LifeEventReport,
    TagsChange,
)
from api.state import Services
from application.history import HistoryEntry
from application.households import HouseholdView, LifeEventRecorded
from domain.vocabulary import HouseholdTag

router = APIRouter(prefix="/v1/households", tags=["households"])
IfMatch = Annotated[int | None, Depends(expected_version)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HouseholdView)
def register_household(
    body: HouseholdRegister, actor: CurrentActor, services: Services, response: Response
) -> HouseholdView:
    """Register a household; name, phone and ID number are encrypted at once."""
    view, position = services.households.register(
        actor,
        community_id=body.community_id,
        grid_id=body.grid_id,
        head_name=body.head_name,
        member_count=body.member_count,
        phone=body.phone,
        id_number=body.id_number,
        address=body.address.model_dump(),
        origin=body.origin.model_dump(),
        relocated_on=body.relocated_on,
        tags=[tag.value for tag in body.tags],
    )
    located(response, "households", view.id)
    return committed(response, view, position)


@router.get("", response_model=Page[HouseholdView])
def list_households(
    actor: CurrentActor,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    consistent_with: ConsistentWith = None,
    community_id: QueryId = None,
    grid_id: QueryId = None,
    tag: HouseholdTag | None = None,
    zero_employment: bool | None = None,
    q: Annotated[str | None, Query(max_length=100), CleanText] = None,
) -> Page[HouseholdView]:
    """Households in your jurisdiction, filtered."""
    check_place(services, actor, community_id, grid_id)
    services.projections.settle(consistent_with)
    items, next_cursor = services.households.search(
        actor,
        community_id=community_id,
        grid_id=grid_id,
        tag=tag.value if tag else None,
        zero_employment=zero_employment,
        q=q,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{household_id}", response_model=HouseholdView)
def get_household(
    household_id: str,
    actor: CurrentActor,
    services: Services,
    response: Response,
    as_of: AsOf = None,
) -> HouseholdView:
    """The household now, or with `as_of` as the record stood at that moment."""
    return tagged(response, services.households.get(actor, household_id, as_of=as_of))


@router.get("/{household_id}/history", response_model=list[HistoryEntry])
def household_history(
    household_id: str, actor: CurrentActor, services: Services
) -> list[HistoryEntry]:
    """Every event of the household, oldest first, with actor and recorded time."""
    return services.households.events(actor, household_id)


@router.post("/{household_id}/contact-cadre", response_model=HouseholdView)
def assign_contact_cadre(
    household_id: str,
    body: ContactCadreAssign,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> HouseholdView:
    """Make an account the household's contact cadre (联户干部) from now on."""
    view, position = services.households.assign_contact_cadre(
        actor, household_id, cadre_id=body.cadre_id, expected_version=version
    )
    return committed(response, view, position)


@router.post("/{household_id}/move", response_model=HouseholdView)
def move_household(
    household_id: str,
    body: HouseholdMove,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> HouseholdView:
    """Move the household to another grid or address in its community."""
    view, position = services.households.move(
        actor,
        household_id,
        grid_id=body.grid_id,
        address=body.address.model_dump(),
        expected_version=version,
    )
    return committed(response, view, position)


@router.post("/{household_id}/tags", response_model=HouseholdView)
def change_tags(
    household_id: str,
    body: TagsChange,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> HouseholdView:
    """Add and remove situation tags."""
    view, position = services.households.change_tags(
        actor,
        household_id,
        add=[t.value for t in body.add],
        remove=[t.value for t in body.remove],
        expected_version=version,
    )
    return committed(response, view, position)


@router.post("/{household_id}/employment", response_model=HouseholdView)
def record_employment(
    household_id: str,
    body: EmploymentRecord,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> HouseholdView:
    """Record the labour force and how many of them are employed."""
    view, position = services.households.record_employment(
        actor,
        household_id,
        labour_force=body.labour_force,
        employed=body.employed,
        note=body.note,
        expected_version=version,
    )
    return committed(response, view, position)


@router.post(
    "/{household_id}/life-events",
    status_code=status.HTTP_201_CREATED,
    response_model=LifeEventRecorded,
)
def report_life_event(
    household_id: str,
    body: LifeEventReport,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> LifeEventRecorded:
    """Report a life event; it creates a mandatory visit due by `visit_due_by`."""
    recorded, position = services.households.report_life_event(
        actor,
        household_id,
        kind=body.kind.value,
        occurred_on=body.occurred_on,
        note=body.note,
        expected_version=version,
    )
    located(response, "households", household_id)
    response.headers["ETag"] = f'"{recorded.household.version}"'
    response.headers["Log-Position"] = str(position)
    return recorded


@router.post("/{household_id}/erase", response_model=HouseholdView)
def erase_household(
    household_id: str,
    body: Erasure,
    actor: CurrentActor,
    services: Services,
    response: Response,
    version: IfMatch,
) -> HouseholdView:
    """Erase the household's personal data on a lawful request (admin).

    Its key is destroyed: name, phone and ID number become unreadable everywhere
    (`erased: true`, personal fields `null`), while its history and the log stay
    verifiable.
    """
    view, position = services.households.erase(
        actor, household_id, legal_basis=body.legal_basis, expected_version=version
    )
    return committed(response, view, position)
