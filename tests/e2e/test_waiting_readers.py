"""Reads that wait for the read models (`consistent_with`) never starve other requests.

A position beyond the log's head names nothing: 422 at once. A position the log
holds but the read models have not folded yet is waited for by a few readers at
most; any more are answered 503 with Retry-After at once, so sixty of them hold
no worker thread and `GET /v1/me` answers as fast as ever.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from application.projections import WAITING_READERS
from tests.e2e.conftest import World, assert_problem, household_body

READERS = 60


def test_consistent_with_beyond_the_head_is_refused_at_once(world: World) -> None:
    beyond = world.server.head() + 1_000_000
    started = time.monotonic()

    answer = world.auditor.client.get("/v1/households", params={"consistent_with": beyond})

    assert time.monotonic() - started < 1.0
    body = assert_problem(answer, 422)
    assert body["errors"][0]["loc"] == ["query", "consistent_with"]
    assert str(beyond) not in answer.text


def test_sixty_readers_waiting_for_a_position_do_not_slow_anyone_else(world: World) -> None:
    server = world.server
    projections = server.county.services.projections

    def read(position: int) -> tuple[int, float, str | None]:
        with server.client(world.auditor.token) as client:
            started = time.monotonic()
            answer = client.get("/v1/households", params={"consistent_with": position})
            return answer.status_code, time.monotonic() - started, answer.headers.get("retry-after")

    pool = ThreadPoolExecutor(max_workers=READERS)
    try:
        # Holding the runner's lock stands for a projection busy with a long batch.
        with projections._lock:
            made = world.cadre.client.post("/v1/households", json=household_body())
            assert made.status_code == 201, made.text
            position = int(made.headers["log-position"])
            assert projections.position() < position <= server.head()
            readers = [pool.submit(read, position) for _ in range(READERS)]
            time.sleep(0.5)  # every reader has arrived: it waits, or was told to come back
            me_times = []
            for _ in range(5):
                started = time.monotonic()
                assert world.cadre.client.get("/v1/me").status_code == 200
                me_times.append(time.monotonic() - started)
            turned_away = sum(1 for reader in readers if reader.done())
        # Once the read models catch up, the few waiting readers answer.
        answers = [reader.result() for reader in readers]
    finally:
        pool.shutdown()

    assert max(me_times) < 1.0, me_times
    assert turned_away >= READERS - WAITING_READERS
    refused = [(took, retry) for status, took, retry in answers if status == 503]
    assert len(refused) >= READERS - WAITING_READERS
    assert all(retry for _, retry in refused)
    # Turned away at once: well within the 10 s a waiting reader may be held.
    assert all(took < 3.0 for took, _ in refused), refused
    assert sorted({status for status, _, _ in answers}) == [200, 503]
    listed = world.auditor.client.get("/v1/households", params={"consistent_with": position})
    assert listed.status_code == 200
    assert made.json()["id"] in [item["id"] for item in listed.json()["items"]]


def test_a_reader_waiting_for_a_position_answers_once_it_is_folded(world: World) -> None:
    projections = world.server.county.services.projections
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with projections._lock:
            made = world.cadre.client.post("/v1/households", json=household_body())
            position = int(made.headers["log-position"])
            waiting = pool.submit(
                world.auditor.client.get, "/v1/households", params={"consistent_with": position}
            )
            time.sleep(0.3)
            assert not waiting.done()
        released = time.monotonic()
        answer: httpx.Response = waiting.result()
    finally:
        pool.shutdown()

    assert answer.status_code == 200
    assert time.monotonic() - released < 5.0
    assert made.json()["id"] in [item["id"] for item in answer.json()["items"]]
