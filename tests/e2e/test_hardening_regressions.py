"""Each finding of the hardening review, sent again over HTTP on both stores.

Every refusal answers its 4xx as problem+json and records nothing, and afterwards every
list, report, ledger and audit read still answers 200 for a supervisor and an auditor.
Rows 5, 6 and 13 of the finding table (a killed server, a lost database, a deleted
tail) have tests of their own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import fastapi.routing
import httpx
import pytest

from tests.e2e.conftest import (
    Account,
    World,
    assert_command,
    assert_problem,
    grievance_body,
    household_body,
    visit_body,
)
from tests.e2e.hostile import assert_county_still_answers, assert_problem_answer

ANCIENT = "0001-01-01T00:00:00+14:00"
INJECTION = "' OR '1'='1"
MARKER = "zq-marker-5e1f0c"
RLO = "\u202e"


def nested(depth: int) -> Any:
    value: Any = "张三"
    for _ in range(depth):
        value = [value]
    return value


def nested_objects(depth: int) -> Any:
    value: Any = "张三"
    for _ in range(depth):
        value = {"party": value}
    return value


def path_of(text: str) -> str:
    return quote(text, safe="")


def assert_refused(
    world: World, answer: httpx.Response, status: int, before: int
) -> dict[str, Any]:
    body = assert_problem(answer, status)
    assert world.events_since(before) == 0, "a refused request recorded events"
    return body


def assert_everything_answers(world: World) -> None:
    assert_county_still_answers(world.supervisor.client)
    assert_county_still_answers(world.auditor.client)
    ready = world.anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text[:300]


def problem_words(answer: httpx.Response) -> tuple[int, str, str, list[str]]:
    body = answer.json()
    return (
        answer.status_code,
        body.get("title"),
        body.get("detail"),
        [item.get("msg") for item in body.get("errors") or []],
    )


def assert_no_echo(answer: httpx.Response, *sent: str) -> None:
    for text in sent:
        assert text not in answer.text, f"the answer repeats {text!r}: {answer.text[:300]}"


# -- row 1: NUL in free text and in identifiers ----------------------------------------


def test_nul_in_a_summary_a_community_id_or_a_username_is_refused_and_records_nothing(
    world: World,
) -> None:
    household = world.household()["id"]
    admin = world.admin.client
    before = world.head()
    sent = [
        (world.cadre.client, "/v1/grievances", grievance_body(household, summary="电梯\u0000停运")),
        (
            world.cadre.client,
            "/v1/grievances",
            grievance_body(household, description="楼道\u0000漏水"),
        ),
        (
            admin,
            "/v1/communities",
            {"id": "he\u0000ping", "name": "和平社区", "township": "城关镇", "county": "示范县"},
        ),
        (
            admin,
            "/v1/communities",
            {"id": "heping", "name": "和平\u0000社区", "township": "城关镇", "county": "示范县"},
        ),
        (admin, "/v1/communities/xingfu/grids", {"id": "g\u00009", "name": "第九网格"}),
        (
            admin,
            "/v1/accounts",
            {
                "username": "cad\u0000re",
                "display_name": "干部",
                "role": "cadre",
                "community_id": "xingfu",
            },
        ),
        (world.cadre.client, "/v1/visits", visit_body(household, notes="走访\u0000记录")),
    ]
    for client, path, body in sent:
        answer = client.post(path, json=body)
        assert_refused(world, answer, 422, before)
    assert_everything_answers(world)


# -- row 2: moments outside any plausible window ---------------------------------------


def test_a_visit_or_grievance_in_year_one_is_refused_and_the_late_entries_and_ledger_answer(
    world: World,
) -> None:
    household = world.household()["id"]
    before = world.head()
    refused = [
        ("/v1/visits", visit_body(household, visited_at=ANCIENT)),
        ("/v1/visits", visit_body(household, visited_at="1999-12-31T23:59:59+08:00")),
        ("/v1/grievances", grievance_body(household, received_at=ANCIENT)),
        ("/v1/grievances", grievance_body(household, received_at="9999-12-31T23:59:59-14:00")),
        (
            f"/v1/households/{household}/life-events",
            {"kind": "wedding", "occurred_on": "0001-01-01"},
        ),
    ]
    for path, body in refused:
        assert_refused(world, world.cadre.client.post(path, json=body), 422, before)
    late = world.supervisor.client.get(
        "/v1/reports/late-entries", params={"from": "2000-01-01", "to": "2100-12-31"}
    )
    assert late.status_code == 200, late.text[:300]
    assert_everything_answers(world)


# -- row 3: parties nested beyond reason ------------------------------------------------


def test_parties_nested_900_levels_deep_are_refused_and_every_read_answers(world: World) -> None:
    household = world.household()["id"]
    before = world.head()
    for parties in (
        nested(900),
        [nested_objects(900)],
        [{"name": "张三", "family": {"name": "李四"}}],
        [{"name": "张三", "children": ["李四"]}],
        ["张三"] * 51,
        ["长" * 201],
        "张三",
    ):
        answer = world.cadre.client.post(
            "/v1/grievances", json=grievance_body(household, parties=parties)
        )
        assert_refused(world, answer, 422, before)
    assert_everything_answers(world)


def test_flat_parties_are_recorded_and_the_case_its_history_and_lists_answer(
    world: World,
) -> None:
    household = world.household()["id"]
    parties = ["张三", {"name": "李四", "age": 61, "phone": None, "tenant": True, "share": 0.5}]
    before = world.head()
    answer = world.cadre.client.post(
        "/v1/grievances", json=grievance_body(household, parties=parties)
    )
    case = assert_command(answer, 201)
    assert world.events_since(before) == 1
    for path in (f"/v1/grievances/{case['id']}", f"/v1/grievances/{case['id']}/history"):
        read = world.supervisor.client.get(path)
        assert read.status_code == 200, f"{path}: {read.status_code} {read.text[:300]}"
    assert_everything_answers(world)


# -- row 4: a failure must not free the Idempotency-Key --------------------------------


def test_a_hostile_request_repeated_with_one_key_gets_one_4xx_three_times_and_records_nothing(
    world: World,
) -> None:
    household = world.household()["id"]
    body = grievance_body(household, parties=nested(900))
    before = world.head()
    answers = [
        world.cadre.client.post(
            "/v1/grievances", json=body, headers={"Idempotency-Key": "hostile-once"}
        )
        for _ in range(3)
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, f"{answer.status_code} {answer.text[:300]}"
        assert_problem_answer(answer)
    assert len({(a.status_code, a.content) for a in answers}) == 1, [
        (a.status_code, a.text[:200]) for a in answers
    ]
    assert world.events_since(before) == 0
    assert_everything_answers(world)


class RenderingFailsOnce:
    """Makes FastAPI's rendering of the next route answer raise, after its command committed."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.armed = False
        self.fired = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            self.armed = False
            self.fired += 1
            raise RuntimeError("the answer could not be rendered")
        return await self.original(*args, **kwargs)


@pytest.fixture
def rendering(monkeypatch: pytest.MonkeyPatch) -> Iterator[RenderingFailsOnce]:
    failing = RenderingFailsOnce(fastapi.routing.serialize_response)
    monkeypatch.setattr(fastapi.routing, "serialize_response", failing)
    yield failing


def retried_after_a_failed_answer(
    world: World, rendering: RenderingFailsOnce, by: Account, path: str, body: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response, int]:
    """The first answer (its rendering failed after the commit), the retry, and the events
    recorded by the three attempts."""
    before = world.head()
    headers = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    rendering.armed = True
    first = by.client.post(path, json=body, headers=headers)
    assert rendering.fired == 1, "the rendering failure was not provoked"
    retry = by.client.post(path, json=body, headers=headers)
    again = by.client.post(path, json=body, headers=headers)
    assert (again.status_code, again.content) == (retry.status_code, retry.content)
    # The failed answer is a 5xx, or already the committed outcome the retry gets.
    if first.status_code < 500:
        assert (first.status_code, first.content) == (retry.status_code, retry.content), (
            f"{first.status_code} {first.text[:300]}"
        )
    return first, retry, world.events_since(before)


def test_a_filing_retried_after_a_5xx_answer_gets_the_case_as_committed(
    world: World, rendering: RenderingFailsOnce
) -> None:
    household = world.household()["id"]
    _, retry, recorded = retried_after_a_failed_answer(
        world, rendering, world.cadre, "/v1/grievances", grievance_body(household)
    )
    case = assert_command(retry, 201)
    assert recorded == 1, f"{recorded} events recorded for one filing"
    read = world.supervisor.client.get(f"/v1/grievances/{case['id']}")
    assert read.status_code == 200
    assert read.json()["version"] == case["version"]
    listed = world.supervisor.client.get("/v1/grievances", params={"household_id": household})
    assert [item["id"] for item in listed.json()["items"]] == [case["id"]]


def test_a_lifecycle_command_retried_after_a_5xx_answer_gets_the_case_as_committed(
    world: World, rendering: RenderingFailsOnce
) -> None:
    case_id = world.case_in("in_progress")
    version = world.cadre.client.get(f"/v1/grievances/{case_id}").json()["version"]
    _, retry, recorded = retried_after_a_failed_answer(
        world, rendering, world.cadre, f"/v1/grievances/{case_id}/note", {"text": "已联系物业"}
    )
    case = assert_command(retry, 200)
    assert recorded == 1, f"{recorded} events recorded for one note"
    assert case["id"] == case_id and case["version"] == version + 1


# -- row 7: consistent_with beyond the head -------------------------------------------


def test_sixty_waits_for_a_position_beyond_the_head_are_refused_at_once(world: World) -> None:
    client = world.server.client(world.supervisor.token)
    head = world.head()

    def far_ahead(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = client.get("/v1/households", params={"consistent_with": 999_999_999_999})
        return answer, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=60) as pool:
        waits = pool.map(far_ahead, range(60))
        time.sleep(0.3)
        started = time.monotonic()
        me = world.supervisor.client.get("/v1/me")
        me_seconds = time.monotonic() - started
        answered = list(waits)
    assert me.status_code == 200
    assert me_seconds < 2.0, f"GET /v1/me took {me_seconds:.1f} s beside the waits"
    for answer, seconds in answered:
        assert_problem(answer, 422)
        assert seconds < 5.0, f"a refusal took {seconds:.1f} s"
    for position in (head + 1_000, -1, 2**63):
        beyond = world.supervisor.client.get(
            "/v1/reports/coverage", params={"consistent_with": position}
        )
        assert_problem(beyond, 422)
    current = world.supervisor.client.get("/v1/households", params={"consistent_with": head})
    assert current.status_code == 200, current.text[:300]


# -- row 8: a remembered answer replayed after erasure ---------------------------------


def test_a_remembered_registration_replayed_after_erasure_is_whole_json(world: World) -> None:
    body = household_body(head_name="赵桂兰")
    headers = {"Idempotency-Key": f"register-{uuid.uuid4().hex}"}
    first = world.cadre.client.post("/v1/households", json=body, headers=headers)
    household = assert_command(first, 201)
    erased = world.admin.client.post(
        f"/v1/households/{household['id']}/erase", json={"legal_basis": "本人申请删除"}
    )
    assert erased.status_code == 200, erased.text[:300]
    before = world.head()
    replayed = world.cadre.client.post("/v1/households", json=body, headers=headers)
    assert int(replayed.headers["content-length"]) == len(replayed.content)
    assert isinstance(replayed.json(), dict)
    assert "赵桂兰" not in replayed.text
    assert world.events_since(before) == 0
    assert_everything_answers(world)


# -- row 9: query parameters naming nothing ---------------------------------------------


NAMING_NOTHING = [
    ("supervisor", "/v1/reports/workload", {"week": "9999-W52"}),
    ("supervisor", "/v1/reports/workload", {"week": "1999-W52"}),
    ("supervisor", "/v1/reports/workload", {"week": "2026-W60"}),
    ("supervisor", "/v1/reports/stars", {"month": "9999-12"}),
    ("supervisor", "/v1/reports/stars", {"month": "2101-01"}),
    ("supervisor", "/v1/reports/stars", {"month": "2026-13"}),
    ("auditor", "/v1/audit/events", {"after": "99999999999999999999"}),
    ("auditor", "/v1/audit/events", {"after": str(2**63)}),
    ("auditor", "/v1/audit/events", {"after": "-1"}),
    ("supervisor", "/v1/visits", {"cadre_id": "\u0000"}),
    ("supervisor", "/v1/visits", {"cadre_id": str(uuid.UUID(int=7))}),
    ("supervisor", "/v1/households", {"community_id": "nowhere"}),
    ("supervisor", "/v1/households", {"community_id": "xingfu", "grid_id": "g99"}),
    ("supervisor", "/v1/grievances", {"community_id": "nowhere"}),
    ("supervisor", "/v1/grievances", {"assignee_id": str(uuid.UUID(int=7))}),
    ("supervisor", "/v1/reports/coverage", {"community_id": "nowhere"}),
    ("supervisor", "/v1/reports/workload", {"community_id": "xingfu", "grid_id": "g99"}),
    ("supervisor", "/v1/ledger/grievances", {"community_id": "nowhere"}),
]


def test_query_parameters_that_name_nothing_are_422(world: World) -> None:
    readers = {"supervisor": world.supervisor.client, "auditor": world.auditor.client}
    failures = []
    for reader, path, params in NAMING_NOTHING:
        answer = readers[reader].get(path, params=params)
        try:
            assert_problem(answer, 422)
        except (AssertionError, ValueError) as error:
            failures.append(f"{path} {params!r}: {str(error)[:200]}")
    assert not failures, "\n".join(failures)
    fine = world.supervisor.client.get("/v1/reports/workload", params={"week": "2026-W47"})
    assert fine.status_code == 200, fine.text[:300]
    assert_everything_answers(world)


# -- row 10: strict types, plausible days, no bidi controls in ids ---------------------


def test_numbers_booleans_ancient_days_and_bidi_ids_are_refused_not_coerced(
    world: World,
) -> None:
    household = world.household()["id"]
    case_id = world.case_in("in_progress", assignee=world.supervisor)
    admin, cadre, supervisor = world.admin.client, world.cadre.client, world.supervisor.client
    refused = [
        (cadre, "/v1/visits", visit_body(household, visited_at=12345)),
        (cadre, "/v1/households", household_body(member_count=True)),
        (cadre, "/v1/households", household_body(relocated_on="0001-01-01")),
        (cadre, "/v1/households", household_body(relocated_on="1989-12-31")),
        (cadre, "/v1/households", household_body(head_name=12345)),
        (cadre, "/v1/grievances", grievance_body(household, summary=12345)),
        (cadre, f"/v1/households/{household}/employment", {"labour_force": True, "employed": 0}),
        (supervisor, f"/v1/grievances/{case_id}/extend", {"days": True, "reason": "等待配件"}),
        (
            admin,
            "/v1/communities",
            {"id": f"he{RLO}ping", "name": "和平社区", "township": "城关镇", "county": "示范县"},
        ),
        (admin, "/v1/communities/xingfu/grids", {"id": f"g{RLO}9", "name": "第九网格"}),
        (admin, "/v1/communities/xingfu/grids", {"id": "g\u200f9", "name": "第九网格"}),
        (
            admin,
            "/v1/accounts",
            {
                "username": f"ad{RLO}min",
                "display_name": "干部",
                "role": "cadre",
                "community_id": "xingfu",
            },
        ),
        (cadre, "/v1/grievances", grievance_body(household, summary=f"电梯{RLO}停运")),
    ]
    before = world.head()
    failures = []
    for client, path, body in refused:
        answer = client.post(path, json=body)
        try:
            assert_refused(world, answer, 422, before)
        except (AssertionError, ValueError) as error:
            failures.append(f"{path} {json.dumps(body, ensure_ascii=True)[:120]}: {error}"[:300])
            before = world.head()
    assert not failures, "\n".join(failures)
    assert_everything_answers(world)


def test_a_relocation_back_in_1990_is_still_recorded(world: World) -> None:
    answer = world.cadre.client.post(
        "/v1/households", json=household_body(relocated_on="1990-01-01")
    )
    assert assert_command(answer, 201)["relocated_on"] == "1990-01-01"


# -- row 11: no existence oracle, no echo ----------------------------------------------


def test_a_household_of_another_community_reads_like_a_made_up_one(world: World) -> None:
    household = world.household()["id"]
    visit = world.visit(household)["id"]
    case = world.grievance(household)["id"]
    made_up = str(uuid.uuid4())
    outsider = world.outsider.client
    for kind, real in (("households", household), ("visits", visit), ("grievances", case)):
        for suffix in ("", "/history"):
            theirs = outsider.get(f"/v1/{kind}/{real}{suffix}")
            nobodys = outsider.get(f"/v1/{kind}/{made_up}{suffix}")
            assert_problem(theirs, 404)
            assert_problem(nobodys, 404)
            assert problem_words(theirs) == problem_words(nobodys), (kind, suffix)
            assert_no_echo(theirs, real)
            assert_no_echo(nobodys, made_up)


def test_merging_into_another_communitys_case_answers_like_a_made_up_case(world: World) -> None:
    theirs = world.household(by=world.outsider, community_id="anle", grid_id="g1")
    their_case = world.grievance(theirs["id"], by=world.outsider)["id"]
    before = world.head()
    answers = {}
    for label, into in (("theirs", their_case), ("made up", str(uuid.uuid4()))):
        ours = world.case_in("filed")
        at = world.head()
        answer = world.supervisor.client.post(f"/v1/grievances/{ours}/merge", json={"into": into})
        assert_refused(world, answer, 422, at)
        assert_no_echo(answer, into)
        answers[label] = problem_words(answer)
    assert answers["theirs"] == answers["made up"]
    assert world.events_since(before) == 2 * 2  # the two households and cases made here
    assert_everything_answers(world)


@pytest.mark.parametrize("sent", [INJECTION, MARKER])
def test_no_refusal_repeats_the_id_it_was_given(world: World, sent: str) -> None:
    household = world.household()["id"]
    case_id = world.case_in("filed")
    supervisor = world.supervisor.client
    before = world.head()
    reads = [
        supervisor.get(f"/v1/households/{path_of(sent)}"),
        supervisor.get(f"/v1/households/{path_of(sent)}/history"),
        supervisor.get(f"/v1/visits/{path_of(sent)}"),
        supervisor.get(f"/v1/grievances/{path_of(sent)}"),
        world.admin.client.get(f"/v1/communities/{path_of(sent)}"),
    ]
    for answer in reads:
        assert_problem(answer, 404)
        assert_no_echo(answer, sent)
    commands = [
        supervisor.post(f"/v1/grievances/{case_id}/merge", json={"into": sent}),
        supervisor.post(f"/v1/grievances/{case_id}/assign", json={"assignee_id": sent}),
        supervisor.post(f"/v1/households/{household}/contact-cadre", json={"cadre_id": sent}),
        supervisor.post("/v1/visits", json=visit_body(sent)),
        supervisor.post("/v1/grievances", json=grievance_body(sent)),
        supervisor.post(f"/v1/grievances/{path_of(sent)}/note", json={"text": "跟进"}),
    ]
    for answer in commands:
        assert answer.status_code in (404, 422), f"{answer.status_code} {answer.text[:300]}"
        assert_problem(answer, answer.status_code)
        assert_no_echo(answer, sent)
    assert world.events_since(before) == 0
    assert_everything_answers(world)


# -- row 12: If-Match that names no version ---------------------------------------------


@pytest.mark.parametrize("if_match", ["abc", '"abc"', 'W/"x1"', '"-1"'])
def test_if_match_that_is_no_version_is_412_with_the_real_current_version(
    world: World, if_match: str
) -> None:
    case_id = world.case_in("in_progress")
    version = world.cadre.client.get(f"/v1/grievances/{case_id}").json()["version"]
    before = world.head()
    answer = world.cadre.client.post(
        f"/v1/grievances/{case_id}/note", json={"text": "跟进"}, headers={"If-Match": if_match}
    )
    body = assert_refused(world, answer, 412, before)
    assert body.get("current_version") == version, body
    assert str(version) in body["detail"], body["detail"]
    assert "-1" not in body["detail"], body["detail"]
    assert_no_echo(answer, if_match.strip('"').removeprefix("W/").strip('"'))
    household = world.household()
    before = world.head()
    answer = world.cadre.client.post(
        f"/v1/households/{household['id']}/tags",
        json={"add": ["disability"]},
        headers={"If-Match": if_match},
    )
    body = assert_refused(world, answer, 412, before)
    assert body.get("current_version") == household["version"], body
    assert_everything_answers(world)
