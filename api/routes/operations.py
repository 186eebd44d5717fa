"""Liveness, readiness and metrics: open to all, no personal data."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.errors import problem
from api.state import county_of
from application.projections import ModelStatus

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """The event store answers and every read model folded every event; 503 otherwise.

    A read model holding quarantined events still serves (README, "Events a read
    model cannot fold"), but is not whole: the body names how many per model.
    """
    county = county_of(request)
    try:
        county.ping()
        quarantined = county.services.projections.quarantined()
    except Exception as error:
        return problem(
            503,
            f"the event store is unreachable ({type(error).__name__})",
            headers={"Retry-After": "5"},
        )
    stuck = {model: count for model, count in quarantined.items() if count}
    if stuck:
        named = ", ".join(f"{model}: {count}" for model, count in sorted(stuck.items()))
        return problem(
            503,
            f"read models could not fold some events ({named}); they serve everything else",
            quarantined_events=stuck,
        )
    return {"status": "ready"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus text: the log's head and each read model's position, lag and throughput."""
    county = county_of(request)
    projections = county.services.projections
    lines = [
        "# HELP anju_log_head_position Position of the newest event in the log.",
        "# TYPE anju_log_head_position gauge",
        f"anju_log_head_position {projections.head()}",
        "# HELP anju_ledger_ok 0 once a checkpoint round found the log tampered with above"
        " the last checkpoint, 1 otherwise.",
        "# TYPE anju_ledger_ok gauge",
        f"anju_ledger_ok {int(county.audit.ledger_ok)}",
    ]
    rows = projections.status(county.services.clock.now())
    for name, kind, text, value_of in PROJECTION_METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for row in rows:
            state = "live" if row.live else "building"
            labels = f'model="{row.model}",generation="{row.generation}",state="{state}"'
            lines.append(f"{name}{{{labels}}} {value_of(row)}")
    lines += [
        "# HELP anju_projection_quarantined_events Events the live read model could not fold.",
        "# TYPE anju_projection_quarantined_events gauge",
    ]
    for model, count in projections.quarantined().items():
        lines.append(f'anju_projection_quarantined_events{{model="{model}"}} {count}')
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


PROJECTION_METRICS: list[tuple[str, str, str, Callable[[ModelStatus], float]]] = [
    (
        "anju_projection_position",
        "gauge",
        "Log position the read model has processed.",
        lambda row: row.position,
    ),
    (
        "anju_projection_lag_events",
        "gauge",
        "Log positions the read model has not processed yet (events, plus any gaps).",
        lambda row: row.lag_events,
    ),
    (
        "anju_projection_lag_seconds",
        "gauge",
        "How long the oldest unprocessed event has waited.",
        lambda row: row.lag_seconds,
    ),
    (
        "anju_projection_events_processed_total",
        "counter",
        "Events the read model's current generation has processed.",
        lambda row: row.events_processed,
    ),
]
