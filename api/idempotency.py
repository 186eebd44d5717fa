"""Idempotency-Key on POST: a repeat with the same body gets the first answer again.

The same key with a different body is a 422. Twenty concurrent repeats run the
command once: the first claims the key, the others wait for its answer.
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from infrastructure.idempotency import Claim, StoredAnswer

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.02
MAX_KEY_LENGTH = 200
KEY_LOC = ["header", "Idempotency-Key"]


class IdempotencyStore(Protocol):
    def claim(self, scope: str, key: str, fingerprint: str) -> Claim: ...

    def complete(self, scope: str, key: str, answer: StoredAnswer) -> None: ...

    def release(self, scope: str, key: str) -> None: ...


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        key_bytes = headers.get(b"idempotency-key")
        if scope["type"] != "http" or scope["method"] != "POST" or key_bytes is None:
            await self.app(scope, receive, send)
            return
        key = key_bytes.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
            await problem(422, message, errors=[{"loc": KEY_LOC, "msg": message}])(
                scope, receive, send
            )
            return
        body = await read_body(receive)
        store: IdempotencyStore = scope["app"].state.county.idempotency
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        fingerprint = hashlib.sha256(
            scope["path"].encode() + b"?" + scope.get("query_string", b"") + b"\n" + body
        ).hexdigest()
        claim = await self._claim(store, caller, key, fingerprint)
        if claim.outcome == "mismatch":
            message = "this Idempotency-Key was used with another request"
            await problem(422, message, errors=[{"loc": KEY_LOC, "msg": message}])(
                scope, receive, send
            )
        elif claim.outcome == "answer" and claim.answer is not None:
            await replay(claim.answer, send)
        elif claim.outcome == "pending":
            await problem(
                409,
                "a request with this Idempotency-Key is still running",
                headers={"Retry-After": "1"},
            )(scope, receive, send)
        else:
            await self._run(scope, body, send, store, caller, key)

    async def _claim(self, store: IdempotencyStore, caller: str, key: str, fp: str) -> Claim:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            claim = await anyio.to_thread.run_sync(store.claim, caller, key, fp)
            if claim.outcome != "pending" or time.monotonic() > deadline:
                return claim
            await anyio.sleep(POLL_SECONDS)

    async def _run(
        self, scope: Scope, body: bytes, send: Send, store: IdempotencyStore, caller: str, key: str
    ) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await anyio.to_thread.run_sync(store.release, caller, key)
            raise
        answer = StoredAnswer(
            status=int(start.get("status", 500)),
            headers=[
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", [])
            ],
            body=b"".join(chunks),
        )
        if answer.status >= 500:
            await anyio.to_thread.run_sync(store.release, caller, key)
        else:
            await anyio.to_thread.run_sync(store.complete, caller, key, answer)
        await replay(answer, send)


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def replay(answer: StoredAnswer, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
