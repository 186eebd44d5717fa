"""The answer of a command committed earlier under an idempotency key, given again.

A key's record (``application.command_keys``) says which aggregates the command
saved, at which versions, and its last log position. When the first answer was
never remembered (the server died after the commit, the answer was a 5xx, a
second attempt raced the first), the answer is rebuilt from that record: the
resource as it stood at the version the command made, read through the same
GET route the caller may use, with the command's own status and headers.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from starlette.types import ASGIApp, Message, Scope

from application.casebook import Casebook
from application.command_keys import KeyRecord, SavedAggregate
from infrastructure.idempotency import StoredAnswer

# Collections whose commands answer with the aggregate, read back at a version through `as_of`.
CASEWORK = {"households": "anju:Household", "visits": "anju:Visit", "grievances": "anju:Grievance"}
FORWARDED_HEADERS = (b"authorization", b"accept-language", b"host")
PROBLEM = "application/problem+json"


async def rebuilt_answer(
    app: ASGIApp, scope: Scope, body: bytes, book: Casebook, record: KeyRecord
) -> StoredAnswer:
    """The answer the command under ``record`` gave, or would have given."""
    segments = [part for part in scope["path"].split("/") if part][1:]  # after "v1"
    if segments and segments[0] in CASEWORK:
        return await _casework_answer(app, scope, book, record, segments)
    if segments[:1] == ["communities"]:
        code = segments[1] if len(segments) > 1 else _body_field(body, "id")
        return await _read_back(app, scope, f"/v1/communities/{quote(code, safe='')}", 201, record)
    if segments[:1] == ["accounts"] and len(segments) == 1:
        account = _created(record, "anju:Account")
        path = f"/v1/accounts/{account.aggregate_id}" if account else "/v1/me"
        return await _read_back(app, scope, path, 201, record)
    return _unrepeatable(record)


async def _casework_answer(
    app: ASGIApp, scope: Scope, book: Casebook, record: KeyRecord, segments: list[str]
) -> StoredAnswer:
    collection = segments[0]
    if len(segments) == 1:
        saved = _created(record, CASEWORK[collection])
        status = 201
    else:
        saved = next((s for s in record.saved if s.aggregate_id == _uuid_text(segments[1])), None)
        status = 201 if segments[-1] == "life-events" else 200
    if saved is None:
        return _unrepeatable(record)
    made: Any = book.repository.get(UUID(saved.aggregate_id), version=saved.version)
    as_of = made.modified_on
    path = f"/v1/{collection}/{saved.aggregate_id}"
    answer = await _read_back(app, scope, path, status, record, as_of=as_of.isoformat())
    if segments[-1] == "life-events" and answer.status == 201:
        return _life_event_answer(book, saved, answer)
    return answer


def _life_event_answer(
    book: Casebook, saved: SavedAggregate, household: StoredAnswer
) -> StoredAnswer:
    event: Any = next(
        iter(book.events.get(UUID(saved.aggregate_id), gt=saved.version - 1, lte=saved.version))
    )
    body = {
        "life_event_id": event.life_event_id,
        "visit_due_by": event.visit_due_by.isoformat(),
        "household": json.loads(household.body),
    }
    return StoredAnswer(household.status, household.headers, json.dumps(body).encode())


async def _read_back(
    app: ASGIApp, scope: Scope, path: str, status: int, record: KeyRecord, as_of: str | None = None
) -> StoredAnswer:
    """GET ``path`` as the caller; the command's status, Location and Log-Position on top."""
    start: Message = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    query = urlencode({"as_of": as_of}).encode() if as_of else b""
    headers = [(n, v) for n, v in scope.get("headers", []) if n in FORWARDED_HEADERS]
    get = {**scope, "method": "GET", "path": path, "raw_path": path.encode(), "headers": headers}
    await app({**get, "query_string": query}, receive, capture)
    got = int(start.get("status", 500))
    kept = [
        (n.decode("latin-1"), v.decode("latin-1"))
        for n, v in start.get("headers", [])
        if n.lower() in (b"content-type", b"etag")
    ]
    if got != 200:
        return StoredAnswer(got, kept, b"".join(chunks))
    kept.append(("log-position", str(record.position)))
    if status == 201 and not path.endswith("/me"):
        kept.append(("location", path))
    return StoredAnswer(status, kept, b"".join(chunks))


def _created(record: KeyRecord, kind: str) -> SavedAggregate | None:
    """The aggregate the command created: the one of ``kind`` at version 1."""
    return next(
        (s for s in record.saved if s.topic.startswith(kind + ".") and s.version == 1), None
    )


def _unrepeatable(record: KeyRecord) -> StoredAnswer:
    """A command whose answer held a secret shown once (a token): it cannot be shown again."""
    body = {
        "type": "https://anju.example/problems/409",
        "title": "Conflict",
        "status": 409,
        "detail": (
            "this command was recorded, but its answer was shown once and cannot be"
            " shown again; revoke what it issued and issue another"
        ),
        "recorded_at_position": record.position,
        "saved": [s.aggregate_id for s in record.saved],
    }
    return StoredAnswer(409, [("content-type", PROBLEM)], json.dumps(body).encode())


def _uuid_text(text: str) -> str:
    try:
        return str(UUID(text))
    except ValueError:
        return text


def _body_field(body: bytes, name: str) -> str:
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        value = None
    return str(value or "")
