"""Every endpoint of the HTTP contract (organisation, households, visits, grievances, operations) over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.settings import Settings
from tests.e2e.conftest import (
    LiveServer,
    World,
    assert_command,
    assert_problem,
    grievance_body,
    household_body,
    iso,
    now,
    running,
    visit_body,
    yesterday,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def entries_of(body: Any) -> list[Any]:
    """The entries of a history answer, whether a bare list or a page of items/events."""
    if isinstance(body, list):
        return body
    assert isinstance(body, dict), body
    for key in ("items", "events", "history"):
        if isinstance(body.get(key), list):
            return list(body[key])
    raise AssertionError(f"no list of entries in {body}")


def ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) >= {"items", "next_cursor"}, body
    return {item["id"] for item in body["items"]}


def pause_for_clock() -> datetime:
    """A moment strictly between what was recorded before and what is recorded after."""
    time.sleep(0.05)
    moment = now()
    time.sleep(0.05)
    return moment


# -- operations -------------------------------------------------------------------------


def test_operations_endpoints_are_open(http: Callable[..., httpx.Client]) -> None:
    anonymous = http()
    health = anonymous.get("/healthz")
    assert health.status_code == 200
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    spec = anonymous.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert "anju_log_head_position" in metrics.text


CONTRACT_OPERATIONS = [
    ("post", "/v1/communities"),
    ("get", "/v1/communities"),
    ("post", "/v1/communities/{community_id}/grids"),
    ("get", "/v1/communities/{community_id}"),
    ("post", "/v1/accounts"),
    ("post", "/v1/accounts/{account_id}/tokens"),
    ("delete", "/v1/accounts/{account_id}/tokens/{token_id}"),
    ("get", "/v1/me"),
    ("post", "/v1/households"),
    ("get", "/v1/households"),
    ("get", "/v1/households/{household_id}"),
    ("get", "/v1/households/{household_id}/history"),
    ("post", "/v1/households/{household_id}/contact-cadre"),
    ("post", "/v1/households/{household_id}/move"),
    ("post", "/v1/households/{household_id}/tags"),
    ("post", "/v1/households/{household_id}/employment"),
    ("post", "/v1/households/{household_id}/life-events"),
    ("post", "/v1/households/{household_id}/erase"),
    ("post", "/v1/visits"),
    ("get", "/v1/visits"),
    ("get", "/v1/visits/{visit_id}"),
    ("get", "/v1/visits/{visit_id}/history"),
    ("post", "/v1/visits/{visit_id}/amend"),
    ("post", "/v1/visits/{visit_id}/void"),
    ("post", "/v1/grievances"),
    ("get", "/v1/grievances"),
    ("get", "/v1/grievances/{grievance_id}"),
    ("get", "/v1/grievances/{grievance_id}/history"),
    *[
        ("post", f"/v1/grievances/{{grievance_id}}/{verb}")
        for verb in [
            "assign",
            "accept",
            "decline",
            "note",
            "escalate",
            "extend",
            "urge",
            "resolve",
            "feedback",
            "feedback-link",
            "close",
            "withdraw",
            "merge",
        ]
    ],
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
]


def test_openapi_describes_every_contract_operation(server: LiveServer) -> None:
    paths = server.client().get("/openapi.json").json()["paths"]

    def shape(path: str) -> str:
        return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))

    described = {(method, shape(path)) for path, item in paths.items() for method in item}
    missing = [f"{m.upper()} {p}" for m, p in CONTRACT_OPERATIONS if (m, shape(p)) not in described]
    assert not missing, f"operations of the HTTP contract missing from /openapi.json: {missing}"


# -- organisation and accounts ----------------------------------------------------------


def test_communities_and_grids(world: World) -> None:
    admin = world.admin.client
    made = admin.post(
        "/v1/communities",
        json={"id": "heping", "name": "和平社区", "township": "城关镇", "county": "示范县"},
    )
    community = assert_command(made, 201)
    assert made.headers["location"].endswith("/v1/communities/heping")
    assert community["id"] == "heping"
    assert community["name"] == "和平社区"
    assert community["township"] == "城关镇"
    assert community["county"] == "示范县"

    grid = admin.post("/v1/communities/heping/grids", json={"id": "g7", "name": "第七网格"})
    with_grid = assert_command(grid, 201)
    assert with_grid["version"] > community["version"]
    assert {"id": "g7", "name": "第七网格"} in with_grid["grids"]

    listed = admin.get("/v1/communities")
    assert listed.status_code == 200
    page = listed.json()
    assert "next_cursor" in page
    assert {item["id"] for item in page["items"]} >= {"xingfu", "anle", "heping"}

    one = admin.get("/v1/communities/heping")
    assert one.status_code == 200
    assert one.headers["etag"] == f'"{one.json()["version"]}"'
    assert one.json()["grids"] == [{"id": "g7", "name": "第七网格"}]
    xingfu = admin.get("/v1/communities/xingfu").json()
    assert {grid["id"] for grid in xingfu["grids"]} == {"g1", "g2"}

    assert_problem(admin.get("/v1/communities/nowhere"), 404)
    assert_problem(admin.post("/v1/communities/nowhere/grids", json={"id": "g1", "name": "x"}), 404)


def test_accounts_tokens_me_and_revocation(world: World) -> None:
    admin = world.admin.client
    made = admin.post(
        "/v1/accounts",
        json={
            "username": "zhang",
            "display_name": "张书记",
            "role": "supervisor",
            "township": "城关镇",
        },
    )
    account = assert_command(made, 201)
    assert made.headers["location"]
    assert account["username"] == "zhang"
    assert account["role"] == "supervisor"
    assert account["township"] == "城关镇"

    grid_cadre = admin.post(
        "/v1/accounts",
        json={
            "username": "li",
            "display_name": "李网格长",
            "role": "cadre",
            "community_id": "xingfu",
            "grid_id": "g2",
        },
    )
    assert assert_command(grid_cadre, 201)["grid_id"] == "g2"

    issued = admin.post(f"/v1/accounts/{account['id']}/tokens")
    assert issued.status_code == 201, issued.text
    assert issued.headers.get("log-position", "").isdigit()
    token = issued.json()
    assert set(token) >= {"id", "token"}
    assert token["token"] and token["id"]

    me = world.server.client(token["token"]).get("/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == account["id"]
    assert me.json()["role"] == "supervisor"
    assert me.json()["township"] == "城关镇"
    assert me.headers["etag"] == f'"{me.json()["version"]}"'

    cadre_me = world.cadre.client.get("/v1/me").json()
    assert cadre_me["id"] == world.cadre.id
    assert (cadre_me["role"], cadre_me["community_id"]) == ("cadre", "xingfu")

    before = world.head()
    revoked = admin.delete(f"/v1/accounts/{account['id']}/tokens/{token['id']}")
    assert revoked.status_code == 204
    assert revoked.headers.get("log-position", "").isdigit()
    assert int(revoked.headers["log-position"]) > before
    refused = world.server.client(token["token"]).get("/v1/me")
    assert_problem(refused, 401)

    assert_problem(admin.post(f"/v1/accounts/{UNKNOWN}/tokens"), 404)
    assert_problem(admin.delete(f"/v1/accounts/{account['id']}/tokens/{UNKNOWN}"), 404)
    assert_problem(world.anonymous.get("/v1/me"), 401)
    assert_problem(world.server.client("anju_not-a-token").get("/v1/me"), 401)


def test_a_revoked_token_fails_on_the_very_next_call(world: World) -> None:
    cadre = world.cadre
    household = world.household(by=cadre)
    revoked = world.admin.client.delete(f"/v1/accounts/{cadre.id}/tokens/{cadre.token_id}")
    assert revoked.status_code == 204
    before = world.head()
    assert_problem(cadre.client.get(f"/v1/households/{household['id']}"), 401)
    assert_problem(cadre.client.post("/v1/households", json=household_body()), 401)
    assert world.head() == before


# -- households -------------------------------------------------------------------------


def test_household_lifecycle(world: World) -> None:
    cadre = world.cadre.client
    body = household_body(tags=["low_income", "party_member"])
    made = cadre.post("/v1/households", json=body)
    household = assert_command(made, 201)
    hid = household["id"]
    assert made.headers["location"].endswith(f"/v1/households/{hid}")
    for key in ("community_id", "grid_id", "head_name", "member_count", "phone", "id_number"):
        assert household[key] == body[key], key
    assert household["address"] == body["address"]
    assert household["origin"] == body["origin"]
    assert household["relocated_on"] == body["relocated_on"]
    assert set(household["tags"]) == {"low_income", "party_member"}

    read = cadre.get(f"/v1/households/{hid}")
    assert read.status_code == 200
    assert read.headers["etag"] == f'"{household["version"]}"'
    assert read.json() == household
    as_first_registered = pause_for_clock()

    linked = cadre.post(f"/v1/households/{hid}/contact-cadre", json={"cadre_id": world.cadre2.id})
    assert assert_command(linked)["contact_cadre_id"] == world.cadre2.id

    moved = cadre.post(
        f"/v1/households/{hid}/move",
        json={"grid_id": "g2", "address": {"building": "5", "unit": "1", "room": "102"}},
    )
    moved_body = assert_command(moved)
    assert moved_body["grid_id"] == "g2"
    assert moved_body["address"] == {"building": "5", "unit": "1", "room": "102"}

    tagged = cadre.post(
        f"/v1/households/{hid}/tags", json={"add": ["elderly_alone"], "remove": ["low_income"]}
    )
    assert set(assert_command(tagged)["tags"]) == {"party_member", "elderly_alone"}

    employment = cadre.post(
        f"/v1/households/{hid}/employment",
        json={"labour_force": 2, "employed": 0, "note": "两人待业"},
    )
    employed = assert_command(employment)
    assert (employed["labour_force"], employed["employed"]) == (2, 0)
    assert employed["zero_employment"] is True

    occurred = yesterday()
    event = cadre.post(
        f"/v1/households/{hid}/life-events",
        json={"kind": "illness", "occurred_on": occurred, "note": "住院"},
    )
    assert event.status_code == 201, event.text
    assert event.headers.get("location")
    assert event.headers.get("log-position", "").isdigit()
    recorded = event.json()
    assert recorded["life_event_id"]
    due = date.fromisoformat(recorded["visit_due_by"])
    assert due == date.fromisoformat(occurred) + timedelta(days=3)

    now_view = cadre.get(f"/v1/households/{hid}")
    assert now_view.status_code == 200
    version = now_view.json()["version"]
    assert version == household["version"] + 5

    history = cadre.get(f"/v1/households/{hid}/history")
    assert history.status_code == 200, history.text
    assert len(entries_of(history.json())) == version

    then = cadre.get(f"/v1/households/{hid}", params={"as_of": iso(as_first_registered)})
    assert then.status_code == 200, then.text
    assert then.json()["version"] == household["version"]
    assert then.json()["grid_id"] == "g1"
    assert set(then.json()["tags"]) == {"low_income", "party_member"}
    assert_problem(cadre.get(f"/v1/households/{hid}", params={"as_of": "2026-11-20T09:30:00"}), 422)

    assert_problem(cadre.get(f"/v1/households/{UNKNOWN}"), 404)
    assert_problem(cadre.get("/v1/households/not-a-uuid"), 404)
    assert_problem(cadre.get(f"/v1/households/{UNKNOWN}/history"), 404)
    assert_problem(cadre.post(f"/v1/households/{UNKNOWN}/tags", json={"add": ["disability"]}), 404)


def test_erasing_a_household_makes_its_personal_data_unreadable(world: World) -> None:
    household = world.household(id_number="522601198503150027")
    hid = household["id"]
    world.visit(hid)
    erased = world.admin.client.post(
        f"/v1/households/{hid}/erase", json={"legal_basis": "PIPL 第47条 本人申请删除"}
    )
    body = assert_command(erased)
    assert body["erased"] is True
    assert (body["head_name"], body["phone"], body["id_number"]) == (None, None, None)

    for reader in (world.cadre, world.supervisor, world.auditor):
        seen = reader.client.get(f"/v1/households/{hid}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["erased"] is True
        assert (seen.json()["head_name"], seen.json()["phone"], seen.json()["id_number"]) == (
            None,
            None,
            None,
        )
    history = world.supervisor.client.get(f"/v1/households/{hid}/history")
    assert history.status_code == 200, history.text
    assert "13812345678" not in history.text
    assert "522601198503150027" not in history.text
    assert "王秀英" not in history.text


def test_household_list_filters(world: World) -> None:
    first = world.household(
        head_name="王秀英", tags=["low_income"], origin={"township": "雷山镇", "village": "乌东村"}
    )
    second = world.household(
        grid_id="g2",
        head_name="李四",
        phone="13900001111",
        tags=["elderly_alone"],
        origin={"township": "丹寨镇", "village": "石桥村"},
    )
    idle = world.cadre.client.post(
        f"/v1/households/{second['id']}/employment", json={"labour_force": 2, "employed": 0}
    )
    assert idle.status_code == 200, idle.text
    third = world.household(
        by=world.outsider, community_id="anle", grid_id="g1", head_name="赵六", tags=[]
    )
    everyone = {first["id"], second["id"], third["id"]}
    auditor = world.auditor.client

    assert ids(auditor.get("/v1/households")) == everyone
    assert ids(auditor.get("/v1/households", params={"community_id": "anle"})) == {third["id"]}
    assert ids(auditor.get("/v1/households", params={"community_id": "xingfu"})) == {
        first["id"],
        second["id"],
    }
    assert ids(auditor.get("/v1/households", params={"grid_id": "g2"})) == {second["id"]}
    assert ids(auditor.get("/v1/households", params={"tag": "elderly_alone"})) == {second["id"]}
    assert ids(auditor.get("/v1/households", params={"zero_employment": "true"})) == {second["id"]}
    assert ids(auditor.get("/v1/households", params={"zero_employment": "false"})) == {
        first["id"],
        third["id"],
    }
    supervisor = world.supervisor.client
    assert ids(supervisor.get("/v1/households", params={"q": "李四"})) == {second["id"]}
    assert ids(supervisor.get("/v1/households", params={"q": "乌东村"})) == {first["id"]}
    assert ids(supervisor.get("/v1/households", params={"q": "没有这个人"})) == set()
    combined = {"community_id": "xingfu", "tag": "low_income", "zero_employment": "false"}
    assert ids(supervisor.get("/v1/households", params=combined)) == {first["id"]}


def test_paging(world: World) -> None:
    made = {world.household(head_name=f"户主{n:02d}")["id"] for n in range(51)}
    cadre = world.cadre.client

    default = cadre.get("/v1/households")
    assert default.status_code == 200
    assert len(default.json()["items"]) == 50
    assert default.json()["next_cursor"]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = cadre.get("/v1/households", params=params)
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert len(items) <= 7
        seen.extend(item["id"] for item in items)
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert pages < 20
    assert pages == 8
    assert len(seen) == len(set(seen)) == 51
    assert set(seen) == made

    everything = cadre.get("/v1/households", params={"limit": 500})
    assert everything.status_code == 200
    assert len(everything.json()["items"]) == 51
    assert everything.json()["next_cursor"] is None
    for endpoint in ("/v1/households", "/v1/visits", "/v1/grievances"):
        assert_problem(cadre.get(endpoint, params={"limit": 501}), 422)
        assert_problem(cadre.get(endpoint, params={"limit": 0}), 422)


# -- visits -----------------------------------------------------------------------------


def test_visit_lifecycle_and_filters(world: World) -> None:
    household = world.household()
    hid = household["id"]
    other_household = world.household(grid_id="g2")
    cadre = world.cadre.client
    two_hours_ago = now() - timedelta(hours=2)
    made = cadre.post(
        "/v1/visits",
        json={
            "household_id": hid,
            "visited_at": iso(two_hours_ago),
            "channel": "in_person",
            "purpose": "routine",
            "notes": "老人身体尚好",
        },
    )
    visit = assert_command(made, 201)
    vid = visit["id"]
    assert made.headers["location"].endswith(f"/v1/visits/{vid}")
    assert visit["household_id"] == hid
    assert visit["visitor_id"] == world.cadre.id
    assert "recorded_at" in visit
    assert visit["late_logged"] is False
    assert datetime.fromisoformat(visit["visited_at"]) == two_hours_ago

    late = world.visit(hid, visited_at=iso(now() - timedelta(days=3)), channel="phone")
    assert late["late_logged"] is True
    by_other = world.visit(other_household["id"], by=world.cadre2, channel="online")

    read = cadre.get(f"/v1/visits/{vid}")
    assert read.status_code == 200
    assert read.headers["etag"] == f'"{visit["version"]}"'
    assert read.json() == visit

    supervisor = world.supervisor.client
    assert ids(supervisor.get("/v1/visits", params={"household_id": hid})) == {vid, late["id"]}
    assert ids(supervisor.get("/v1/visits", params={"cadre_id": world.cadre2.id})) == {
        by_other["id"]
    }
    assert ids(supervisor.get("/v1/visits", params={"from": iso(now() - timedelta(days=1))})) == {
        vid,
        by_other["id"],
    }
    assert ids(supervisor.get("/v1/visits", params={"to": iso(now() - timedelta(days=1))})) == {
        late["id"]
    }
    window = {
        "from": iso(now() - timedelta(days=4)),
        "to": iso(now() - timedelta(days=2)),
        "household_id": hid,
    }
    assert ids(supervisor.get("/v1/visits", params=window)) == {late["id"]}

    amended = cadre.post(
        f"/v1/visits/{vid}/amend", json={"notes": "老人身体尚好，楼道灯已报修", "reason": "补充"}
    )
    amended_body = assert_command(amended)
    assert amended_body["notes"] == "老人身体尚好，楼道灯已报修"
    assert amended_body["version"] == visit["version"] + 1

    voided = cadre.post(f"/v1/visits/{vid}/void", json={"reason": "重复录入"})
    voided_body = assert_command(voided)
    assert voided_body["voided"] is True

    history = cadre.get(f"/v1/visits/{vid}/history")
    assert history.status_code == 200, history.text
    assert len(entries_of(history.json())) == 3

    conflict = assert_problem(
        cadre.post(f"/v1/visits/{vid}/amend", json={"notes": "再改", "reason": "又改"}), 409
    )
    assert conflict.get("state") == "voided"

    assert_problem(cadre.get(f"/v1/visits/{UNKNOWN}"), 404)
    assert_problem(cadre.get(f"/v1/visits/{UNKNOWN}/history"), 404)
    assert_problem(cadre.post(f"/v1/visits/{UNKNOWN}/void", json={"reason": "x"}), 404)


# -- grievances -------------------------------------------------------------------------


def test_filing_a_grievance(world: World) -> None:
    household = world.household()
    received = now() - timedelta(hours=5)
    made = world.cadre.client.post(
        "/v1/grievances",
        json={
            "household_id": household["id"],
            "category": "facilities",
            "urgency": "urgent",
            "channel": "hotline",
            "summary": "电梯停运",
            "description": "3栋2单元电梯停运两天，老人下不了楼",
            "received_at": iso(received),
            "parties": [{"name": "王秀英"}],
        },
    )
    case = assert_command(made, 201)
    assert made.headers["location"].endswith(f"/v1/grievances/{case['id']}")
    assert case["status"] == "filed"
    assert case["level"] == "grid"
    assert case["policy_version"]
    assert datetime.fromisoformat(case["received_at"]) == received
    assert datetime.fromisoformat(case["respond_by"]) == received + timedelta(hours=24)
    assert datetime.fromisoformat(case["resolve_by"]) == received + timedelta(days=3)

    defaulted = world.grievance(household["id"], urgency="emergency")
    received_default = datetime.fromisoformat(defaulted["received_at"])
    assert abs(received_default - now()) < timedelta(minutes=1)
    assert datetime.fromisoformat(defaulted["respond_by"]) == received_default + timedelta(hours=2)

    read = world.cadre.client.get(f"/v1/grievances/{case['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == f'"{case["version"]}"'
    assert read.json() == case
    assert_problem(world.cadre.client.get(f"/v1/grievances/{UNKNOWN}"), 404)
    assert_problem(world.cadre.client.get(f"/v1/grievances/{UNKNOWN}/history"), 404)


def test_every_grievance_verb(world: World) -> None:
    cadre, supervisor = world.cadre, world.supervisor
    household = world.household()
    cid = world.grievance(household["id"])["id"]

    def verb(by: Any, name: str, body: dict[str, Any], case_id: str = cid) -> dict[str, Any]:
        return assert_command(by.client.post(f"/v1/grievances/{case_id}/{name}", json=body))

    assert (
        verb(supervisor, "assign", {"assignee_id": cadre.id, "note": "请跟进"})["status"]
        == "assigned"
    )
    declined = verb(cadre, "decline", {"reason": "不在本人网格"})
    assert (declined["status"], declined["assignee_id"]) == ("filed", None)
    assigned = verb(supervisor, "assign", {"assignee_id": world.cadre2.id})
    assert (assigned["status"], assigned["assignee_id"]) == ("assigned", world.cadre2.id)
    accepted = verb(world.cadre2, "accept", {})
    assert accepted["status"] == "in_progress"
    noted = verb(world.cadre2, "note", {"text": "已联系物业"})
    assert noted["status"] == "in_progress"
    assert noted["version"] == accepted["version"] + 1
    extended = verb(supervisor, "extend", {"days": 10, "reason": "需厂家配件"})
    assert datetime.fromisoformat(extended["resolve_by"]) == datetime.fromisoformat(
        accepted["resolve_by"]
    ) + timedelta(days=10)
    assert verb(supervisor, "urge", {"note": "尽快办理"})["status"] == "in_progress"
    escalated = verb(world.cadre2, "escalate", {"reason": "需社区协调"})
    assert (escalated["status"], escalated["level"]) == ("filed", "community")
    verb(supervisor, "assign", {"assignee_id": cadre.id})
    verb(cadre, "accept", {})
    resolved = verb(cadre, "resolve", {"resolution": "已更换配件", "outcome": "resolved"})
    assert (resolved["status"], resolved["outcome"]) == ("resolved", "resolved")
    reopened = verb(supervisor, "feedback", {"rating": "unsatisfied", "solved": False})
    assert reopened["status"] == "in_progress"
    verb(cadre, "resolve", {"resolution": "再次维修", "outcome": "resolved"})
    closed = verb(
        supervisor, "feedback", {"rating": "satisfied", "solved": True, "comment": "满意"}
    )
    assert closed["status"] == "closed"

    conflict = assert_problem(
        cadre.client.post(
            f"/v1/grievances/{cid}/resolve", json={"resolution": "x", "outcome": "resolved"}
        ),
        409,
    )
    assert conflict["state"] == "closed"

    to_close = world.case_in("resolved")
    assert (
        verb(supervisor, "close", {"note": "居民未回访，核实已解决"}, to_close)["status"]
        == "closed"
    )

    to_withdraw = world.case_in("assigned")
    assert verb(cadre, "withdraw", {"reason": "居民撤回"}, to_withdraw)["status"] == "withdrawn"

    original = world.case_in("filed")
    duplicate = world.case_in("filed")
    merged = verb(supervisor, "merge", {"into": original}, duplicate)
    assert (merged["status"], merged["merged_into"]) == ("merged", original)

    history = cadre.client.get(f"/v1/grievances/{cid}/history")
    assert history.status_code == 200, history.text
    assert len(entries_of(history.json())) == closed["version"]

    for name, body in [
        ("assign", {"assignee_id": cadre.id}),
        ("accept", {}),
        ("decline", {"reason": "x"}),
        ("note", {"text": "x"}),
        ("escalate", {"reason": "x"}),
        ("extend", {"days": 1, "reason": "x"}),
        ("urge", {"note": "x"}),
        ("resolve", {"resolution": "x", "outcome": "resolved"}),
        ("feedback", {"rating": "satisfied", "solved": True}),
        ("close", {"note": "x"}),
        ("withdraw", {"reason": "x"}),
        ("merge", {"into": original}),
    ]:
        assert_problem(supervisor.client.post(f"/v1/grievances/{UNKNOWN}/{name}", json=body), 404)


def test_grievance_as_of(world: World) -> None:
    cid = world.case_in("filed")
    filed = world.cadre.client.get(f"/v1/grievances/{cid}").json()
    moment = pause_for_clock()
    world.act(world.supervisor, cid, "assign", {"assignee_id": world.cadre.id})
    world.act(world.cadre, cid, "accept", {})
    then = world.supervisor.client.get(f"/v1/grievances/{cid}", params={"as_of": iso(moment)})
    assert then.status_code == 200, then.text
    assert then.json()["status"] == "filed"
    assert then.json()["version"] == filed["version"]
    current = world.supervisor.client.get(f"/v1/grievances/{cid}").json()
    assert current["status"] == "in_progress"


def test_grievance_list_filters(world: World) -> None:
    cadre, supervisor, auditor = world.cadre, world.supervisor, world.auditor
    household = world.household()
    filed = world.grievance(household["id"], category="environment")["id"]
    assigned = world.case_in("assigned", assignee=world.cadre2, category="safety")
    working = world.case_in("in_progress", assignee=cadre)
    overdue = world.grievance(
        household["id"],
        urgency="emergency",
        category="health",
        received_at=iso(now() - timedelta(days=3)),
    )["id"]
    elsewhere_household = world.household(by=world.outsider, community_id="anle", grid_id="g1")
    elsewhere = world.grievance(elsewhere_household["id"], by=world.outsider)["id"]

    assert ids(auditor.client.get("/v1/grievances")) == {
        filed,
        assigned,
        working,
        overdue,
        elsewhere,
    }
    assert ids(supervisor.client.get("/v1/grievances", params={"status": "filed"})) == {
        filed,
        overdue,
    }
    assert ids(supervisor.client.get("/v1/grievances", params={"status": "in_progress"})) == {
        working
    }
    assert ids(supervisor.client.get("/v1/grievances", params={"category": "safety"})) == {assigned}
    assert ids(auditor.client.get("/v1/grievances", params={"community_id": "anle"})) == {elsewhere}
    assert ids(supervisor.client.get("/v1/grievances", params={"assignee_id": cadre.id})) == {
        working
    }
    assert ids(
        supervisor.client.get("/v1/grievances", params={"household_id": household["id"]})
    ) == {filed, overdue}
    assert ids(supervisor.client.get("/v1/grievances", params={"overdue": "true"})) == {overdue}
    both = {"status": "filed", "category": "health", "overdue": "true"}
    assert ids(supervisor.client.get("/v1/grievances", params=both)) == {overdue}


# -- read-your-writes on lists ----------------------------------------------------------


def test_lists_accept_consistent_with(world: World) -> None:
    made = world.cadre.client.post("/v1/households", json=household_body())
    position = made.headers["log-position"]
    visit = world.cadre.client.post("/v1/visits", json=visit_body(made.json()["id"]))
    case = world.cadre.client.post("/v1/grievances", json=grievance_body(made.json()["id"]))
    latest = case.headers["log-position"]
    supervisor = world.supervisor.client
    assert made.json()["id"] in ids(
        supervisor.get("/v1/households", params={"consistent_with": position})
    )
    assert visit.json()["id"] in ids(
        supervisor.get("/v1/visits", params={"consistent_with": latest})
    )
    assert case.json()["id"] in ids(
        supervisor.get("/v1/grievances", params={"consistent_with": latest})
    )
    for path in ("/v1/households", "/v1/visits", "/v1/grievances"):
        assert_problem(supervisor.get(path, params={"consistent_with": "abc"}), 422)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_list_waits_for_an_unreached_position_then_answers_503(world: World) -> None:
    projections = world.server.county.services.projections
    # Holding the runner's lock stands for a projection stuck on a long batch.
    with projections._lock:
        made = world.cadre.client.post("/v1/households", json=household_body())
        position = int(made.headers["log-position"])
        started = time.monotonic()
        answer = world.supervisor.client.get("/v1/households", params={"consistent_with": position})
        waited = time.monotonic() - started
    assert_problem(answer, 503)
    assert answer.headers.get("retry-after"), answer.headers
    assert 9 <= waited <= 20, waited


# -- the README walkthrough -------------------------------------------------------------


def test_readme_walkthrough(world: World) -> None:
    cadre, supervisor = world.cadre.client, world.supervisor.client
    world.household()
    found = cadre.get("/v1/households", params={"limit": 1})
    assert found.status_code == 200
    hh = found.json()["items"][0]["id"]

    visit = cadre.post(
        "/v1/visits",
        json={
            "household_id": hh,
            "visited_at": iso(now() - timedelta(hours=2)),
            "channel": "in_person",
            "purpose": "routine",
            "notes": "老人反映楼道灯坏了",
        },
    )
    visit_id = assert_command(visit, 201)["id"]

    filing = {
        "household_id": hh,
        "category": "facilities",
        "urgency": "urgent",
        "channel": "visit",
        "summary": "3栋楼道灯不亮",
        "visit_id": visit_id,
    }
    case = cadre.post("/v1/grievances", json=filing, headers={"Idempotency-Key": "walk-1"})
    case_body = assert_command(case, 201)
    assert case_body["visit_id"] == visit_id
    again = cadre.post("/v1/grievances", json=filing, headers={"Idempotency-Key": "walk-1"})
    assert again.status_code == 201
    assert again.content == case.content
    cid = case_body["id"]

    me = cadre.get("/v1/me").json()["id"]
    assigned = supervisor.post(f"/v1/grievances/{cid}/assign", json={"assignee_id": me})
    assert assert_command(assigned)["status"] == "assigned"
    accepted = cadre.post(f"/v1/grievances/{cid}/accept", json={})
    assert assert_command(accepted)["status"] == "in_progress"
    resolved = cadre.post(
        f"/v1/grievances/{cid}/resolve",
        json={"resolution": "已联系物业更换灯管", "outcome": "resolved"},
    )
    assert assert_command(resolved)["status"] == "resolved"
    closed = supervisor.post(
        f"/v1/grievances/{cid}/feedback", json={"rating": "satisfied", "solved": True}
    )
    closed_body = assert_command(closed)
    assert closed_body["status"] == "closed"
    assert int(closed.headers["log-position"]) > int(resolved.headers["log-position"])
    assert closed_body["version"] == case_body["version"] + 4


# -- the CLI ----------------------------------------------------------------------------


def anju_executable() -> Path:
    beside = Path(sys.executable).parent / "anju"
    return beside if beside.exists() else Path(".venv/bin/anju")


def test_cli_bootstrap_prints_a_working_token(county_settings: Settings, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANJU_DATA_DIR": str(county_settings.data_dir),
        "ANJU_COUNTY": county_settings.county,
        "ANJU_MASTER_KEY": str(county_settings.master_key),
        "ANJU_BLIND_INDEX_KEY": str(county_settings.blind_index_key),
    }
    if county_settings.database_url:
        env["ANJU_DATABASE_URL"] = county_settings.database_url
    done = subprocess.run(
        [str(anju_executable()), "accounts", "bootstrap", "--username", "chief"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1].strip()
    assert token and " " not in token

    with running(county_settings) as (url, _app), httpx.Client(base_url=url, verify=False) as c:
        me = c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["role"]) == ("chief", "admin")
        made = c.post(
            "/v1/communities",
            json={"id": "xingfu", "name": "幸福社区", "township": "城关镇", "county": "示范县"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status_code == 201, made.text


def test_accounts_refuse_unknown_roles_and_communities(world: World) -> None:
    admin = world.admin.client
    bad_role = admin.post(
        "/v1/accounts", json={"username": "x1", "display_name": "x", "role": "superuser"}
    )
    assert_problem(bad_role, 422)
    unknown_community = admin.post(
        "/v1/accounts",
        json={"username": "x2", "display_name": "x", "role": "cadre", "community_id": "nowhere"},
    )
    assert_problem(unknown_community, 422)
