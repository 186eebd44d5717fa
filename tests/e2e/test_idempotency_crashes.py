"""Idempotency holds across crashes: a server SIGKILLed under a write load, then retried.

Each round starts `anju serve` as a process of its own, sends POSTs with fresh
Idempotency-Keys from several threads, and kills the server at a seeded random
moment. The next round first retries every key of the round before (answered
or not) against the restarted server. In the end:

- every acknowledged write is in the log;
- no command ran twice: each key made exactly one aggregate, and the log holds
  exactly as many as there were keys;
- every retry of an acknowledged key answered with the first outcome (status,
  id and version), and every retry of an unanswered key answered with success.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.bootstrap import open_county
from application.actors import SYSTEM
from application.organisation import actor_of
from infrastructure.settings import Settings
from tests.integration.projection_processes import start_anju, stop

KILLS = 5
ANSWERS_BEFORE_KILL = 8
THREADS = 4
SEED = 20261201
CREATED = {"/v1/grievances": "anju:Grievance.Filed", "/v1/visits": "anju:Visit.Logged"}


@dataclass
class Sent:
    key: str
    path: str
    body: dict[str, Any]
    first: tuple[int, str | None, int | None] | None = None  # status, id, version
    retries: list[tuple[int, str | None, int | None]] = field(default_factory=list)


@dataclass
class Stage:
    settings: Settings
    token: str
    households: list[str]


@pytest.fixture
def stage(county_settings: Settings) -> Iterator[Stage]:
    county = open_county(county_settings)
    try:
        org = county.services.organisation
        org.found_community(
            SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县"
        )
        org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")
        cadre, _ = org.open_account(
            SYSTEM, username="cadre", display_name="李干部", role="cadre", community_id="xingfu"
        )
        token, _ = org.issue_token(SYSTEM, cadre.id)
        actor = actor_of(org.account(cadre.id))
        households = [
            county.services.households.register(
                actor,
                community_id="xingfu",
                grid_id="g1",
                head_name=f"住户{n}",
                member_count=3,
                address={"building": "1", "unit": "1", "room": f"{100 + n}"},
                origin={"township": "雷山镇", "village": "乌东村"},
                relocated_on=datetime(2019, 6, 1).date(),
            )[0].id
            for n in range(3)
        ]
    finally:
        county.close()
    yield Stage(county_settings, token.token, households)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings) -> tuple[Any, str]:
    port = free_port()
    process = start_anju(settings, "serve", "--port", str(port), "--no-watcher")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"anju serve ended with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(process)
    raise AssertionError("anju serve did not come up")


def outcome(answer: httpx.Response) -> tuple[int, str | None, int | None]:
    data = answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
    return answer.status_code, data.get("id"), data.get("version")


def command(n: int, rng: random.Random, stage: Stage) -> Sent:
    household = rng.choice(stage.households)
    moment = (datetime.now(UTC) - timedelta(hours=rng.randint(1, 48))).isoformat()
    if n % 2:
        body: dict[str, Any] = {
            "household_id": household,
            "visited_at": moment,
            "channel": "in_person",
            "purpose": "routine",
            "notes": f"第{n}次走访",
        }
        return Sent(f"crash-{uuid.uuid4()}", "/v1/visits", body)
    body = {
        "household_id": household,
        "category": "facilities",
        "urgency": "normal",
        "channel": "visit",
        "summary": f"楼道灯不亮 {n}",
        "received_at": moment,
    }
    return Sent(f"crash-{uuid.uuid4()}", "/v1/grievances", body)


def load(
    url: str, stage: Stage, sent: list[Sent], rng: random.Random, stop_at: threading.Event
) -> None:
    """Send commands until ``stop_at`` or 200 commands; each remembers its first answer."""
    lock = threading.Lock()
    counter = iter(range(len(sent), len(sent) + 200))

    def worker() -> None:
        with httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {stage.token}"}
        ) as client:
            while not stop_at.is_set():
                with lock:
                    n = next(counter, None)
                    if n is None:
                        return
                    item = command(n, rng, stage)
                    sent.append(item)
                try:
                    answer = client.post(
                        item.path, json=item.body, headers={"Idempotency-Key": item.key}
                    )
                except httpx.HTTPError:
                    return  # the server died under this request: its outcome is unknown
                item.first = outcome(answer)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def retry_all(url: str, stage: Stage, sent: list[Sent]) -> None:
    with httpx.Client(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {stage.token}"}
    ) as client:
        for item in sent:
            answer = client.post(item.path, json=item.body, headers={"Idempotency-Key": item.key})
            item.retries.append(outcome(answer))


def created_in_log(settings: Settings) -> Counter[str]:
    county = open_county(settings)
    try:
        recorder = county.book.recorder
        counts: Counter[str] = Counter()
        for topic in CREATED.values():
            counts[topic] = len(recorder.select_notifications(0, 1_000_000, topics=[topic]))
        return counts
    finally:
        county.close()


def wait_for_answers(sent: list[Sent], count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len([s for s in sent if s.first is not None]) >= count:
            return
        time.sleep(0.01)


def test_keys_retried_after_sigkills_get_the_first_outcome_and_commands_run_once(
    stage: Stage,
) -> None:
    rng = random.Random(SEED)
    sent: list[Sent] = []
    for _ in range(KILLS):
        started = time.monotonic()
        process, url = serve(stage.settings)
        print(f"served in {time.monotonic() - started:.1f} s")
        try:
            retry_all(url, stage, sent)
            stop_at = threading.Event()
            loader = threading.Thread(target=load, args=(url, stage, sent, rng, stop_at))
            loader.start()
            answered = len([s for s in sent if s.first is not None])
            wait_for_answers(sent, answered + ANSWERS_BEFORE_KILL, seconds=30)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            process.kill()  # SIGKILL, mid-load
            process.wait(timeout=30)
        stop_at.set()
        loader.join(timeout=60)
    process, url = serve(stage.settings)
    try:
        retry_all(url, stage, sent)
    finally:
        stop(process)

    acknowledged = [s for s in sent if s.first is not None and s.first[0] in (200, 201)]
    unanswered = [s for s in sent if s.first is None]
    print(
        f"\n{len(sent)} commands over {KILLS} kills: {len(acknowledged)} acknowledged,"
        f" {len(unanswered)} cut off by a kill, {sum(len(s.retries) for s in sent)} retries"
    )
    assert len(acknowledged) > 20 and unanswered, "the load never met a kill mid-request"
    for item in sent:
        assert item.retries, item.key
        final = item.retries[-1]
        assert final[0] == 201, (item.key, item.first, item.retries)
        expected = item.first if item in acknowledged else final
        assert all(r == expected for r in item.retries), (item.key, item.first, item.retries)
    made = Counter(s.path for s in sent)
    in_log = created_in_log(stage.settings)
    for path, topic in CREATED.items():
        assert in_log[topic] == made[path], (path, in_log[topic], made[path])
    assert len({s.retries[-1][1] for s in sent}) == len(sent)
