"""Parties an older version stored in any shape still render: what nests too deep is null.

Older versions accepted ``parties`` of any shape, so a log may hold a case
whose parties nest 900 levels deep. The case, its history and every list
holding it answer 200: parties are shown within the shape accepted today (a
list of names or flat records), anything deeper as null.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.deadlines import Deadlines
from domain.grievance import Grievance
from tests.e2e.conftest import LiveServer, World

DEPTH = 900


def nested(depth: int) -> list[Any]:
    value: list[Any] = ["张三"]
    for _ in range(depth - 1):
        value = [value]
    return value


def recorded_by_an_older_version(server: LiveServer, household_id: str, parties: Any) -> str:
    """A case whose sealed parties hold ``parties`` as they are, committed straight to the log."""
    services = server.county.services
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5 * DEPTH))
    try:
        sealed = services.vault.seal(UUID(household_id), json.dumps(parties, ensure_ascii=False))
    finally:
        sys.setrecursionlimit(limit)
    now = services.clock.now()
    case = Grievance.file(
        grievance_id=uuid4(),
        household_id=household_id,
        community_id="xingfu",
        grid_id="g1",
        category="neighbour_dispute",
        urgency="normal",
        channel="walk_in",
        summary="邻里纠纷",
        description=None,
        received_at=now,
        visit_id=None,
        parties=sealed,
        deadlines=Deadlines(now + timedelta(days=1), now + timedelta(days=5), "old"),
        actor="older-version",
        now=now,
    )
    services.book.commit(lambda: [case])
    return str(case.id)


def readings(world: World, case_id: str, household_id: str) -> dict[str, Any]:
    """The case, its history and the lists holding it, as the cadre reads them."""
    head = world.head()
    paths = {
        "case": f"/v1/grievances/{case_id}",
        "history": f"/v1/grievances/{case_id}/history",
        "list": f"/v1/grievances?household_id={household_id}&consistent_with={head}",
        "all": f"/v1/grievances?consistent_with={head}",
    }
    found = {}
    for name, path in paths.items():
        answer = world.cadre.client.get(path)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text[:300]}"
        found[name] = answer.json()
    return found


def test_a_case_with_parties_nested_900_levels_reads_with_those_parties_null(
    server: LiveServer, world: World
) -> None:
    household = world.household()["id"]
    case_id = recorded_by_an_older_version(server, household, nested(DEPTH))

    seen = readings(world, case_id, household)

    assert seen["case"]["parties"] in (None, [None])
    assert seen["history"][0]["data"]["parties"] in (None, [None])
    assert [item["id"] for item in seen["list"]["items"]] == [case_id]
    assert seen["list"]["items"][0]["parties"] == seen["case"]["parties"]
    audit = world.auditor.client.get("/v1/audit/events", params={"aggregate_id": case_id})
    assert audit.status_code == 200, audit.text


def test_parties_in_shapes_accepted_today_read_as_they_were_and_deeper_values_are_null(
    server: LiveServer, world: World
) -> None:
    household = world.household()["id"]
    parties = [
        "李四",
        {"name": "王五", "age": 40, "resident": True, "note": None},
        {"name": "赵六", "relatives": [{"name": "钱七"}]},
        ["孙八"],
    ]
    case_id = recorded_by_an_older_version(server, household, parties)

    seen = readings(world, case_id, household)

    expected = [
        "李四",
        {"name": "王五", "age": 40, "resident": True, "note": None},
        {"name": "赵六", "relatives": None},
        None,
    ]
    assert seen["case"]["parties"] == expected
    assert seen["history"][0]["data"]["parties"] == expected
