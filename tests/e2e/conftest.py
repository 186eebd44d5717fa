"""End-to-end fixtures: a real uvicorn server on a free port, driven over HTTP with httpx.

``server`` runs once per store (SQLite and a fresh PostgreSQL schema, through
``county_settings`` of ``tests/conftest.py``). ``world`` builds, through the
HTTP API as admin, two communities with grids and one account of each role.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.bootstrap import County
from application.ports import Clock
from infrastructure.settings import Settings
from tests.national_ids import fresh_id_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROBLEM = "application/problem+json"
STARTUP_SECONDS = 30.0
# A fresh connection per request: on a kept-alive connection each small request to the
# in-process server takes ~40 ms (delayed ACK), on a fresh one ~4 ms.
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)
HEAD_PATTERN = re.compile(r"^anju_log_head_position\s+(\d+)", re.MULTILINE)


@dataclass
class LiveServer:
    """A running app: its base URL, the app object and a token of the bootstrap admin."""

    url: str
    app: FastAPI
    admin_token: str
    _clients: list[httpx.Client] = field(default_factory=list)
    _plain: httpx.Client | None = None

    @property
    def county(self) -> County:
        county: County = self.app.state.county
        return county

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        """An httpx client on the base URL; with a token, it sends it as a bearer token."""
        sent = dict(headers)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        made = httpx.Client(
            base_url=self.url, headers=sent, timeout=60.0, verify=False, limits=NO_KEEPALIVE
        )
        self._clients.append(made)
        return made

    def head(self) -> int:
        """The log's head position, read from /metrics over HTTP."""
        if self._plain is None:
            self._plain = self.client()
        answer = self._plain.get("/metrics")
        assert answer.status_code == 200, answer.text
        found = HEAD_PATTERN.search(answer.text)
        assert found, answer.text
        return int(found.group(1))

    def events_since(self, position: int) -> int:
        """How many events the log holds after ``position`` (positions may have gaps)."""
        recorder = self.county.book.recorder
        found = recorder.select_notifications(
            start=position, limit=1_000_000, inclusive_of_start=False
        )
        return len(found)

    def close_clients(self) -> None:
        for made in self._clients:
            made.close()
        self._clients.clear()
        self._plain = None


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerErrors(logging.Filter):
    """Keeps uvicorn's "Exception in ASGI application" to one line.

    Formatting a traceback parses source with ``ast``; on CPython 3.11 doing that in
    the server thread while pytest formats a failure in the main thread can crash
    pytest ("AST constructor recursion depth mismatch").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage().strip()}: {type(error).__name__}: {error}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def running(settings: Settings, clock: Clock | None = None) -> Iterator[tuple[str, FastAPI]]:
    """Serve ``create_app(settings)`` with uvicorn in a background thread until the block ends.

    With ``clock``, the app reads time from it (tests that move time by hand).
    """
    app = create_app(settings, clock)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    errors = ServerErrors()
    logging.getLogger("uvicorn.error").addFilter(errors)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, thread)
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        logging.getLogger("uvicorn.error").removeFilter(errors)
        assert not thread.is_alive(), "uvicorn did not stop"


def wait_until_healthy(url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=url, timeout=2.0, verify=False) as probe:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped during startup")
            if server.started:
                try:
                    if probe.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.02)
    raise RuntimeError(f"the server at {url} did not answer /healthz in {STARTUP_SECONDS} s")


@pytest.fixture
def server(county_settings: Settings) -> Iterator[LiveServer]:
    """A live server on SQLite or PostgreSQL, with a bootstrapped admin token."""
    with running(county_settings) as (url, app):
        county: County = app.state.county
        token = county.services.organisation.bootstrap_admin("root", "根管理员")
        live = LiveServer(url=url, app=app, admin_token=token.token)
        try:
            yield live
        finally:
            live.close_clients()


@pytest.fixture
def http(server: LiveServer) -> Callable[..., httpx.Client]:
    """A factory of httpx clients on the server's base URL: ``http(token)``."""
    return server.client


# -- a small county built over HTTP ----------------------------------------------------


@dataclass
class Account:
    id: str
    username: str
    role: str
    token: str
    token_id: str
    client: httpx.Client


@dataclass
class World:
    """Two communities and one account of each role, every one with a live token.

    ``xingfu`` (grids g1, g2) is where the cadre, the supervisor and the grid
    cadre work; ``anle`` (grid g1) is the outsider's community.
    """

    server: LiveServer
    admin: Account
    cadre: Account  # cadre of xingfu (in scope)
    cadre2: Account  # another cadre of xingfu
    grid_cadre: Account  # cadre of xingfu, grid g1 only
    outsider: Account  # cadre of anle (out of scope for xingfu)
    supervisor: Account  # supervisor of xingfu
    auditor: Account  # county auditor
    anonymous: httpx.Client = field(repr=False)

    def head(self) -> int:
        return self.server.head()

    def events_since(self, position: int) -> int:
        return self.server.events_since(position)

    # -- helpers that make facts over HTTP, asserting success ------------------------

    def household(self, by: Account | None = None, **overrides: Any) -> dict[str, Any]:
        body = household_body(**overrides)
        answer = (by or self.cadre).client.post("/v1/households", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def visit(
        self, household_id: str, by: Account | None = None, **overrides: Any
    ) -> dict[str, Any]:
        body = visit_body(household_id, **overrides)
        answer = (by or self.cadre).client.post("/v1/visits", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def grievance(
        self, household_id: str, by: Account | None = None, **overrides: Any
    ) -> dict[str, Any]:
        body = grievance_body(household_id, **overrides)
        answer = (by or self.cadre).client.post("/v1/grievances", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def act(self, by: Account, case_id: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = by.client.post(f"/v1/grievances/{case_id}/{verb}", json=body)
        assert answer.status_code == 200, f"{verb}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def case_in(self, status: str, assignee: Account | None = None, **overrides: Any) -> str:
        """A fresh case of a fresh household of xingfu, brought to ``status``."""
        household = self.household()
        case = self.grievance(household["id"], **overrides)
        worker = assignee or self.cadre
        if status == "filed":
            return str(case["id"])
        self.act(self.supervisor, case["id"], "assign", {"assignee_id": worker.id})
        if status == "assigned":
            return str(case["id"])
        self.act(worker, case["id"], "accept", {})
        if status == "in_progress":
            return str(case["id"])
        self.act(worker, case["id"], "resolve", {"resolution": "已处理", "outcome": "resolved"})
        if status == "resolved":
            return str(case["id"])
        raise ValueError(status)


def now() -> datetime:
    return datetime.now(SHANGHAI)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def household_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g1",
        "head_name": "王秀英",
        "member_count": 4,
        "phone": "13812345678",
        "id_number": fresh_id_number(),
        "address": {"building": "3", "unit": "2", "room": "501"},
        "origin": {"township": "雷山镇", "village": "乌东村"},
        "relocated_on": "2019-06-15",
        "tags": ["low_income"],
    }
    body.update(overrides)
    return body


def visit_body(household_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "household_id": household_id,
        "visited_at": iso(now() - timedelta(hours=2)),
        "channel": "in_person",
        "purpose": "routine",
        "notes": "老人身体尚好，反映楼道灯坏了",
    }
    body.update(overrides)
    return body


def grievance_body(household_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "household_id": household_id,
        "category": "facilities",
        "urgency": "urgent",
        "channel": "visit",
        "summary": "3栋2单元电梯停运两天",
    }
    body.update(overrides)
    return body


def yesterday() -> str:
    return (now().date() - timedelta(days=1)).isoformat()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def open_account(
    server: LiveServer,
    admin: httpx.Client,
    username: str,
    role: str,
    community_id: str | None = None,
    grid_id: str | None = None,
) -> Account:
    body: dict[str, Any] = {"username": username, "display_name": f"{username}同志", "role": role}
    if community_id:
        body["community_id"] = community_id
    if grid_id:
        body["grid_id"] = grid_id
    made = admin.post("/v1/accounts", json=body)
    assert made.status_code == 201, made.text
    account_id = made.json()["id"]
    issued = admin.post(f"/v1/accounts/{account_id}/tokens")
    assert issued.status_code == 201, issued.text
    token = issued.json()
    return Account(
        id=account_id,
        username=username,
        role=role,
        token=token["token"],
        token_id=token["id"],
        client=server.client(token["token"]),
    )


@pytest.fixture
def world(server: LiveServer) -> World:
    admin_client = server.client(server.admin_token)
    for code, name in (("xingfu", "幸福社区"), ("anle", "安乐社区")):
        made = admin_client.post(
            "/v1/communities",
            json={"id": code, "name": name, "township": "城关镇", "county": "示范县"},
        )
        assert made.status_code == 201, made.text
    for community, grid in (("xingfu", "g1"), ("xingfu", "g2"), ("anle", "g1")):
        made = admin_client.post(
            f"/v1/communities/{community}/grids", json={"id": grid, "name": f"第{grid[-1]}网格"}
        )
        assert made.status_code == 201, made.text

    def account(username: str, role: str, community: str | None = None, grid: str | None = None):
        return open_account(server, admin_client, username, role, community, grid)

    return World(
        server=server,
        admin=account("admin1", "admin"),
        cadre=account("cadre1", "cadre", "xingfu"),
        cadre2=account("cadre2", "cadre", "xingfu"),
        grid_cadre=account("cadreg1", "cadre", "xingfu", "g1"),
        outsider=account("cadre9", "cadre", "anle"),
        supervisor=account("super1", "supervisor", "xingfu"),
        auditor=account("audit1", "auditor"),
        anonymous=server.client(),
    )


# -- assertions shared by the e2e tests ---------------------------------------------------


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the given status, and no stack trace."""
    assert answer.status_code == status, f"{answer.status_code} {answer.text[:500]}"
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers["content-type"]
    body = answer.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"{key} missing from {body}"
    assert body["status"] == status
    assert_no_stack_trace(answer)
    if status == 422:
        assert isinstance(body.get("errors"), list) and body["errors"], body
        for item in body["errors"]:
            assert set(item) >= {"loc", "msg"}, item
    return dict(body)


def assert_no_stack_trace(answer: httpx.Response) -> None:
    text = answer.text
    for marker in ("Traceback", 'File "'):
        assert marker not in text, f"stack trace marker {marker!r} in {text[:500]}"


def assert_command(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    """A command's answer: the status, id and version, ETag == version, Log-Position."""
    assert answer.status_code == status, f"{answer.status_code} {answer.text[:500]}"
    body = answer.json()
    assert "id" in body and "version" in body, body
    assert answer.headers.get("etag") == f'"{body["version"]}"', answer.headers
    assert answer.headers.get("log-position", "").isdigit(), answer.headers
    if status == 201:
        assert answer.headers.get("location"), answer.headers
    return dict(body)
