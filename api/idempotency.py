"""Idempotency-Key on POST: a repeat with the same body gets the first answer again.

The same key with a different body is a 422. Twenty concurrent repeats run the
command once: the first claims the key, the others wait for its answer.

Exactly once rests on the key's record, written in the same transaction as the
command's events (``application.command_keys``), not on the remembered answer:
after a 5xx, a crash or an outage, a retry finds the record and is given the
command's answer rebuilt from it, and a command that did not commit runs again.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Protocol

import anyio
import structlog
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.command_outcomes import rebuilt_answer
from api.errors import problem
from api.outage import is_outage, unavailable
from application.command_keys import (
    CommandAlreadyRecorded,
    CommandKey,
    KeyRecord,
    running_under,
)
from infrastructure.idempotency import Claim, StoredAnswer

log = structlog.get_logger("anju.errors")
# How long a repeat waits for a running first attempt before running under the key itself.
WAIT_SECONDS = 5.0
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
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters"
            await problem(422, message, errors=[{"loc": KEY_LOC, "msg": message}])(
                scope, receive, send
            )
            return
        body = await read_body(receive)
        county = scope["app"].state.county
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        fingerprint = hashlib.sha256(
            scope["path"].encode() + b"?" + scope.get("query_string", b"") + b"\n" + body
        ).hexdigest()
        claim = await self._claim(county.idempotency, caller, key, fingerprint)
        if claim.outcome == "mismatch":
            await mismatch()(scope, receive, send)
        elif claim.outcome == "answer" and claim.answer is not None:
            await replay(claim.answer, send)
        else:
            command = CommandKey(caller, key, fingerprint)
            answer = await self._answer(scope, body, county, command)
            await remember(county.idempotency, command, answer)
            await replay(answer, send)

    async def _claim(self, store: IdempotencyStore, caller: str, key: str, fp: str) -> Claim:
        """The key's claim; a claim still pending after a while is taken over.

        Taking over is safe: the key is recorded with the command's events, so of
        two attempts only one can commit (the other's answer is rebuilt from it).
        A server that died mid-command therefore never strands a key.
        """
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            claim = await anyio.to_thread.run_sync(store.claim, caller, key, fp)
            if claim.outcome != "pending":
                return claim
            if time.monotonic() > deadline:
                return Claim("mine")
            await anyio.sleep(POLL_SECONDS)

    async def _answer(
        self, scope: Scope, body: bytes, county: Any, command: CommandKey
    ) -> StoredAnswer:
        """Run the command under its key, unless a record says it already ran."""
        record = await self._record(county, command)
        if record is None:
            try:
                with running_under(command):
                    answer = await self._run(scope, body)
            except CommandAlreadyRecorded:
                answer = None
            except Exception as error:  # answered here, so that the key is released
                answer = failed(error)
            if answer is not None and answer.status < 300:
                return answer
            record = await self._record(county, command)
            if record is None:
                if answer is None:
                    raise RuntimeError("a key was recorded and then not found")
                return answer
        if record.fingerprint != command.fingerprint:
            return stored(mismatch())
        return await rebuilt_answer(self.app, scope, body, county.book, record)

    @staticmethod
    async def _record(county: Any, command: CommandKey) -> KeyRecord | None:
        """The key's record in the log's store; None when absent or the store cannot say."""
        try:
            found: KeyRecord | None = await anyio.to_thread.run_sync(
                county.book.recorder.key_record, command.scope, command.key
            )
        except Exception:  # the store is down: the answer already in hand stands
            return None
        return found

    async def _run(self, scope: Scope, body: bytes) -> StoredAnswer:
        start: Message = {}
        chunks: list[bytes] = []

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, replay_receive, capture)
        return StoredAnswer(
            status=int(start.get("status", 500)),
            headers=[
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", [])
            ],
            body=b"".join(chunks),
        )


async def remember(store: IdempotencyStore, command: CommandKey, answer: StoredAnswer) -> None:
    """Keep the answer for repeats (a 5xx frees the key); the key's record stands regardless."""
    try:
        if answer.status >= 500:
            await anyio.to_thread.run_sync(store.release, command.scope, command.key)
        else:
            await anyio.to_thread.run_sync(store.complete, command.scope, command.key, answer)
    except Exception as error:  # a repeat rebuilds the answer from the key's record
        log.warning("idempotent_answer_not_kept", error_type=type(error).__name__)


def failed(error: Exception) -> StoredAnswer:
    """A command that raised: 503 when the store is out of reach, else a logged 500."""
    if is_outage(error):
        return stored(unavailable(error))
    log.error("unhandled_error", error_type=type(error).__name__)
    return stored(problem(500, "an internal error occurred; it has been logged"))


def mismatch() -> JSONResponse:
    message = "this Idempotency-Key was used with another request"
    return problem(422, message, errors=[{"loc": KEY_LOC, "msg": message}])


def stored(response: Response) -> StoredAnswer:
    return StoredAnswer(
        response.status_code,
        [(n.decode("latin-1"), v.decode("latin-1")) for n, v in response.raw_headers],
        bytes(response.body),
    )


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def replay(answer: StoredAnswer, send: Send) -> None:
    """Send a remembered answer; its length is counted anew (erasure may have shortened it)."""
    headers = [
        (n.encode("latin-1"), v.encode("latin-1"))
        for n, v in answer.headers
        if n.lower() != "content-length"
    ]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
