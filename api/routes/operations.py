"""Liveness, readiness and metrics: open to all, no personal data."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.errors import problem
from api.state import county_of

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """The event store answers; 503 otherwise."""
    try:
        county_of(request).ping()
    except Exception as error:
        return problem(
            503,
            f"the event store is unreachable ({type(error).__name__})",
            headers={"Retry-After": "5"},
        )
    return {"status": "ready"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus text: the log's head position."""
    head = county_of(request).book.recorder.max_notification_id() or 0
    text = (
        "# HELP anju_log_head_position Position of the newest event in the log.\n"
        "# TYPE anju_log_head_position gauge\n"
        f"anju_log_head_position {head}\n"
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
