"""Bad input over HTTP: each gets its documented 4xx as problem+json, never a stack trace,
and records nothing. Chinese and emoji in valid input round-trip intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from tests.e2e.conftest import (
    World,
    assert_command,
    assert_problem,
    grievance_body,
    household_body,
    iso,
    now,
    visit_body,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"
NAIVE = "2026-11-20T09:30:00"
LONG = "长" * 10_001
VERY_LONG = "x" * 100_000


@dataclass
class Bad:
    label: str
    method: str
    path: str
    status: int
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    field: str | None = None  # a name the 422's errors should point at


def check_all(world: World, cases: list[Bad], client: httpx.Client | None = None) -> list[str]:
    """Send each bad request; the list of every way the answers fall short."""
    failures = []
    sender = client or world.supervisor.client
    for case in cases:
        before = world.head()
        kwargs: dict[str, Any] = {"params": case.params, "headers": case.headers}
        if case.content is not None:
            kwargs["content"] = case.content
        elif case.body is not None:
            kwargs["json"] = case.body
        answer = sender.request(case.method, case.path, **kwargs)
        where = f"{case.label}: {case.method} {case.path[:60]}"
        try:
            body = assert_problem(answer, case.status)
            if case.field:
                locs = [" ".join(map(str, item["loc"])) for item in body["errors"]]
                assert any(case.field in loc for loc in locs), f"no error at {case.field}: {locs}"
        except (AssertionError, ValueError) as error:
            failures.append(f"{where}: expected {case.status}: {str(error)[:300]}")
        if world.head() != before:
            failures.append(f"{where}: recorded events")
    return failures


@dataclass
class Scene:
    household: str
    visit: str
    filed: str
    working: str
    resolved: str


def scene(world: World) -> Scene:
    household = world.household()["id"]
    return Scene(
        household=household,
        visit=world.visit(household)["id"],
        filed=world.case_in("filed"),
        working=world.case_in("in_progress", assignee=world.supervisor),
        resolved=world.case_in("resolved", assignee=world.supervisor),
    )


def with_(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = dict(body)
    for key, value in changes.items():
        if value is ...:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def wrong_types(s: Scene) -> Iterator[Bad]:
    hh = household_body()
    yield Bad("member_count text", "POST", "/v1/households", 422, with_(hh, member_count="four"))
    yield Bad("member_count float", "POST", "/v1/households", 422, with_(hh, member_count=4.5))
    yield Bad("member_count 0", "POST", "/v1/households", 422, with_(hh, member_count=0))
    yield Bad("community_id int", "POST", "/v1/households", 422, with_(hh, community_id=123))
    yield Bad("tags not a list", "POST", "/v1/households", 422, with_(hh, tags="low_income"))
    yield Bad("address string", "POST", "/v1/households", 422, with_(hh, address="3栋2单元"))
    yield Bad("date word", "POST", "/v1/households", 422, with_(hh, relocated_on="yesterday"))
    yield Bad("missing field", "POST", "/v1/households", 422, with_(hh, head_name=...))
    yield Bad("null field", "POST", "/v1/households", 422, with_(hh, head_name=None))
    yield Bad("array body", "POST", "/v1/households", 422, [hh])
    yield Bad("string body", "POST", "/v1/households", 422, "household")
    yield Bad("empty body", "POST", "/v1/households", 422, content=b"")
    yield Bad(
        "solved text",
        "POST",
        f"/v1/grievances/{s.resolved}/feedback",
        422,
        {"rating": "satisfied", "solved": "maybe"},
    )
    yield Bad(
        "days text",
        "POST",
        f"/v1/grievances/{s.working}/extend",
        422,
        {"days": "ten", "reason": "x"},
    )
    yield Bad(
        "days 31",
        "POST",
        f"/v1/grievances/{s.working}/extend",
        422,
        {"days": 31, "reason": "x"},
        field="days",
    )
    yield Bad(
        "days 0",
        "POST",
        f"/v1/grievances/{s.working}/extend",
        422,
        {"days": 0, "reason": "x"},
        field="days",
    )
    yield Bad(
        "negative labour",
        "POST",
        f"/v1/households/{s.household}/employment",
        422,
        {"labour_force": -1, "employed": 0},
    )
    yield Bad(
        "employed > labour",
        "POST",
        f"/v1/households/{s.household}/employment",
        422,
        {"labour_force": 1, "employed": 3},
        field="employed",
    )
    yield Bad("limit text", "GET", "/v1/households", 422, params={"limit": "abc"})
    yield Bad("bool text", "GET", "/v1/households", 422, params={"zero_employment": "maybe"})
    yield Bad("overdue text", "GET", "/v1/grievances", 422, params={"overdue": "perhaps"})
    yield Bad("member_count 四", "POST", "/v1/households", 422, with_(hh, member_count="四"))
    yield Bad("date 中文", "POST", "/v1/households", 422, with_(hh, relocated_on="二〇一九年"))
    yield Bad(
        "space in id", "POST", "/v1/communities/xingfu/grids", 422, {"id": "g 1", "name": "x"}
    )
    yield Bad(
        "slash in id", "POST", "/v1/communities/xingfu/grids", 422, {"id": "g/1", "name": "x"}
    )


def naive_and_future_times(s: Scene) -> Iterator[Bad]:
    future = iso(now() + timedelta(days=1))
    visit = visit_body(s.household)
    yield Bad("naive visited_at", "POST", "/v1/visits", 422, with_(visit, visited_at=NAIVE))
    yield Bad("date visited_at", "POST", "/v1/visits", 422, with_(visit, visited_at="2026-11-20"))
    yield Bad("word visited_at", "POST", "/v1/visits", 422, with_(visit, visited_at="今天上午"))
    yield Bad(
        "future visited_at",
        "POST",
        "/v1/visits",
        422,
        with_(visit, visited_at=future),
        field="visited_at",
    )
    case = grievance_body(s.household)
    yield Bad("naive received_at", "POST", "/v1/grievances", 422, with_(case, received_at=NAIVE))
    yield Bad(
        "future received_at",
        "POST",
        "/v1/grievances",
        422,
        with_(case, received_at=future),
        field="received_at",
    )
    yield Bad(
        "future life event",
        "POST",
        f"/v1/households/{s.household}/life-events",
        422,
        {"kind": "wedding", "occurred_on": (now() + timedelta(days=2)).date().isoformat()},
    )
    yield Bad(
        "future relocation",
        "POST",
        "/v1/households",
        422,
        household_body(relocated_on=(now() + timedelta(days=30)).date().isoformat()),
    )
    yield Bad("naive from", "GET", "/v1/visits", 422, params={"from": NAIVE})
    yield Bad("naive to", "GET", "/v1/visits", 422, params={"to": NAIVE})
    yield Bad("naive as_of", "GET", f"/v1/households/{s.household}", 422, params={"as_of": NAIVE})
    yield Bad("naive as_of", "GET", f"/v1/visits/{s.visit}", 422, params={"as_of": NAIVE})
    yield Bad("naive as_of", "GET", f"/v1/grievances/{s.filed}", 422, params={"as_of": NAIVE})


def unknown_enums(s: Scene) -> Iterator[Bad]:
    visit = visit_body(s.household)
    case = grievance_body(s.household)
    yield Bad("visit channel", "POST", "/v1/visits", 422, with_(visit, channel="carrier_pigeon"))
    yield Bad("visit purpose", "POST", "/v1/visits", 422, with_(visit, purpose="social"))
    yield Bad("category", "POST", "/v1/grievances", 422, with_(case, category="weather"))
    yield Bad("urgency 中文", "POST", "/v1/grievances", 422, with_(case, urgency="紧急"))
    yield Bad("channel emoji", "POST", "/v1/grievances", 422, with_(case, channel="📞"))
    yield Bad("tag", "POST", "/v1/households", 422, household_body(tags=["rich"]))
    yield Bad(
        "life event kind",
        "POST",
        f"/v1/households/{s.household}/life-events",
        422,
        {"kind": "birthday", "occurred_on": "2026-01-01"},
    )
    yield Bad(
        "outcome",
        "POST",
        f"/v1/grievances/{s.working}/resolve",
        422,
        {"resolution": "x", "outcome": "fixed"},
    )
    yield Bad(
        "rating emoji",
        "POST",
        f"/v1/grievances/{s.resolved}/feedback",
        422,
        {"rating": "😀", "solved": True},
    )
    yield Bad("status filter", "GET", "/v1/grievances", 422, params={"status": "open"})
    yield Bad("category filter", "GET", "/v1/grievances", 422, params={"category": "天气"})
    yield Bad("tag filter", "GET", "/v1/households", 422, params={"tag": "rich"})


def unknown_ids(s: Scene) -> Iterator[Bad]:
    visit = visit_body(s.household)
    case = grievance_body(s.household)
    yield Bad(
        "visit household",
        "POST",
        "/v1/visits",
        422,
        with_(visit, household_id=UNKNOWN),
        field="household_id",
    )
    yield Bad(
        "visit household 中文", "POST", "/v1/visits", 422, with_(visit, household_id="不存在")
    )
    yield Bad(
        "visit life event",
        "POST",
        "/v1/visits",
        422,
        with_(visit, purpose="mandatory", life_event_id=UNKNOWN),
        field="life_event_id",
    )
    yield Bad(
        "visit grievance",
        "POST",
        "/v1/visits",
        422,
        with_(visit, purpose="follow_up", grievance_id=UNKNOWN),
        field="grievance_id",
    )
    yield Bad(
        "case household",
        "POST",
        "/v1/grievances",
        422,
        with_(case, household_id=UNKNOWN),
        field="household_id",
    )
    yield Bad(
        "case visit",
        "POST",
        "/v1/grievances",
        422,
        with_(case, visit_id=UNKNOWN),
        field="visit_id",
    )
    yield Bad(
        "assignee",
        "POST",
        f"/v1/grievances/{s.filed}/assign",
        422,
        {"assignee_id": UNKNOWN},
        field="assignee_id",
    )
    yield Bad(
        "merge into",
        "POST",
        f"/v1/grievances/{s.filed}/merge",
        422,
        {"into": UNKNOWN},
        field="into",
    )
    yield Bad(
        "contact cadre",
        "POST",
        f"/v1/households/{s.household}/contact-cadre",
        422,
        {"cadre_id": UNKNOWN},
        field="cadre_id",
    )
    yield Bad(
        "household community",
        "POST",
        "/v1/households",
        422,
        household_body(community_id="nowhere"),
        field="community_id",
    )
    yield Bad(
        "household grid",
        "POST",
        "/v1/households",
        422,
        household_body(grid_id="g9"),
        field="grid_id",
    )
    yield Bad(
        "move grid",
        "POST",
        f"/v1/households/{s.household}/move",
        422,
        {"grid_id": "g9", "address": {"building": "1", "unit": "1", "room": "1"}},
        field="grid_id",
    )
    yield Bad("household path", "GET", f"/v1/households/{UNKNOWN}", 404)
    yield Bad(
        "visit path", "POST", f"/v1/visits/{UNKNOWN}/amend", 404, {"notes": "x", "reason": "y"}
    )
    yield Bad("case path", "POST", f"/v1/grievances/{UNKNOWN}/note", 404, {"text": "x"})
    yield Bad("case path 中文", "GET", "/v1/grievances/不存在的案件", 404)
    yield Bad("community path", "GET", "/v1/communities/不存在", 404)


def long_strings(s: Scene) -> Iterator[Bad]:
    yield Bad(
        "summary 501",
        "POST",
        "/v1/grievances",
        422,
        grievance_body(s.household, summary="长" * 501),
    )
    yield Bad(
        "summary 10001", "POST", "/v1/grievances", 422, grievance_body(s.household, summary=LONG)
    )
    yield Bad(
        "description 100000",
        "POST",
        "/v1/grievances",
        422,
        grievance_body(s.household, description=VERY_LONG),
    )
    yield Bad("notes 10001", "POST", "/v1/visits", 422, visit_body(s.household, notes=LONG))
    yield Bad("head_name 10001", "POST", "/v1/households", 422, household_body(head_name=LONG))
    yield Bad("note 10001", "POST", f"/v1/grievances/{s.working}/note", 422, {"text": LONG})
    yield Bad(
        "community name",
        "POST",
        "/v1/communities",
        422,
        {"id": "c1", "name": LONG, "township": "城关镇", "county": "示范县"},
    )
    yield Bad("q 101", "GET", "/v1/households", 422, params={"q": "长" * 101})
    yield Bad("q 10001", "GET", "/v1/households", 422, params={"q": "x" * 10_001})
    yield Bad(
        "Idempotency-Key 300",
        "POST",
        "/v1/grievances",
        422,
        grievance_body(s.household),
        headers={"Idempotency-Key": "k" * 300},
    )
    yield Bad(
        "blank summary", "POST", "/v1/grievances", 422, grievance_body(s.household, summary="   ")
    )


def test_wrong_types_are_422(world: World) -> None:
    failures = check_all(world, list(wrong_types(scene(world))))
    assert not failures, "\n" + "\n".join(failures)


def test_naive_and_future_times_are_422(world: World) -> None:
    failures = check_all(world, list(naive_and_future_times(scene(world))))
    assert not failures, "\n" + "\n".join(failures)


def test_unknown_enum_values_are_422(world: World) -> None:
    failures = check_all(world, list(unknown_enums(scene(world))))
    role = Bad(
        "role",
        "POST",
        "/v1/accounts",
        422,
        {"username": "x", "display_name": "x", "role": "superuser"},
        field="role",
    )
    failures += check_all(world, [role], client=world.admin.client)
    assert not failures, "\n" + "\n".join(failures)


def test_unknown_ids_are_422_in_bodies_and_404_in_paths(world: World) -> None:
    failures = check_all(world, list(unknown_ids(scene(world))))
    account = Bad(
        "account community",
        "POST",
        "/v1/accounts",
        422,
        {"username": "x", "display_name": "x", "role": "cadre", "community_id": "nowhere"},
        field="community_id",
    )
    failures += check_all(world, [account], client=world.admin.client)
    assert not failures, "\n" + "\n".join(failures)


def test_long_strings_are_422(world: World) -> None:
    failures = check_all(world, list(long_strings(scene(world))))
    assert not failures, "\n" + "\n".join(failures)


def test_bodies_over_one_mib_are_413(world: World) -> None:
    household = world.household()["id"]
    big = json.dumps(visit_body(household, notes="x" * (2 * 1024 * 1024))).encode()
    json_headers = {"Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    cases = [
        Bad("2 MiB declared", "POST", "/v1/visits", 413, content=big, headers=json_headers),
        Bad(
            "2 MiB with key",
            "POST",
            "/v1/visits",
            413,
            content=big,
            headers={**json_headers, "Idempotency-Key": "big-1"},
        ),
    ]
    failures = check_all(world, cases, client=world.cadre.client)

    before = world.head()
    streamed = world.cadre.client.post("/v1/visits", content=chunks(), headers=json_headers)
    try:
        assert_problem(streamed, 413)
    except AssertionError as error:
        failures.append(f"2 MiB chunked: {error}")
    if world.head() != before:
        failures.append("2 MiB chunked: recorded events")

    just_under = json.dumps(visit_body(household, notes="x" * (1024 * 1024 - 1024))).encode()
    assert len(just_under) <= 1024 * 1024
    under = Bad(
        "just under 1 MiB",
        "POST",
        "/v1/visits",
        422,
        content=just_under,
        headers=json_headers,
        field="notes",
    )
    failures += check_all(world, [under], client=world.cadre.client)
    assert not failures, "\n" + "\n".join(failures)


def test_undecodable_bodies_are_4xx(world: World) -> None:
    household = world.household()["id"]
    valid = json.dumps(visit_body(household), ensure_ascii=False).encode()
    json_headers = {"Content-Type": "application/json"}
    undecodable = [
        ("invalid UTF-8", valid.replace("老人".encode(), b"\xff\xfe\xfd")),
        ("GBK bytes", valid.replace("老人".encode(), "老人".encode("gbk"))),
        ("lone surrogate", valid.replace("老人".encode(), b"\xed\xa0\x80")),
        ("malformed JSON", b'{"household_id": '),
        ("deep nesting", b'{"parties": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ]
    failures = []
    for label, content in undecodable:
        before = world.head()
        path = "/v1/grievances" if label == "deep nesting" else "/v1/visits"
        answer = world.cadre.client.post(path, content=content, headers=json_headers)
        if not 400 <= answer.status_code < 500:
            failures.append(f"{label}: expected 4xx, got {answer.status_code} {answer.text[:200]}")
        else:
            try:
                assert_problem(answer, answer.status_code)
            except AssertionError as error:
                failures.append(f"{label}: {error}")
        if world.head() != before:
            failures.append(f"{label}: recorded events")
    malformed = Bad("malformed JSON is 422", "POST", "/v1/visits", 422, content=b'{"a": ')
    failures += check_all(world, [malformed], client=world.cadre.client)
    assert not failures, "\n" + "\n".join(failures)


def test_control_characters_never_cause_a_server_error(world: World) -> None:
    household = world.household()["id"]
    for notes in ("nul\u0000byte", "bell\u0007", "\u202e反向文字", "\ufeffbom"):
        answer = world.cadre.client.post("/v1/visits", json=visit_body(household, notes=notes))
        assert answer.status_code in (201, 422), answer.text
        if answer.status_code == 201:
            stored = world.cadre.client.get(f"/v1/visits/{answer.json()['id']}").json()
            assert stored["notes"] == notes


# -- valid Chinese and emoji round-trip -------------------------------------------------

NAME = "王秀英👵🏻"
VILLAGE = "乌东村𠀀𪚥"  # characters outside the Basic Multilingual Plane
NOTES = "老人身体尚好👍，家里👨‍👩‍👧‍👦四口人；café（e + ́）\n第二行\t制表符"
SUMMARY = "3栋2单元电梯🛗停运两天，老人下不了楼😟"


def test_chinese_and_emoji_round_trip(world: World) -> None:
    community = world.admin.client.post(
        "/v1/communities",
        json={"id": "heping", "name": "和平社区🏠", "township": "丹寨镇", "county": "示范县"},
    )
    assert assert_command(community, 201)["name"] == "和平社区🏠"
    assert world.admin.client.get("/v1/communities/heping").json()["name"] == "和平社区🏠"

    made = world.cadre.client.post(
        "/v1/households",
        json=household_body(
            head_name=NAME,
            address={"building": "三栋", "unit": "二单元", "room": "五〇一"},
            origin={"township": "雷山镇", "village": VILLAGE},
        ),
    )
    household = assert_command(made, 201)
    assert made.headers["content-type"].startswith("application/json")
    made.content.decode("utf-8")
    read = world.cadre.client.get(f"/v1/households/{household['id']}").json()
    assert read["head_name"] == NAME
    assert read["origin"]["village"] == VILLAGE
    assert read["address"] == {"building": "三栋", "unit": "二单元", "room": "五〇一"}
    found = world.cadre.client.get("/v1/households", params={"q": "𠀀𪚥"}).json()["items"]
    assert [item["id"] for item in found] == [household["id"]]
    assert world.auditor.client.get(f"/v1/households/{household['id']}").json()["head_name"] != NAME

    visit = world.cadre.client.post("/v1/visits", json=visit_body(household["id"], notes=NOTES))
    assert assert_command(visit, 201)["notes"] == NOTES
    assert world.cadre.client.get(f"/v1/visits/{visit.json()['id']}").json()["notes"] == NOTES

    case = world.cadre.client.post(
        "/v1/grievances",
        json=grievance_body(household["id"], summary=SUMMARY, description=NOTES),
    )
    body = assert_command(case, 201)
    assert (body["summary"], body["description"]) == (SUMMARY, NOTES)
    read_case = world.cadre.client.get(f"/v1/grievances/{body['id']}").json()
    assert (read_case["summary"], read_case["description"]) == (SUMMARY, NOTES)
    world.act(world.supervisor, body["id"], "assign", {"assignee_id": world.cadre.id})
    noted = world.act(world.cadre, body["id"], "note", {"text": "已联系物业🔧，明天修"})
    assert noted["status"] == "assigned"
    history = world.cadre.client.get(f"/v1/grievances/{body['id']}/history")
    assert history.status_code == 200
    assert "已联系物业🔧，明天修" in history.content.decode("utf-8")


def test_a_chinese_community_id_is_refused_or_works_never_500(world: World) -> None:
    """IDs are strings and Chinese is everywhere: a 422 before recording, or a working ID."""
    before = world.head()
    made = world.admin.client.post(
        "/v1/communities",
        json={"id": "幸福里", "name": "幸福里社区", "township": "丹寨镇", "county": "示范县"},
    )
    assert made.status_code in (201, 422), (
        f"{made.status_code} {made.text[:200]}; events recorded: {world.events_since(before)}"
    )
    if made.status_code == 422:
        assert_problem(made, 422)
        assert world.head() == before
        return
    assert assert_command(made, 201)["id"] == "幸福里"
    read = world.admin.client.get("/v1/communities/幸福里")
    assert read.status_code == 200, read.text
    grid = world.admin.client.post(
        "/v1/communities/幸福里/grids", json={"id": "一", "name": "一格"}
    )
    assert assert_command(grid, 201)["grids"] == [{"id": "一", "name": "一格"}]
    household = world.supervisor.client.post(
        "/v1/households", json=household_body(community_id="幸福里", grid_id="一")
    )
    assert household.status_code == 403  # the xingfu supervisor has no say in 幸福里
