"""Bearer-token authentication: every /v1 call names its actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.state import services_of
from application.actors import Actor
from application.errors import NotAuthenticated

bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/accounts/{id}/tokens")


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("send Authorization: Bearer <token>")
    actor = services_of(request).organisation.authenticate(credentials.credentials)
    request.state.actor_id = actor.account_id
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
