"""ASGI middleware: the 1 MiB body limit and the JSON access log."""

from __future__ import annotations

import time
import uuid
from typing import Any
from uuid import UUID

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem

MAX_BODY = 1024 * 1024
access_log = structlog.get_logger("anju.access")


class BodyLimit:
    """Refuses a body over 1 MiB with 413, whether declared or streamed.

    The body is read here, up to the limit, before any route sees it, so an
    oversized chunked body is refused as such and never half-parsed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await problem(413, "the request body is larger than 1 MiB")(scope, receive, send)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", None) or "(no route)")


def is_uuid(value: object) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


class AccessLog:
    """One JSON line per request: request ID, actor, status, log position, duration.

    The route's template and statuses only: bodies, query strings and the raw
    path are never logged, since any of them may name people (a phone number
    sent where an ID belongs, say). Path parameters that are IDs (UUIDs) are.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "position": None}
        scope.setdefault("state", {})["request_id"] = request_id

        async def observing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
                for name, value in headers:
                    if name.lower() == b"log-position":
                        seen["position"] = int(value)
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            state = scope.get("state", {})
            access_log.info(
                "request",
                request_id=request_id,
                method=scope.get("method"),
                path=route_template(scope),
                ids=[v for v in scope.get("path_params", {}).values() if is_uuid(v)] or None,
                status=seen["status"],
                actor=state.get("actor_id"),
                log_position=seen["position"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
