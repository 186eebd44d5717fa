"""The FastAPI application: `create_app(settings)` builds it; the lifespan opens the county."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.bootstrap import County, open_county
from api.errors import install_error_handlers
from api.idempotency import Idempotency
from api.middleware import AccessLog, BodyLimit
from api.routes import grievances, households, operations, organisation, visits
from application.ports import Clock
from infrastructure.settings import Settings

DESCRIPTION = """\
Case management for grievances and household visits in resettlement
communities (安置社区). Every call under `/v1` needs `Authorization: Bearer <token>`.
Errors are `application/problem+json`. Commands answer with `Log-Position`, and
with `ETag` carrying the aggregate's version; send `If-Match` to guard a change
and `Idempotency-Key` to make a POST safe to repeat.
"""


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, county: County | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = county or open_county(settings, clock)
        app.state.county = opened
        try:
            yield
        finally:
            if county is None:
                opened.close()

    app = FastAPI(title="Anju 安居", version="1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    for module in (operations, organisation, households, visits, grievances):
        app.include_router(module.router)
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)
    return app
