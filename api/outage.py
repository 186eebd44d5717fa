"""A database that is down or busy answers 503 with Retry-After, never 500.

What counts: no pooled connection within the wait (``DatabaseUnavailable``),
psycopg's OperationalError and InterfaceError (a lost connection, a server
shutting down or starting up, a lock or statement timeout, a serialization
failure), the event-sourcing library's errors wrapping them, its own pool
running out of connections, and SQLite's busy and locked errors. A PostgreSQL
"program limit exceeded" (class 54, e.g. an index row too large) is refused:
it is about the request, and repeating it would not help.

A command whose commit outcome is unknown (the connection was lost during the
commit) answers 503 as well; repeating it with the same Idempotency-Key gives
its outcome.

Errors raised in a route reach the handlers registered here. Errors raised in
a middleware (the Idempotency-Key store) pass them by and reach the app's
catch-all handler, so that one is wrapped: outages first, anything else as
before.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg
import structlog
from eventsourcing.persistence import ConnectionUnavailableError, PersistenceError
from fastapi import FastAPI, Request
from starlette.responses import Response

from api.errors import problem
from infrastructure.event_store import DatabaseUnavailable

RETRY_AFTER_SECONDS = 2
# SQLite's primary result codes for a file another connection holds.
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
# PostgreSQL's class of errors about a statement too large, not about the server.
PROGRAM_LIMIT_CLASS = "54"
OUTAGE_TYPES: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PersistenceError,
    sqlite3.OperationalError,
)

Handler = Callable[[Request, Any], Any]
log = structlog.get_logger("anju.outage")


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) says the database is unreachable or busy."""
    return any(_says_outage(link) for link in _chain(error))


def _says_outage(error: BaseException) -> bool:
    if isinstance(error, DatabaseUnavailable | ConnectionUnavailableError):
        return True
    if isinstance(error, psycopg.OperationalError):
        sqlstate = getattr(error, "sqlstate", None) or ""
        return not sqlstate.startswith(PROGRAM_LIMIT_CLASS)
    if isinstance(error, psycopg.InterfaceError):
        return True
    if isinstance(error, sqlite3.OperationalError):
        return error.sqlite_errorcode & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the errors it was raised from (the library wraps the driver's)."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__


def unavailable(error: BaseException) -> Response:
    log.warning("database_unavailable", error_type=type(error).__name__)
    return problem(
        503,
        "the database is unavailable; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_outage_handlers(app: FastAPI) -> None:
    """Map database outages to 503; call after ``install_error_handlers``."""
    fallback: Handler | None = app.exception_handlers.get(Exception)

    async def outage_or_fallback(request: Request, error: Exception) -> Response:
        if is_outage(error):
            return unavailable(error)
        if fallback is None:
            raise error
        answer = fallback(request, error)
        if inspect.isawaitable(answer):
            answer = await answer
        return cast(Response, answer)

    for error_type in OUTAGE_TYPES:
        app.add_exception_handler(error_type, outage_or_fallback)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, outage_or_fallback)  # type: ignore[arg-type]
