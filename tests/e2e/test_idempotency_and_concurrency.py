"""Idempotency-Key, If-Match and concurrent writers, over real HTTP from many threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.e2e.conftest import World, assert_command, assert_problem, grievance_body

THREADS = 20


def together(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run ``call`` from ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(n: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return call(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_repeats_with_one_key_record_one_set_of_events(world: World) -> None:
    household = world.household()
    body = grievance_body(household["id"], summary="楼道灯不亮 💡")
    clients = [world.server.client(world.cadre.token) for _ in range(THREADS)]
    before = world.head()

    answers = together(
        THREADS,
        lambda n: clients[n].post(
            "/v1/grievances", json=body, headers={"Idempotency-Key": "same-key-1"}
        ),
    )

    assert Counter(a.status_code for a in answers) == {201: THREADS}, [
        (a.status_code, a.text[:200]) for a in answers
    ]
    first = answers[0]
    assert {a.content for a in answers} == {first.content}
    for header in ("location", "etag", "log-position", "content-type"):
        assert {a.headers.get(header) for a in answers} == {first.headers.get(header)}, header
    case = assert_command(first, 201)
    assert world.events_since(before) == 1
    assert int(first.headers["log-position"]) == world.head()

    listed = world.supervisor.client.get(
        "/v1/grievances", params={"household_id": household["id"]}
    ).json()["items"]
    assert [item["id"] for item in listed] == [case["id"]]

    later = world.cadre.client.post(
        "/v1/grievances", json=body, headers={"Idempotency-Key": "same-key-1"}
    )
    assert later.status_code == 201
    assert later.content == first.content
    assert world.events_since(before) == 1


def test_concurrent_repeats_of_a_lifecycle_command(world: World) -> None:
    case = world.case_in("in_progress")
    clients = [world.server.client(world.cadre.token) for _ in range(THREADS)]
    before = world.head()
    answers = together(
        THREADS,
        lambda n: clients[n].post(
            f"/v1/grievances/{case}/note",
            json={"text": "已联系物业"},
            headers={"Idempotency-Key": f"note-{case}"},
        ),
    )
    assert {a.status_code for a in answers} == {200}, [(a.status_code, a.text) for a in answers]
    assert len({a.content for a in answers}) == 1
    assert world.events_since(before) == 1


def test_the_same_key_with_another_body_is_refused(world: World) -> None:
    household = world.household()
    cadre = world.cadre.client
    first = cadre.post(
        "/v1/grievances",
        json=grievance_body(household["id"]),
        headers={"Idempotency-Key": "k-42"},
    )
    assert first.status_code == 201
    before = world.head()
    other = cadre.post(
        "/v1/grievances",
        json=grievance_body(household["id"], summary="另一件事"),
        headers={"Idempotency-Key": "k-42"},
    )
    assert_problem(other, 422)
    elsewhere = cadre.post(
        "/v1/visits",
        json={
            "household_id": household["id"],
            "visited_at": "2026-01-05T09:30:00+08:00",
            "channel": "phone",
            "purpose": "routine",
            "notes": "电话回访",
        },
        headers={"Idempotency-Key": "k-42"},
    )
    assert_problem(elsewhere, 422)
    assert world.head() == before
    again = cadre.post(
        "/v1/grievances",
        json=grievance_body(household["id"]),
        headers={"Idempotency-Key": "k-42"},
    )
    assert again.status_code == 201
    assert again.content == first.content
    assert world.head() == before


def test_a_stale_if_match_is_412_and_records_nothing(world: World) -> None:
    case = world.case_in("in_progress")
    current = world.cadre.client.get(f"/v1/grievances/{case}")
    version = current.json()["version"]
    assert current.headers["etag"] == f'"{version}"'

    noted = world.cadre.client.post(
        f"/v1/grievances/{case}/note", json={"text": "第一次"}, headers={"If-Match": f'"{version}"'}
    )
    assert assert_command(noted)["version"] == version + 1
    before = world.head()
    for stale in (f'"{version}"', f'"{version - 1}"', f'"{version + 5}"', '"abc"'):
        refused = world.cadre.client.post(
            f"/v1/grievances/{case}/note", json={"text": "过期"}, headers={"If-Match": stale}
        )
        assert_problem(refused, 412)
    household = world.household()
    refused = world.cadre.client.post(
        f"/v1/households/{household['id']}/tags",
        json={"add": ["disability"]},
        headers={"If-Match": f'"{household["version"] + 1}"'},
    )
    assert_problem(refused, 412)
    assert world.events_since(before) == 1  # the household only
    fresh = world.cadre.client.post(
        f"/v1/grievances/{case}/note",
        json={"text": "当前版本"},
        headers={"If-Match": noted.headers["etag"]},
    )
    assert assert_command(fresh)["version"] == version + 2


def test_concurrent_writers_with_one_if_match_one_wins(world: World) -> None:
    case = world.case_in("in_progress")
    version = world.cadre.client.get(f"/v1/grievances/{case}").json()["version"]
    clients = [world.server.client(world.supervisor.token) for _ in range(10)]
    before = world.head()
    answers = together(
        10,
        lambda n: clients[n].post(
            f"/v1/grievances/{case}/note",
            json={"text": f"第{n}条"},
            headers={"If-Match": f'"{version}"'},
        ),
    )
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 412: 9}, [(a.status_code, a.text[:200]) for a in answers]
    assert world.events_since(before) == 1


def test_concurrent_writers_without_if_match_all_land_in_order(world: World) -> None:
    case = world.case_in("in_progress")
    start = world.cadre.client.get(f"/v1/grievances/{case}").json()["version"]
    clients = [world.server.client(world.supervisor.token) for _ in range(10)]
    before = world.head()
    answers = together(
        10,
        lambda n: clients[n].post(f"/v1/grievances/{case}/note", json={"text": f"第{n}条"}),
    )
    assert all(a.status_code in (200, 409) for a in answers), [
        (a.status_code, a.text[:200]) for a in answers
    ]
    landed: list[dict[str, Any]] = [a.json() for a in answers if a.status_code == 200]
    assert landed, "no writer succeeded"
    versions = sorted(item["version"] for item in landed)
    assert versions == list(range(start + 1, start + 1 + len(landed)))
    # On PostgreSQL a lost race can burn a position, so count the events, not the head.
    assert world.events_since(before) == len(landed)
    final = world.cadre.client.get(f"/v1/grievances/{case}").json()
    assert final["version"] == start + len(landed)
