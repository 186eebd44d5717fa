"""ASGI middleware: the 1 MiB body limit and the JSON access log."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem

MAX_BODY = 1024 * 1024
access_log = structlog.get_logger("anju.access")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a body over 1 MiB with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "the request body is larger than 1 MiB")
        await response(scope, receive, send)


class AccessLog:
    """One JSON line per request: request ID, actor, status, log position, duration.

    Paths and statuses only: bodies and query strings (which may name people)
    are never logged.
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
                path=scope.get("route_path") or scope.get("path"),
                status=seen["status"],
                actor=state.get("actor_id"),
                log_position=seen["position"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
