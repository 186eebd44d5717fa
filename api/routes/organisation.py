"""Organisation and accounts (admin), and the caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth import CurrentActor
from api.http import committed, located, tagged
from api.paging import ConsistentWith
from api.schemas import AccountCreate, CommunityCreate, GridCreate
from api.state import Services
from application.organisation import AccountView, CommunityView, IssuedToken

router = APIRouter(prefix="/v1", tags=["organisation"])


@router.post("/communities", status_code=status.HTTP_201_CREATED, response_model=CommunityView)
def found_community(
    body: CommunityCreate, actor: CurrentActor, services: Services, response: Response
) -> CommunityView:
    """Found a community (admin)."""
    view, position = services.organisation.found_community(
        actor, code=body.id, name=body.name, township=body.township, county=body.county
    )
    located(response, "communities", view.id)
    return committed(response, view, position)


@router.post(
    "/communities/{community_id}/grids",
    status_code=status.HTTP_201_CREATED,
    response_model=CommunityView,
)
def add_grid(
    community_id: str,
    body: GridCreate,
    actor: CurrentActor,
    services: Services,
    response: Response,
) -> CommunityView:
    """Add a grid (网格) to a community (admin)."""
    view, position = services.organisation.add_grid(
        actor, community_id, code=body.id, name=body.name
    )
    located(response, "communities", community_id)
    return committed(response, view, position)


@router.get("/communities", response_model=dict[str, list[CommunityView] | str | None])
def list_communities(
    actor: CurrentActor, services: Services, consistent_with: ConsistentWith = None
) -> dict[str, object]:
    """Every community of the county, with its grids."""
    services.projections.settle(consistent_with)
    return {"items": services.organisation.list_communities(actor), "next_cursor": None}


@router.get("/communities/{community_id}", response_model=CommunityView)
def get_community(
    community_id: str, actor: CurrentActor, services: Services, response: Response
) -> CommunityView:
    """A community with its grids."""
    return tagged(response, services.organisation.get_community(actor, community_id))


@router.post("/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountView)
def open_account(
    body: AccountCreate, actor: CurrentActor, services: Services, response: Response
) -> AccountView:
    """Open an account with a role and a jurisdiction (admin)."""
    view, position = services.organisation.open_account(
        actor,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        community_id=body.community_id,
        grid_id=body.grid_id,
        township=body.township,
    )
    located(response, "accounts", view.id)
    return committed(response, view, position)


@router.get("/accounts/{account_id}", response_model=AccountView)
def get_account(
    account_id: str, actor: CurrentActor, services: Services, response: Response
) -> AccountView:
    """An account (admin, or the account itself)."""
    return tagged(response, services.organisation.get_account(actor, account_id))


@router.post(
    "/accounts/{account_id}/tokens", status_code=status.HTTP_201_CREATED, response_model=IssuedToken
)
def issue_token(
    account_id: str, actor: CurrentActor, services: Services, response: Response
) -> IssuedToken:
    """Issue a bearer token (admin). The token is shown once; only its hash is kept."""
    token, position = services.organisation.issue_token(actor, account_id)
    located(response, "accounts", account_id, "tokens", token.id)
    response.headers["Log-Position"] = str(position)
    return token


@router.delete("/accounts/{account_id}/tokens/{token_id}", status_code=204)
def revoke_token(
    account_id: str, token_id: str, actor: CurrentActor, services: Services
) -> Response:
    """Revoke a token (admin); it stops working at once."""
    position = services.organisation.revoke_token(actor, account_id, token_id)
    return Response(status_code=204, headers={"Log-Position": str(position)})


@router.get("/me", response_model=AccountView)
def me(actor: CurrentActor, services: Services, response: Response) -> AccountView:
    """The caller's account, role and scope."""
    return tagged(response, services.organisation.get_account(actor, actor.account_id))
