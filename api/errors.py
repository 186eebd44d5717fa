"""Every error becomes application/problem+json (RFC 9457); never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.errors import (
    AlreadyExists,
    ApplicationError,
    ConcurrentUpdate,
    DuplicateIdNumber,
    Forbidden,
    LinkGone,
    NotAuthenticated,
    NotFound,
    NotYetConsistent,
    UnknownReference,
    VersionMismatch,
)
from domain.errors import DomainError, InvalidCommand, NotPermitted, StateConflict

PROBLEM = "application/problem+json"
log = structlog.get_logger("anju.errors")

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemItem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457). 409 adds the current `state` (or, for a national ID number
    already registered, the `household_id` that has it when the caller may read it);
    412 the `current_version`."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


# Inputs checked in the application that arrive as query parameters, not in the body.
QUERY_FIELDS = frozenset({"week", "month", "as_of", "group_by", "consistent_with"})


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route may answer, as problem+json."""
    return {status: {"model": Problem, "description": TITLES[status]} for status in statuses}


V1_PROBLEMS = problem_responses(401, 403, 404, 409, 412, 413, 422, 503)


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://anju.example/problems/{status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(error: ApplicationError | DomainError) -> int:
    match error:
        case NotAuthenticated():
            return 401
        case Forbidden() | NotPermitted():
            return 403
        case NotFound():
            return 404
        case UnknownReference() | InvalidCommand():
            return 422
        case VersionMismatch():
            return 412
        case ConcurrentUpdate() | AlreadyExists() | StateConflict():
            return 409
        case LinkGone():
            return 410
        case NotYetConsistent():
            return 503
    return 400


def problem_for(error: ApplicationError | DomainError) -> JSONResponse:
    status = status_of(error)
    extra: dict[str, Any] = {}
    errors = None
    if isinstance(error, StateConflict):
        extra["state"] = error.state
    if isinstance(error, VersionMismatch):
        extra["current_version"] = error.current
    if isinstance(error, DuplicateIdNumber) and error.household_id is not None:
        extra["household_id"] = error.household_id
    if isinstance(error, InvalidCommand):
        errors = [
            {
                "loc": [
                    "query" if error.field in QUERY_FIELDS else "body",
                    *(error.field.split(".") if error.field else []),
                ],
                "msg": error.message,
            }
        ]
    if isinstance(error, UnknownReference):
        errors = [{"loc": ["body", error.field], "msg": error.message}]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    return problem(status, error.message, errors=errors, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApplicationError)
    async def application_error(_: Request, error: ApplicationError) -> JSONResponse:
        return problem_for(error)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        return problem_for(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(item.get("loc", [])), "msg": str(item.get("msg", "invalid"))}
            for item in error.errors()
        ]
        return problem(422, "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), headers=dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("unhandled_error", error_type=type(error).__name__)
        return problem(500, "an internal error occurred; it has been logged")
