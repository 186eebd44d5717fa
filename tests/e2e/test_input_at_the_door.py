"""Bad input is refused at the door, over HTTP, on both stores: a 422 problem with an
``errors`` list of {loc, msg}, nothing recorded, and every list and report still
answering afterwards. IDs outside the caller's jurisdiction answer exactly like
made-up ones, and no error repeats the caller's input back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import (
    World,
    assert_problem,
    grievance_body,
    household_body,
    now,
    visit_body,
)

MADE_UP = "00000000-0000-4000-8000-000000000000"
FAR_PAST = "0001-01-01T00:00:00+14:00"
INJECTION = "' OR '1'='1\u0000"
BEYOND_INT64 = "99999999999999999999"

READS = (
    "/v1/households",
    "/v1/visits",
    "/v1/grievances",
    "/v1/communities",
    "/v1/reports/workload",
    "/v1/reports/coverage",
    "/v1/reports/resolution",
    "/v1/reports/stars",
    "/v1/reports/late-entries",
    "/v1/ledger/grievances?format=csv",
    "/v1/ledger/grievances?format=xlsx",
)


def refused(world: World, send: Callable[[], httpx.Response], field: str | None = None) -> None:
    """``send`` is answered 422 (pointing at ``field``) and records nothing."""
    before = world.head()
    answer = send()
    body = assert_problem(answer, 422)
    if field is not None:
        locs = [" ".join(map(str, item["loc"])) for item in body["errors"]]
        assert any(field in loc for loc in locs), f"no error at {field}: {locs}"
    assert world.events_since(before) == 0, f"{answer.request.url}: recorded events"


def assert_every_read_answers(world: World) -> None:
    for path in READS:
        answer = world.supervisor.client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"


def post(world: World, path: str, body: Any) -> Callable[[], httpx.Response]:
    return post_as(world.supervisor.client, path, body)


def post_as(client: httpx.Client, path: str, body: Any) -> Callable[[], httpx.Response]:
    return lambda: client.post(path, json=body)


# -- row 1: control characters in text and identifiers ---------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"summary": "电梯\u0000停运"},
        {"summary": "电梯\u001b[31m停运"},
        {"summary": "\u202e电梯停运"},
        {"description": "说明\u0007"},
    ],
)
def test_a_grievance_text_holding_control_characters_is_refused_and_records_nothing(
    world: World, change: dict[str, str]
) -> None:
    household = world.household()
    field = next(iter(change))
    refused(world, post(world, "/v1/grievances", grievance_body(household["id"], **change)), field)
    assert_every_read_answers(world)


def test_identifiers_holding_nul_bidi_controls_or_spaces_are_refused(world: World) -> None:
    admin = world.server.client(world.server.admin_token)
    community = {"name": "新社区", "township": "城关镇", "county": "示范县"}
    for code in ("bad\u0000", "r\u202eev", "two words", "tab\tbed", "\u2066x"):
        refused(world, post_as(admin, "/v1/communities", {"id": code, **community}), "id")
        account = {"username": code, "display_name": "某人", "role": "auditor"}
        refused(world, post_as(admin, "/v1/accounts", account), "username")
    household = world.household()
    refused(world, post(world, "/v1/visits", visit_body(household["id"] + "\u200f")))
    refused(world, post(world, "/v1/visits", visit_body(household["id"], notes="走访\u0000")))
    assert_every_read_answers(world)


def test_line_breaks_and_tabs_in_free_text_are_kept(world: World) -> None:
    household = world.household()
    case = world.grievance(household["id"], summary="电梯停运\n\t两天")
    assert case["summary"] == "电梯停运\n\t两天"


# -- rows 2 and 10: moments, days and types ----------------------------------------------------


def test_moments_outside_2000_to_tomorrow_are_refused_and_reports_still_answer(
    world: World,
) -> None:
    household = world.household()
    far_future = (now() + timedelta(days=3)).isoformat()
    for moment in (FAR_PAST, "1999-12-31T23:59:59+08:00", far_future):
        body = visit_body(household["id"], visited_at=moment)
        refused(world, post(world, "/v1/visits", body), "visited_at")
        body = grievance_body(household["id"], received_at=moment)
        refused(world, post(world, "/v1/grievances", body), "received_at")
    assert_every_read_answers(world)


def test_days_before_their_earliest_or_after_tomorrow_are_refused(world: World) -> None:
    household = world.household()
    tomorrow_but_one = (now().date() + timedelta(days=2)).isoformat()
    for day in ("0001-01-01", "1989-12-31", tomorrow_but_one):
        refused(world, post(world, "/v1/households", household_body(relocated_on=day)))
        body = {"kind": "wedding", "occurred_on": day}
        refused(world, post(world, f"/v1/households/{household['id']}/life-events", body))
    made = world.household(relocated_on="1990-01-01")
    assert made["relocated_on"] == "1990-01-01"


@pytest.mark.parametrize(
    ("path_of", "change", "field"),
    [
        ("visits", {"visited_at": 12345}, "visited_at"),
        ("visits", {"visited_at": "2026-11-20T09:30:00"}, "visited_at"),
        ("visits", {"notes": 123}, "notes"),
        ("households", {"member_count": True}, "member_count"),
        ("households", {"member_count": "4"}, "member_count"),
        ("households", {"relocated_on": 20190615}, "relocated_on"),
        ("households", {"head_name": 42}, "head_name"),
        ("households", {"community_id": "xin\u202egfu"}, "community_id"),
        ("grievances", {"summary": 7}, "summary"),
        ("grievances", {"household_id": 1}, "household_id"),
    ],
)
def test_values_are_not_coerced(
    world: World, path_of: str, change: dict[str, Any], field: str
) -> None:
    household = world.household()
    bodies = {
        "visits": {**visit_body(household["id"]), **change},
        "households": household_body(**change),
        "grievances": {**grievance_body(household["id"]), **change},
    }
    refused(world, post(world, f"/v1/{path_of}", bodies[path_of]), field)


def test_booleans_are_not_counts_and_numbers_are_not_booleans(world: World) -> None:
    household = world.household()
    employment = {"labour_force": True, "employed": 0}
    path = f"/v1/households/{household['id']}/employment"
    refused(world, post(world, path, employment), "labour_force")
    case = world.case_in("in_progress")
    refused(world, post(world, f"/v1/grievances/{case}/extend", {"days": True, "reason": "等"}))


# -- row 3: the shape of parties ----------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        deeper: list[Any] = []
        inner.append(deeper)
        inner = deeper
    return outer


@pytest.mark.parametrize(
    "parties",
    [
        nested(900),
        [{"name": {"nested": "x"}}],
        [["张三"]],
        ["张三"] * 51,
        ["长" * 201],
        ["张\u0000三"],
        [{"name": "张三", "note": "\u202e"}],
        "张三",
    ],
    ids=["900-deep", "object-in-object", "list-in-list", "51", "long", "nul", "bidi", "str"],
)
def test_parties_of_another_shape_are_refused_and_the_case_lists_still_answer(
    world: World, parties: Any
) -> None:
    household = world.household()
    body = grievance_body(household["id"], parties=parties)
    refused(world, post(world, "/v1/grievances", body), "parties")
    assert_every_read_answers(world)


def test_parties_as_names_and_flat_records_are_accepted(world: World) -> None:
    household = world.household()
    parties = ["张三", {"name": "李四", "age": 41, "tenant": True, "phone": None, "share": 0.5}]
    case = world.grievance(household["id"], parties=parties)
    answer = world.supervisor.client.get(f"/v1/grievances/{case['id']}")
    assert answer.status_code == 200, answer.text


# -- row 9: query parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/reports/workload", {"week": "9999-W52"}, "week"),
        ("/v1/reports/workload", {"week": "1999-W10"}, "week"),
        ("/v1/reports/workload", {"week": "2026-W54"}, "week"),
        ("/v1/reports/stars", {"month": "9999-12"}, "month"),
        ("/v1/reports/stars", {"month": "2026-13"}, "month"),
        ("/v1/reports/resolution", {"from": "0001-01-01"}, "from"),
        ("/v1/reports/late-entries", {"to": "9999-12-31"}, "to"),
        ("/v1/audit/events", {"after": BEYOND_INT64}, "after"),
        ("/v1/households", {"cursor": BEYOND_INT64}, "cursor"),
        ("/v1/grievances", {"cursor": "-1"}, "cursor"),
        ("/v1/households", {"consistent_with": BEYOND_INT64}, "consistent_with"),
        ("/v1/households", {"limit": BEYOND_INT64}, "limit"),
        ("/v1/visits", {"cadre_id": "\u0000"}, "cadre_id"),
        ("/v1/visits", {"household_id": "a\u202eb"}, "household_id"),
        ("/v1/visits", {"from": FAR_PAST}, "from"),
        ("/v1/grievances", {"assignee_id": "x y"}, "assignee_id"),
        ("/v1/households", {"q": "王\u0000"}, "q"),
        ("/v1/reports/coverage", {"as_of": FAR_PAST}, "as_of"),
        ("/v1/audit/events", {"aggregate_id": "\u0000"}, "aggregate_id"),
    ],
)
def test_query_parameters_that_cannot_mean_anything_are_422(
    world: World, path: str, params: dict[str, str], field: str
) -> None:
    reader = world.auditor.client
    answer = reader.get(path, params=params)
    body = assert_problem(answer, 422)
    locs = [" ".join(map(str, item["loc"])) for item in body["errors"]]
    assert any(field in loc for loc in locs), f"no error at {field}: {locs}"
    assert_every_read_answers(world)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/households", {"community_id": "nowhere"}, "community_id"),
        ("/v1/households", {"community_id": "xingfu", "grid_id": "g9"}, "grid_id"),
        ("/v1/households", {"grid_id": "g9"}, "grid_id"),
        ("/v1/grievances", {"community_id": "nowhere"}, "community_id"),
        ("/v1/grievances", {"assignee_id": MADE_UP}, "assignee_id"),
        ("/v1/grievances", {"household_id": MADE_UP}, "household_id"),
        ("/v1/visits", {"cadre_id": MADE_UP}, "cadre_id"),
        ("/v1/visits", {"household_id": MADE_UP}, "household_id"),
        ("/v1/reports/coverage", {"community_id": "nowhere"}, "community_id"),
        ("/v1/reports/workload", {"community_id": "xingfu", "grid_id": "g9"}, "grid_id"),
        ("/v1/ledger/grievances", {"community_id": "nowhere"}, "community_id"),
    ],
)
def test_a_filter_that_names_nothing_is_422(
    world: World, path: str, params: dict[str, str], field: str
) -> None:
    answer = world.supervisor.client.get(path, params=params)
    body = assert_problem(answer, 422)
    locs = [" ".join(map(str, item["loc"])) for item in body["errors"]]
    assert any(field in loc for loc in locs), f"no error at {field}: {locs}"
    assert params[field] not in answer.text


def test_filters_that_name_something_still_answer(world: World) -> None:
    household = world.household()
    client = world.supervisor.client
    for path, params in (
        ("/v1/households", {"community_id": "xingfu", "grid_id": "g1"}),
        ("/v1/households", {"grid_id": "g2"}),
        ("/v1/visits", {"household_id": household["id"], "cadre_id": world.cadre.id}),
        ("/v1/grievances", {"household_id": household["id"], "assignee_id": world.cadre.id}),
        ("/v1/reports/workload", {"week": "2026-W47", "community_id": "xingfu"}),
        ("/v1/reports/stars", {"month": "2001-01"}),
        ("/v1/audit/events", {"after": str(2**63 - 1)}),
    ):
        reader = world.auditor.client if path.startswith("/v1/audit") else client
        answer = reader.get(path, params=params)
        assert answer.status_code == 200, f"{path} {params}: {answer.text[:300]}"


# -- row 11: no existence oracle, no echo ---------------------------------------------------------


def same_answer(first: httpx.Response, second: httpx.Response) -> None:
    assert first.status_code == second.status_code, (first.text, second.text)
    one, other = first.json(), second.json()
    for key in ("type", "title", "detail", "errors"):
        assert one.get(key) == other.get(key), (key, one, other)


def test_a_record_outside_the_jurisdiction_reads_like_a_made_up_id(world: World) -> None:
    household = world.household()
    visit = world.visit(household["id"])
    case = world.grievance(household["id"])
    outsider = world.outsider.client
    for kind, real in (("households", household["id"]), ("visits", visit["id"])):
        for tail in ("", "/history"):
            existing = outsider.get(f"/v1/{kind}/{real}{tail}")
            made_up = outsider.get(f"/v1/{kind}/{MADE_UP}{tail}")
            assert_problem(existing, 404)
            same_answer(existing, made_up)
            assert real not in existing.text
    for tail in ("", "/history"):
        existing = outsider.get(f"/v1/grievances/{case['id']}{tail}")
        same_answer(existing, outsider.get(f"/v1/grievances/{MADE_UP}{tail}"))
        assert_problem(existing, 404)


def test_commands_on_records_outside_the_jurisdiction_answer_like_made_up_ids(
    world: World,
) -> None:
    household = world.household()
    case = world.grievance(household["id"])
    outsider = world.outsider.client
    before = world.head()
    for path, body in (
        ("/v1/households/{}/tags", {"add": ["disability"], "remove": []}),
        ("/v1/grievances/{}/note", {"text": "看看"}),
    ):
        real = household["id"] if "households" in path else case["id"]
        existing = outsider.post(path.format(real), json=body)
        assert_problem(existing, 404)
        same_answer(existing, outsider.post(path.format(MADE_UP), json=body))
    for path, body in (
        ("/v1/visits", visit_body(household["id"])),
        ("/v1/grievances", grievance_body(household["id"])),
    ):
        existing = outsider.post(path, json=body)
        assert_problem(existing, 422)
        same_answer(existing, outsider.post(path, json={**body, "household_id": MADE_UP}))
    assert world.events_since(before) == 0


def test_merging_into_another_communitys_case_answers_like_a_made_up_case(world: World) -> None:
    case = world.case_in("filed")
    theirs = world.grievance(
        world.household(by=world.outsider, community_id="anle")["id"], by=world.outsider
    )
    before = world.head()
    path = f"/v1/grievances/{case}/merge"
    existing = world.supervisor.client.post(path, json={"into": theirs["id"]})
    assert_problem(existing, 422)
    same_answer(existing, world.supervisor.client.post(path, json={"into": MADE_UP}))
    assert theirs["id"] not in existing.text
    assigned = world.supervisor.client.post(
        f"/v1/grievances/{case}/assign", json={"assignee_id": world.outsider.id}
    )
    made_up = world.supervisor.client.post(
        f"/v1/grievances/{case}/assign", json={"assignee_id": MADE_UP}
    )
    assert_problem(assigned, 422)
    same_answer(assigned, made_up)
    assert world.events_since(before) == 0


def test_errors_never_repeat_the_callers_input(world: World) -> None:
    client = world.supervisor.client
    for answer in (
        client.get(f"/v1/households/{quote(INJECTION, safe='')}"),
        client.get("/v1/grievances/' OR '1'='1"),
        client.post("/v1/visits", json=visit_body("' OR '1'='1")),
        client.post("/v1/grievances", json=grievance_body("' OR '1'='1")),
        client.post(f"/v1/grievances/{world.case_in('filed')}/merge", json={"into": "' OR 1"}),
        client.get("/v1/visits", params={"cadre_id": "' OR 1"}),
    ):
        assert answer.status_code in (404, 422), answer.text
        assert "OR" not in answer.text and "\\u0000" not in answer.text, answer.text


# -- row 12: If-Match that names no version ----------------------------------------------------


@pytest.mark.parametrize("header", ["abc", '"abc"', "W/", '"-1"', "1.5", "0x1", BEYOND_INT64])
def test_an_if_match_naming_no_version_is_412_with_the_current_version(
    world: World, header: str
) -> None:
    household = world.household()
    before = world.head()
    answer = world.cadre.client.post(
        f"/v1/households/{household['id']}/tags",
        json={"add": ["disability"], "remove": []},
        headers={"If-Match": header},
    )
    body = assert_problem(answer, 412)
    assert body["current_version"] == household["version"]
    assert f"the current version is {household['version']}" in body["detail"]
    assert header.strip('"') not in body["detail"] or header.strip('"') == ""
    assert "-1" not in body["detail"]
    assert world.events_since(before) == 0


def test_a_current_if_match_still_lets_the_command_through(world: World) -> None:
    household = world.household()
    answer = world.cadre.client.post(
        f"/v1/households/{household['id']}/tags",
        json={"add": ["disability"], "remove": []},
        headers={"If-Match": f'"{household["version"]}"'},
    )
    assert answer.status_code == 200, answer.text
