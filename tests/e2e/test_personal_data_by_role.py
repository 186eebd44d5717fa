"""Personal data by role, on every endpoint that returns it (the HTTP contract, Roles and jurisdiction).

One household of xingfu grid g1 with distinctive personal data (head name, phone, ID
number) and grievances of it whose ``parties`` name other people. Every endpoint is
called by each role and the answer checked exactly:

- cadres and supervisors in scope (the community cadre, the grid cadre of g1, the
  supervisor of xingfu) see the data in clear;
- the auditor sees it masked (``application/masking.py``): ``欧***``, ``139****4321``,
  ``522601********002X``; parties are ``null`` in views and ``"***"`` in history and
  the audit log;
- the admin is refused with 403; the cadre of another community is answered as if
  the records did not exist (404 for an ID in the path, 422 for one in the body);
  on lists and county-wide reports, which are scoped to the caller, neither finds them.

And whatever the role, the raw text of every answer (headers included, and JSON
``\\u`` escapes of the values) is searched for a clear value the role may not see.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.e2e.conftest import (
    Account,
    World,
    assert_problem,
    household_body,
    iso,
    now,
    yesterday,
)
from tests.national_ids import valid_id_number

HEAD_NAME = "欧阳明珠"
PHONE = "13987654321"
ID_NUMBER = "52260119850329002X"
PARTY_NAME = "司马光辉"
PARTY_PHONE = "13755502468"
PARTIES = [{"name": PARTY_NAME, "phone": PARTY_PHONE, "relation": "邻居"}]

CLEAR: dict[str, str | None] = {"head_name": HEAD_NAME, "phone": PHONE, "id_number": ID_NUMBER}
MASKED: dict[str, str | None] = {
    "head_name": "欧***",
    "phone": "139****4321",
    "id_number": "522601********002X",
}
HIDDEN: dict[str, str | None] = {"head_name": None, "phone": None, "id_number": None}
PERSONAL = tuple(CLEAR)

# Clear values, and the parts of them a mask must not keep.
SECRETS = (
    HEAD_NAME,
    HEAD_NAME[1:],
    PHONE,
    PHONE[3:],
    ID_NUMBER,
    ID_NUMBER[6:-4],
    PARTY_NAME,
    PARTY_NAME[1:],
    PARTY_PHONE,
    PARTY_PHONE[3:],
)

CASEWORKERS = ("cadre", "grid_cadre", "supervisor")
REFUSED_WRITERS = ("auditor", "outsider", "admin")
ROLES = (*CASEWORKERS, *REFUSED_WRITERS)

# What each role is shown: clear, masked, or (the outsider and the admin) nothing.
SEES = {
    "cadre": "clear",
    "grid_cadre": "clear",
    "supervisor": "clear",
    "auditor": "masked",
    "outsider": "nothing",
    "admin": "nothing",
}


def account(world: World, role: str) -> Account:
    found: Account = getattr(world, role)
    return found


def forms(secret: str) -> set[str]:
    """The value as sent, and as JSON with \\u escapes (lower and upper case hex)."""
    escaped = json.dumps(secret)[1:-1]
    upper = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), escaped)
    return {secret, escaped, upper}


def leaked(text: str) -> list[str]:
    """The clear values (in any form) that ``text`` carries."""
    return sorted({secret for secret in SECRETS for form in forms(secret) if form in text})


def raw(answer: httpx.Response) -> str:
    """Everything the caller received, as text: headers and body (ledgers decoded)."""
    headers = "\n".join(f"{name}: {value}" for name, value in answer.headers.items())
    kind = answer.headers.get("content-type", "")
    if kind.startswith("application/vnd.openxmlformats"):
        book = load_workbook(io.BytesIO(answer.content), read_only=True)
        body = "\n".join(
            "\t".join("" if cell is None else str(cell) for cell in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    elif kind.startswith("text/csv"):
        body = answer.content.decode("utf-8-sig")
    else:
        body = answer.text
    return f"{headers}\n{body}"


def check_no_leak(role: str, where: str, answer: httpx.Response, carries_personal: bool) -> None:
    """Nothing clear for a role that may not see it; nothing at all where none belongs."""
    if SEES[role] == "clear" and carries_personal:
        return
    found = leaked(raw(answer))
    assert not found, f"{role} {where}: clear personal data in the answer: {found}"


# -- the scene --------------------------------------------------------------------------


@dataclass
class Scene:
    household_id: str
    visit_id: str
    grievance_id: str
    as_of: str


def build_scene(world: World) -> Scene:
    household = world.household(grid_id="g1", head_name=HEAD_NAME, phone=PHONE, id_number=ID_NUMBER)
    hid = str(household["id"])
    assert {field: household[field] for field in PERSONAL} == CLEAR
    visit = world.visit(hid, visited_at=iso(now() - timedelta(hours=60)))  # a late entry
    case = world.grievance(hid, visit_id=visit["id"], parties=PARTIES)
    assert case["parties"] == PARTIES
    world.act(world.supervisor, case["id"], "assign", {"assignee_id": world.cadre.id})
    as_of = iso(now())
    return Scene(household_id=hid, visit_id=str(visit["id"]), grievance_id=case["id"], as_of=as_of)


# -- reads: endpoint x role -------------------------------------------------------------

Check = Callable[[str, httpx.Response, Scene], None]


def personal_of(item: dict[str, Any]) -> dict[str, Any]:
    return {field: item[field] for field in PERSONAL}


def expected_personal(role: str) -> dict[str, str | None]:
    return {"clear": CLEAR, "masked": MASKED, "nothing": HIDDEN}[SEES[role]]


def refused(role: str, answer: httpx.Response) -> None:
    """The admin may not read casework (403); to an outsider the record does not exist (404)."""
    assert_problem(answer, 404 if role == "outsider" else 403)


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}"
    return answer.json()


def household_one(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    body = ok(answer)
    assert body["id"] == scene.household_id
    assert personal_of(body) == expected_personal(role)


def household_history(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    entries = ok(answer)
    registered = [e for e in entries if e["event_type"] == "Household.Registered"]
    assert len(registered) == 1, entries
    assert personal_of(registered[0]["data"]) == expected_personal(role)


def listed(answer: httpx.Response, wanted: str) -> list[dict[str, Any]]:
    return [item for item in ok(answer)["items"] if item["id"] == wanted]


def household_list(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    found = listed(answer, scene.household_id)
    if role == "outsider":
        assert found == []
        return
    assert [personal_of(item) for item in found] == [expected_personal(role)]


def household_search_by_clear_name(role: str, answer: httpx.Response, scene: Scene) -> None:
    """Searching the clear name finds the household only for those who may read the name:
    an auditor's search runs over masked names, so it cannot confirm a guessed name."""
    if role == "admin":
        assert_problem(answer, 403)
        return
    found = listed(answer, scene.household_id)
    if SEES[role] == "clear":
        assert [personal_of(item) for item in found] == [CLEAR]
    else:
        assert found == [], f"{role} confirmed the clear name by search"


def grievance_one(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    body = ok(answer)
    assert body["id"] == scene.grievance_id
    assert body["parties"] == (PARTIES if SEES[role] == "clear" else None)


def grievance_list(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    found = listed(answer, scene.grievance_id)
    if role == "outsider":
        assert found == []
        return
    assert [item["parties"] for item in found] == [PARTIES if SEES[role] == "clear" else None]


def grievance_list_of_household(role: str, answer: httpx.Response, scene: Scene) -> None:
    """To an outsider the household filter names nothing: 422, as for a made-up ID."""
    if role == "outsider":
        assert_problem(answer, 422)
        return
    grievance_list(role, answer, scene)


def grievance_history(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    entries = ok(answer)
    filed = [e for e in entries if e["event_type"] == "Grievance.Filed"]
    assert len(filed) == 1, entries
    assert filed[0]["data"]["parties"] == (PARTIES if SEES[role] == "clear" else "***")


def visit_one(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    assert ok(answer)["id"] == scene.visit_id


def visit_list(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    found = listed(answer, scene.visit_id)
    assert len(found) == (0 if role == "outsider" else 1)


def visit_history(role: str, answer: httpx.Response, scene: Scene) -> None:
    if SEES[role] == "nothing":
        refused(role, answer)
        return
    assert ok(answer)


def audit_of_household(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role != "auditor":
        assert_problem(answer, 403)
        return
    events = ok(answer)
    registered = [e for e in events if e["event_type"] == "Household.Registered"]
    assert len(registered) == 1, events
    assert personal_of(registered[0]["data"]) == MASKED


def audit_of_grievance(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role != "auditor":
        assert_problem(answer, 403)
        return
    events = ok(answer)
    filed = [e for e in events if e["event_type"] == "Grievance.Filed"]
    assert len(filed) == 1, events
    assert filed[0]["data"]["parties"] == "***"


def audit_log(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role != "auditor":
        assert_problem(answer, 403)
        return
    text = answer.text
    assert all(f'"{MASKED[field]}"' in text for field in PERSONAL), text[:500]


def ledger(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    assert answer.status_code == 200, answer.text[:300]
    text = raw(answer)
    # the ledger lists the case (by its and its household's ids) to those it concerns
    assert (scene.grievance_id in text) == (role != "outsider"), text[:500]
    assert (scene.household_id in text) == (role != "outsider"), text[:500]


def report(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    ok(answer)


def late_entries(role: str, answer: httpx.Response, scene: Scene) -> None:
    if role == "admin":
        assert_problem(answer, 403)
        return
    found = [item for item in ok(answer)["items"] if item["visit_id"] == scene.visit_id]
    assert len(found) == (0 if role == "outsider" else 1), found


@dataclass(frozen=True)
class Read:
    path: str
    params: dict[str, str]
    check: Check
    carries_personal: bool  # whether a clear-sighted role may find clear data in it


def reads(scene: Scene) -> dict[str, Read]:
    hid, gid, vid = scene.household_id, scene.grievance_id, scene.visit_id
    at = {"as_of": scene.as_of}
    return {
        "GET household": Read(f"/v1/households/{hid}", {}, household_one, True),
        "GET household as_of": Read(f"/v1/households/{hid}", at, household_one, True),
        "GET household history": Read(f"/v1/households/{hid}/history", {}, household_history, True),
        "GET households": Read("/v1/households", {}, household_list, True),
        "GET households of xingfu g1": Read(
            "/v1/households",
            {"community_id": "xingfu", "grid_id": "g1", "tag": "low_income"},
            household_list,
            True,
        ),
        "GET households q=name": Read(
            "/v1/households", {"q": HEAD_NAME}, household_search_by_clear_name, True
        ),
        "GET households q=phone": Read(
            "/v1/households", {"q": PHONE}, household_search_by_clear_name, True
        ),
        "GET grievance": Read(f"/v1/grievances/{gid}", {}, grievance_one, True),
        "GET grievance as_of": Read(f"/v1/grievances/{gid}", at, grievance_one, True),
        "GET grievance history": Read(f"/v1/grievances/{gid}/history", {}, grievance_history, True),
        "GET grievances": Read("/v1/grievances", {}, grievance_list, True),
        "GET grievances of household": Read(
            "/v1/grievances",
            {"community_id": "xingfu", "household_id": hid},
            grievance_list_of_household,
            True,
        ),
        "GET visit": Read(f"/v1/visits/{vid}", {}, visit_one, False),
        "GET visit history": Read(f"/v1/visits/{vid}/history", {}, visit_history, False),
        "GET visits": Read("/v1/visits", {}, visit_list, False),
        "GET audit events of household": Read(
            "/v1/audit/events", {"aggregate_id": hid}, audit_of_household, False
        ),
        "GET audit events of grievance": Read(
            "/v1/audit/events", {"aggregate_id": gid}, audit_of_grievance, False
        ),
        "GET audit events": Read("/v1/audit/events", {"limit": "500"}, audit_log, False),
        "GET ledger csv": Read("/v1/ledger/grievances", {"format": "csv"}, ledger, False),
        "GET ledger xlsx": Read("/v1/ledger/grievances", {"format": "xlsx"}, ledger, False),
        "GET report workload": Read("/v1/reports/workload", {}, report, False),
        "GET report coverage": Read("/v1/reports/coverage", {}, report, False),
        "GET report resolution": Read("/v1/reports/resolution", {}, report, False),
        "GET report late-entries": Read("/v1/reports/late-entries", {}, late_entries, False),
    }


def test_every_read_shows_each_role_exactly_its_personal_data(world: World) -> None:
    """Every read endpoint x every role: clear in scope, masked for the auditor,
    refused or absent out of scope; no clear value anywhere it does not belong."""
    scene = build_scene(world)
    failures: list[str] = []
    for name, read in reads(scene).items():
        for role in ROLES:
            answer = account(world, role).client.get(read.path, params=read.params)
            try:
                read.check(role, answer, scene)
                check_no_leak(role, name, answer, read.carries_personal)
            except AssertionError as error:
                failures.append(f"{role:<10} {name}: {str(error)[:400]}")
    assert not failures, "\n" + "\n".join(failures)


# -- commands: each answer is a view of the record --------------------------------------


@dataclass(frozen=True)
class Command:
    path: str
    body: dict[str, Any]
    status: int = 200


def household_commands(world: World, hid: str) -> dict[str, Command]:
    return {
        "contact-cadre": Command(
            f"/v1/households/{hid}/contact-cadre", {"cadre_id": world.grid_cadre.id}
        ),
        "move": Command(
            f"/v1/households/{hid}/move",
            {"grid_id": "g1", "address": {"building": "7", "unit": "1", "room": "302"}},
        ),
        "tags": Command(f"/v1/households/{hid}/tags", {"add": ["disability"], "remove": []}),
        "employment": Command(
            f"/v1/households/{hid}/employment", {"labour_force": 2, "employed": 1}
        ),
        "life-events": Command(
            f"/v1/households/{hid}/life-events",
            {"kind": "wedding", "occurred_on": yesterday()},
            201,
        ),
    }


def refusal_of(role: str, path: str) -> int:
    """403 for a role refused, or a place named outright; to an outsider a record named
    by ID does not exist: 404 in the path, 422 for the household named in a filing."""
    if role != "outsider" or path == "/v1/households":
        return 403
    return 422 if path == "/v1/grievances" else 404


def refused_everywhere(world: World, where: str, path: str, body: dict[str, Any]) -> list[str]:
    """The roles that may not write try it: refused, nothing recorded, no personal data."""
    failures = []
    for role in REFUSED_WRITERS:
        before = world.head()
        answer = account(world, role).client.post(path, json=body)
        try:
            assert_problem(answer, refusal_of(role, path))
            assert world.head() == before, "recorded events"
            check_no_leak(role, where, answer, carries_personal=True)
        except AssertionError as error:
            failures.append(f"{role:<10} {where}: {str(error)[:400]}")
    return failures


def test_household_commands_answer_in_clear_only_to_caseworkers_in_scope(world: World) -> None:
    """Registering and every household command answers with the household view: clear
    for each caseworker in scope; the auditor, the outsider and the admin are refused
    without a trace of the data."""
    failures = refused_everywhere(
        world,
        "POST /v1/households",
        "/v1/households",
        household_body(grid_id="g1", head_name=HEAD_NAME, phone=PHONE, id_number=ID_NUMBER),
    )
    for number, role in enumerate(CASEWORKERS):
        caller = account(world, role)
        # Each caseworker registers a household of their own: one ID number is held once.
        id_number = valid_id_number(born=date(1985, 3, 29 - number), sequence=number)
        clear = {**CLEAR, "id_number": id_number}
        household = world.household(
            by=caller, grid_id="g1", head_name=HEAD_NAME, phone=PHONE, id_number=id_number
        )
        if personal_of(household) != clear:
            failures.append(f"{role:<10} register: {personal_of(household)}")
        for name, command in household_commands(world, str(household["id"])).items():
            where = f"POST {name}"
            failures += refused_everywhere(world, where, command.path, command.body)
            answer = caller.client.post(command.path, json=command.body)
            try:
                assert answer.status_code == command.status, answer.text[:300]
                body = answer.json()
                view = body["household"] if name == "life-events" else body
                assert personal_of(view) == clear
            except AssertionError as error:
                failures.append(f"{role:<10} {where}: {str(error)[:400]}")
    assert not failures, "\n" + "\n".join(failures)


def test_grievance_commands_answer_parties_only_to_caseworkers_in_scope(world: World) -> None:
    """Filing and every step of a case answers with the case view: its parties in clear
    for the caseworkers in scope; the others are refused without a trace of them."""
    household = world.household(grid_id="g1", head_name=HEAD_NAME, phone=PHONE)
    hid = str(household["id"])
    supervisor = world.supervisor
    failures: list[str] = []

    def step(by: Account, case_id: str | None, verb: str, body: dict[str, Any]) -> str:
        path = "/v1/grievances" if case_id is None else f"/v1/grievances/{case_id}/{verb}"
        failures.extend(refused_everywhere(world, f"POST {verb}", path, body))
        answer = by.client.post(path, json=body)
        try:
            assert answer.status_code == (201 if case_id is None else 200), answer.text[:300]
            assert answer.json()["parties"] == PARTIES
        except AssertionError as error:
            failures.append(f"{by.username:<10} {verb}: {str(error)[:400]}")
            return case_id or ""
        return str(answer.json()["id"])

    def filed(by: Account) -> str:
        body = {
            "household_id": hid,
            "category": "neighbour_dispute",
            "urgency": "normal",
            "channel": "walk_in",
            "summary": "邻里噪音纠纷",
            "parties": PARTIES,
        }
        return step(by, None, "file", body)

    for role in CASEWORKERS:
        worker = account(world, role)
        assign = {"assignee_id": worker.id}
        # the whole way to closed
        case = filed(worker)
        step(supervisor, case, "assign", assign)
        step(worker, case, "accept", {})
        step(worker, case, "note", {"text": "已联系双方"})
        step(supervisor, case, "extend", {"days": 5, "reason": "等调解"})
        step(supervisor, case, "urge", {"note": "尽快"})
        step(worker, case, "resolve", {"resolution": "已调解", "outcome": "resolved"})
        step(supervisor, case, "close", {"note": "核实已解决"})
        # resolved, then closed by the resident's feedback
        case = filed(worker)
        step(supervisor, case, "assign", assign)
        step(worker, case, "accept", {})
        step(worker, case, "resolve", {"resolution": "已调解", "outcome": "resolved"})
        # the callback is made by someone who did not work the case
        caller = account(world, "cadre" if role == "supervisor" else "supervisor")
        step(caller, case, "feedback", {"rating": "satisfied", "solved": True})
        # declined, then escalated
        case = filed(worker)
        step(supervisor, case, "assign", assign)
        step(worker, case, "decline", {"reason": "不在网格"})
        step(supervisor, case, "assign", assign)
        step(worker, case, "accept", {})
        step(worker, case, "escalate", {"reason": "需协调"})
        # withdrawn
        case = filed(worker)
        step(supervisor, case, "assign", assign)
        step(worker, case, "accept", {})
        step(worker, case, "withdraw", {"reason": "撤回"})
        # merged
        kept = filed(worker)
        step(supervisor, filed(worker), "merge", {"into": kept})
    assert not failures, "\n" + "\n".join(failures)


def test_a_grid_cadre_reads_nothing_of_a_household_moved_out_of_its_grid(world: World) -> None:
    """Once the household has moved to g2 the cadre of grid g1 is out of scope: refused
    now, in its history and as it stood before the move."""
    household = world.household(grid_id="g1", head_name=HEAD_NAME, phone=PHONE, id_number=ID_NUMBER)
    hid = household["id"]
    before_the_move = iso(now())
    moved = world.cadre.client.post(
        f"/v1/households/{hid}/move",
        json={"grid_id": "g2", "address": {"building": "9", "unit": "1", "room": "101"}},
    )
    assert moved.status_code == 200, moved.text
    failures = []
    for path, params in (
        (f"/v1/households/{hid}", {}),
        (f"/v1/households/{hid}/history", {}),
        (f"/v1/households/{hid}", {"as_of": before_the_move}),
    ):
        answer = world.grid_cadre.client.get(path, params=params)
        found = leaked(raw(answer))
        if answer.status_code != 404 or found:
            failures.append(f"{path} {params}: {answer.status_code}, clear {found}")
    assert not failures, "\n" + "\n".join(failures)
