"""The FastAPI application: `create_app(settings)` builds it; the lifespan opens the county."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.bootstrap import County, open_county
from api.errors import PROBLEM, V1_PROBLEMS, install_error_handlers
from api.idempotency import Idempotency
from api.middleware import AccessLog, BodyLimit
from api.outage import install_outage_handlers
from api.routes import (
    audit,
    grievances,
    households,
    operations,
    organisation,
    reports,
    resident_link,
    visits,
)
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
        if county is None and settings.projections:
            opened.start_projections()
        if county is None:
            opened.start_checkpoints(settings.checkpoint_minutes)
            opened.start_deadline_watch(settings.deadline_watch_seconds)
        app.state.county = opened
        try:
            yield
        finally:
            if county is None:
                opened.close()

    app = FastAPI(title="Anju 安居", version="1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    install_outage_handlers(app)
    app.include_router(operations.router)
    app.include_router(resident_link.router)
    for module in (organisation, households, visits, grievances, reports, audit):
        app.include_router(module.router, responses=V1_PROBLEMS)
    app.openapi = lambda: problem_media_types(app)  # type: ignore[method-assign]
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)
    return app


def problem_media_types(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with every error described as application/problem+json."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for operations_of_path in schema.get("paths", {}).values():
            for operation in operations_of_path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM] = content.pop("application/json")
        app.openapi_schema = schema
    return app.openapi_schema
