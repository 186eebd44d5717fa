"""PostgreSQL stopped under load: every request answers 503 fast; the service heals by itself.

A throwaway PostgreSQL cluster (initdb into a temporary directory, run as the
``postgres`` OS user) is stopped with ``pg_ctl stop -m immediate`` while
threads keep posting households and reading them over a real uvicorn server,
then started again. The figures (requests, 503s, the slowest answer during the
outage, the recovery time) are printed so they can be quoted: run with ``-s``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from api.outage import is_outage
from infrastructure.event_store import DatabaseUnavailable
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from infrastructure.vault import new_master_key_text
from tests.conftest import REQUIRE_POSTGRES
from tests.e2e.conftest import (
    NO_KEEPALIVE,
    PROBLEM,
    LiveServer,
    household_body,
    open_account,
    running,
)

WORKERS_WRITING = 4
WORKERS_READING = 2
REQUESTS_PER_WORKER = 300  # an upper bound: the load stops on its own well before
PAUSE_SECONDS = 0.02
LOAD_BEFORE_SECONDS = 1.5
OUTAGE_SECONDS = 4.0
RECOVERY_LIMIT_SECONDS = 5.0
STEADY_SECONDS = 1.5
ANSWER_LIMIT_SECONDS = 2.0  # the agreed bound for a request while the database is down
IN_FLIGHT_LIMIT_SECONDS = 3.0  # a request already running when the database went away


# -- a cluster of our own, to stop and start ----------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster in a temporary directory, trusting local connections."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp_path: its parents are closed to the postgres user.
        self.home = Path(tempfile.mkdtemp(prefix="anju-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self.run("initdb", "-D", str(self.home / "data"), "-A", "trust", "-U", "postgres")

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        data, log = str(self.home / "data"), str(self.home / "log")
        self.run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "30", "start")
        self.running = True

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.home / "data"), "-m", "immediate", "-w", "stop")
        self.running = False

    def remove(self) -> None:
        if self.running:
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = postgres_bin()
    if bindir is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required but initdb is not installed")
        pytest.skip("initdb is not installed")
    made = Cluster(bindir)
    try:
        made.start()
        yield made
    finally:
        made.remove()


@pytest.fixture
def live_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, running at the start of the test and again after it."""
    if not cluster.running:
        cluster.start()
    yield cluster
    if not cluster.running:
        cluster.start()


@pytest.fixture
def outage_settings(live_cluster: Cluster, tmp_path: Path) -> Settings:
    write_new_key(tmp_path / "signing.key")
    return Settings(
        data_dir=tmp_path / "var",
        database_url=live_cluster.url,
        county=f"t_{uuid.uuid4().hex[:12]}",
        master_key=new_master_key_text(),
        blind_index_key=new_master_key_text(),
        signing_key_file=tmp_path / "signing.key",
        # The background threads run often here, so the test sees them survive the outage.
        checkpoint_minutes=0.02,
        deadline_watch_seconds=1.0,
    )


@pytest.fixture
def outage_server(outage_settings: Settings) -> Iterator[LiveServer]:
    with running(outage_settings) as (url, app):
        token = app.state.county.services.organisation.bootstrap_admin("root", "根管理员")
        live = LiveServer(url=url, app=app, admin_token=token.token)
        try:
            yield live
        finally:
            live.close_clients()


def cadre_of_a_new_community(server: LiveServer) -> str:
    admin = server.client(server.admin_token)
    made = admin.post(
        "/v1/communities",
        json={"id": "xingfu", "name": "幸福社区", "township": "城关镇", "county": "示范县"},
    )
    assert made.status_code == 201, made.text
    made = admin.post("/v1/communities/xingfu/grids", json={"id": "g1", "name": "第1网格"})
    assert made.status_code == 201, made.text
    return open_account(server, admin, "cadre1", "cadre", "xingfu").token


# -- the load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    kind: str  # "write" or "read"
    started: float
    seconds: float
    status: int  # 0: no answer at all
    retry_after: str | None
    content_type: str
    household_id: str | None
    log_position: int | None

    @property
    def ended(self) -> float:
        return self.started + self.seconds

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300


class Load:
    """Workers posting households (each with its own Idempotency-Key) and reading them."""

    def __init__(self, url: str, token: str, known_id: str) -> None:
        self.url = url
        self.token = token
        self.known_id = known_id
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(kind,), name=f"load-{kind}-{n}")
            for n, kind in enumerate(["write"] * WORKERS_WRITING + ["read"] * WORKERS_READING)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self, kind: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(
            base_url=self.url, headers=headers, timeout=15.0, limits=NO_KEEPALIVE
        ) as client:
            for number in range(REQUESTS_PER_WORKER):
                if self._stop.is_set():
                    return
                self._record(kind, client, number)
                time.sleep(PAUSE_SECONDS)

    def _record(self, kind: str, client: httpx.Client, number: int) -> None:
        started = time.monotonic()
        try:
            answer = self._send(kind, client, number)
        except httpx.TransportError:
            self._add(Sent(kind, started, time.monotonic() - started, 0, None, "", None, None))
            return
        seconds = time.monotonic() - started
        created = answer.status_code == 201
        position = answer.headers.get("log-position")
        self._add(
            Sent(
                kind,
                started,
                seconds,
                answer.status_code,
                answer.headers.get("retry-after"),
                answer.headers.get("content-type", ""),
                answer.json()["id"] if created else None,
                int(position) if position and position.isdigit() else None,
            )
        )

    def _send(self, kind: str, client: httpx.Client, number: int) -> httpx.Response:
        if kind == "write":
            key = {"Idempotency-Key": uuid.uuid4().hex}
            return client.post("/v1/households", json=household_body(), headers=key)
        if number % 2:
            return client.get(f"/v1/households/{self.known_id}")
        return client.get("/v1/households", params={"community_id": "xingfu", "limit": 5})

    def _add(self, sent: Sent) -> None:
        with self._lock:
            self.sent.append(sent)

    def snapshot(self) -> list[Sent]:
        with self._lock:
            return list(self.sent)

    def first_write_acknowledged_after(self, moment: float, limit: float) -> float | None:
        """When the first write sent after ``moment`` was acknowledged; None if none by ``limit``."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            done = [s.ended for s in self.snapshot() if s.kind == "write" and s.succeeded]
            after = [ended for ended in done if ended > moment]
            if after:
                return min(after)
            time.sleep(0.05)
        return None


def assert_unavailable(sent: Sent) -> None:
    assert sent.status == 503, sent
    assert sent.content_type.startswith(PROBLEM), sent
    assert sent.retry_after == "2", sent


def acknowledged_ids(sent: list[Sent]) -> list[str]:
    return [s.household_id for s in sent if s.household_id is not None]


def listed_ids(client: httpx.Client, consistent_with: int) -> set[str]:
    found: set[str] = set()
    params: dict[str, str | int] = {
        "community_id": "xingfu",
        "limit": 500,
        "consistent_with": consistent_with,
    }
    while True:
        answer = client.get("/v1/households", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found.update(item["id"] for item in page["items"])
        if not page.get("next_cursor"):
            return found
        params["cursor"] = page["next_cursor"]


def checkpoint_reaches(server: LiveServer, position: int) -> bool:
    """Whether the checkpoint schedule signs ``position`` (or beyond) within a few seconds."""
    deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
    while time.monotonic() < deadline:
        latest = server.county.audit.ledger.latest_checkpoint()
        if latest is not None and latest.position >= position:
            return True
        time.sleep(0.2)
    return False


# -- the tests --------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_stopped_under_load_answers_503_within_2_s_and_recovers_without_restart(
    live_cluster: Cluster, outage_server: LiveServer
) -> None:
    token = cadre_of_a_new_community(outage_server)
    cadre = outage_server.client(token)
    known = cadre.post("/v1/households", json=household_body())
    assert known.status_code == 201, known.text

    with Load(outage_server.url, token, known.json()["id"]) as load:
        time.sleep(LOAD_BEFORE_SECONDS)
        stopping = time.monotonic()
        live_cluster.stop()
        stopped = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        starting = time.monotonic()
        live_cluster.start()
        started = time.monotonic()
        recovered = load.first_write_acknowledged_after(started, RECOVERY_LIMIT_SECONDS + 5)
        time.sleep(STEADY_SECONDS)
    sent = load.snapshot()

    during = [s for s in sent if stopped <= s.started < starting]
    in_flight = [s for s in sent if s.started < stopped and s.ended > stopping]
    steady = [s for s in sent if recovered is not None and s.started > recovered + 0.5]
    unavailable = [s for s in sent if s.status == 503]
    slowest_during = max(s.seconds for s in during)
    slowest_in_flight = max((s.seconds for s in in_flight), default=0.0)
    recovery = None if recovered is None else recovered - started
    print(
        f"\noutage figures: {len(sent)} requests"
        f" ({sum(s.kind == 'write' for s in sent)} writes,"
        f" {len(acknowledged_ids(sent))} acknowledged);"
        f" {len(during)} sent during the {starting - stopped:.1f} s outage,"
        f" {len(unavailable)} answered 503 in all;"
        f" slowest answer during the outage {slowest_during:.2f} s;"
        f" {len(in_flight)} in flight at the stop (pg_ctl stop took {stopped - stopping:.2f} s),"
        f" slowest {slowest_in_flight:.2f} s;"
        f" first write acknowledged {recovery if recovery is None else round(recovery, 2)} s"
        f" after the database was back (pg_ctl start took {started - starting:.2f} s)"
    )

    assert {s.status for s in sent} <= {200, 201, 503}, sorted({s.status for s in sent})
    assert during, "no request was sent while the database was down"
    for s in during:
        assert s.seconds <= ANSWER_LIMIT_SECONDS, s
        if s.ended < starting:
            assert_unavailable(s)
    for s in in_flight:
        assert s.seconds <= IN_FLIGHT_LIMIT_SECONDS, s
        if s.status == 503:
            assert_unavailable(s)
    assert recovery is not None and recovery <= RECOVERY_LIMIT_SECONDS, recovery
    assert steady and all(s.succeeded for s in steady), [s for s in steady if not s.succeeded]

    for household_id in acknowledged_ids(sent):
        answer = cadre.get(f"/v1/households/{household_id}")
        assert answer.status_code == 200, f"acknowledged {household_id}: {answer.status_code}"
    head = max(s.log_position or 0 for s in sent)
    assert set(acknowledged_ids(sent)) <= listed_ids(cadre, head), "projection did not resume"
    alive = {thread.name for thread in threading.enumerate() if thread.is_alive()}
    assert {"anju-projections", "anju-deadlines", "anju-checkpoints"} <= alive
    assert checkpoint_reaches(outage_server, head), "the checkpoint schedule did not resume"


@pytest.mark.postgres
def test_with_postgres_down_readyz_and_requests_answer_503_quickly_and_ready_again_after(
    live_cluster: Cluster, outage_server: LiveServer
) -> None:
    token = cadre_of_a_new_community(outage_server)
    cadre = outage_server.client(token)
    plain = outage_server.client()
    assert plain.get("/readyz").status_code == 200

    live_cluster.stop()
    for client, path in ((plain, "/readyz"), (cadre, "/v1/me"), (cadre, "/v1/households")):
        began = time.monotonic()
        answer = client.get(path, params={"community_id": "xingfu"})
        took = time.monotonic() - began

        assert answer.status_code == 503, f"{path}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.headers.get("retry-after"), path
        assert took <= ANSWER_LIMIT_SECONDS, f"{path} took {took:.2f} s"
    assert plain.get("/healthz").status_code == 200

    live_cluster.start()
    deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
    for client, path in ((plain, "/readyz"), (cadre, "/v1/me")):
        while (status := client.get(path).status_code) != 200:
            assert status == 503, f"{path}: {status}"
            assert time.monotonic() < deadline, f"{path} did not recover"
            time.sleep(0.1)


def test_a_busy_or_locked_sqlite_file_counts_as_an_outage_and_a_missing_table_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.OperationalError) as missing:
            holder.execute("SELECT * FROM no_such_table")
    finally:
        holder.execute("ROLLBACK")
        other.close()
        holder.close()

    assert is_outage(busy.value)
    assert not is_outage(missing.value)


def test_a_refused_connection_and_a_pool_wait_count_as_an_outage_and_a_bug_does_not() -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=2)
    wrapped = RuntimeError("the library wraps what the driver raised")
    wrapped.__cause__ = refused.value

    assert is_outage(refused.value)
    assert is_outage(wrapped)
    assert is_outage(DatabaseUnavailable("couldn't get a connection after 1.00 sec"))
    assert not is_outage(psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"))
    assert not is_outage(ValueError("a bug"))
