"""Who may do what, where (the HTTP contract, Roles and jurisdiction), over HTTP.

Every command endpoint is called by every kind of caller, each on fresh
resources of the community ``xingfu`` brought to the state the command needs:
401 without a valid token, 403 when the role or the jurisdiction does not allow
it (and then nothing is recorded), success otherwise. A record outside the
caller's jurisdiction answers like a made-up ID: 404 when named in the path, 422
when named in the body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.conftest import (
    Account,
    World,
    assert_problem,
    grievance_body,
    household_body,
    unique,
    visit_body,
    yesterday,
)

ROLES = ("cadre", "outsider", "supervisor", "auditor", "admin", "anonymous", "revoked")

ORGANISATION = ("communities", "grids", "accounts", "tokens", "revoke-token")
HOUSEHOLD_WORK = ("register", "contact-cadre", "move", "tags", "employment", "life-events")
VISIT_WORK = ("log-visit", "amend-visit", "void-visit")
CADRE_CASEWORK = (
    "file",
    "accept",
    "decline",
    "note",
    "escalate",
    "resolve",
    "feedback",
    "withdraw",
)
SUPERVISOR_ONLY = ("assign", "extend", "urge", "close", "merge")
COMMANDS = (
    *ORGANISATION,
    *HOUSEHOLD_WORK,
    "erase",
    *VISIT_WORK,
    *CADRE_CASEWORK,
    *SUPERVISOR_ONLY,
)
# Commands that name the household in the body rather than the path.
BODY_REFERENCE = ("log-visit", "file")
CREATED = {
    "communities",
    "grids",
    "accounts",
    "tokens",
    "register",
    "life-events",
    "log-visit",
    "file",
}


def success(command: str) -> int:
    if command == "revoke-token":
        return 204
    return 201 if command in CREATED else 200


def expected(role: str, command: str) -> int:
    """The contract's answer for this caller and command."""
    if role in ("anonymous", "revoked"):
        return 401
    if role == "admin":
        return success(command) if command in (*ORGANISATION, "erase") else 403
    if role == "outsider" and command not in (*ORGANISATION, "register", "erase"):
        return 422 if command in BODY_REFERENCE else 404
    if role in ("auditor", "outsider"):
        return 403
    if command in (*ORGANISATION, "erase"):
        return 403
    if role == "cadre" and command in SUPERVISOR_ONLY:
        return 403
    return success(command)


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


Prepare = Callable[[World, Account], Call]


def _case(world: World, status: str, worker: Account) -> str:
    return world.case_in(status, assignee=worker)


def _household(world: World) -> str:
    return str(world.household()["id"])


def _revoke(world: World, worker: Account) -> Call:
    issued = world.admin.client.post(f"/v1/accounts/{world.cadre2.id}/tokens")
    assert issued.status_code == 201, issued.text
    return Call("DELETE", f"/v1/accounts/{world.cadre2.id}/tokens/{issued.json()['id']}")


def _visit(world: World, worker: Account) -> str:
    return str(world.visit(_household(world), by=worker)["id"])


PREPARE: dict[str, Prepare] = {
    "communities": lambda w, a: Call(
        "POST",
        "/v1/communities",
        {"id": unique("c"), "name": "新社区", "township": "城关镇", "county": "示范县"},
    ),
    "grids": lambda w, a: Call(
        "POST", "/v1/communities/xingfu/grids", {"id": unique("g"), "name": "新网格"}
    ),
    "accounts": lambda w, a: Call(
        "POST",
        "/v1/accounts",
        {
            "username": unique("u"),
            "display_name": "新干部",
            "role": "cadre",
            "community_id": "xingfu",
        },
    ),
    "tokens": lambda w, a: Call("POST", f"/v1/accounts/{w.cadre2.id}/tokens"),
    "revoke-token": _revoke,
    "register": lambda w, a: Call("POST", "/v1/households", household_body()),
    "contact-cadre": lambda w, a: Call(
        "POST", f"/v1/households/{_household(w)}/contact-cadre", {"cadre_id": w.cadre2.id}
    ),
    "move": lambda w, a: Call(
        "POST",
        f"/v1/households/{_household(w)}/move",
        {"grid_id": "g2", "address": {"building": "9", "unit": "1", "room": "101"}},
    ),
    "tags": lambda w, a: Call(
        "POST", f"/v1/households/{_household(w)}/tags", {"add": ["disability"], "remove": []}
    ),
    "employment": lambda w, a: Call(
        "POST", f"/v1/households/{_household(w)}/employment", {"labour_force": 2, "employed": 1}
    ),
    "life-events": lambda w, a: Call(
        "POST",
        f"/v1/households/{_household(w)}/life-events",
        {"kind": "wedding", "occurred_on": yesterday()},
    ),
    "erase": lambda w, a: Call(
        "POST", f"/v1/households/{_household(w)}/erase", {"legal_basis": "本人申请删除"}
    ),
    "log-visit": lambda w, a: Call("POST", "/v1/visits", visit_body(_household(w))),
    "amend-visit": lambda w, a: Call(
        "POST", f"/v1/visits/{_visit(w, a)}/amend", {"notes": "更正", "reason": "笔误"}
    ),
    "void-visit": lambda w, a: Call("POST", f"/v1/visits/{_visit(w, a)}/void", {"reason": "重复"}),
    "file": lambda w, a: Call("POST", "/v1/grievances", grievance_body(_household(w))),
    "assign": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'filed', a)}/assign", {"assignee_id": a.id}
    ),
    "accept": lambda w, a: Call("POST", f"/v1/grievances/{_case(w, 'assigned', a)}/accept", {}),
    "decline": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'assigned', a)}/decline", {"reason": "不在网格"}
    ),
    "note": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'in_progress', a)}/note", {"text": "已联系"}
    ),
    "escalate": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'in_progress', a)}/escalate", {"reason": "需协调"}
    ),
    "extend": lambda w, a: Call(
        "POST",
        f"/v1/grievances/{_case(w, 'in_progress', a)}/extend",
        {"days": 5, "reason": "等配件"},
    ),
    "urge": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'in_progress', a)}/urge", {"note": "尽快"}
    ),
    "resolve": lambda w, a: Call(
        "POST",
        f"/v1/grievances/{_case(w, 'in_progress', a)}/resolve",
        {"resolution": "已修好", "outcome": "resolved"},
    ),
    # Feedback is never recorded by the cadre who worked the case: another cadre did.
    "feedback": lambda w, a: Call(
        "POST",
        f"/v1/grievances/{_case(w, 'resolved', w.cadre2)}/feedback",
        {"rating": "satisfied", "solved": True},
    ),
    "close": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'resolved', a)}/close", {"note": "核实已解决"}
    ),
    "withdraw": lambda w, a: Call(
        "POST", f"/v1/grievances/{_case(w, 'in_progress', a)}/withdraw", {"reason": "撤回"}
    ),
    "merge": lambda w, a: Call(
        "POST",
        f"/v1/grievances/{_case(w, 'filed', a)}/merge",
        {"into": _case(w, "filed", a)},
    ),
}


def callers(world: World) -> dict[str, tuple[httpx.Client, Account]]:
    """Each role's HTTP client, and the account that does the work it is tested on.

    The worker is the caller when the caller works cases in xingfu (so a cadre is
    the assignee of the case it accepts, and the author of the visit it amends);
    otherwise the in-scope cadre.
    """
    spare = world.admin.client.post(f"/v1/accounts/{world.cadre.id}/tokens")
    assert spare.status_code == 201, spare.text
    revoked = world.admin.client.delete(
        f"/v1/accounts/{world.cadre.id}/tokens/{spare.json()['id']}"
    )
    assert revoked.status_code == 204, revoked.text
    return {
        "cadre": (world.cadre.client, world.cadre),
        "outsider": (world.outsider.client, world.cadre),
        "supervisor": (world.supervisor.client, world.supervisor),
        "auditor": (world.auditor.client, world.cadre),
        "admin": (world.admin.client, world.cadre),
        "anonymous": (world.anonymous, world.cadre),
        "revoked": (world.server.client(spare.json()["token"]), world.cadre),
    }


def test_every_role_on_every_command(world: World) -> None:
    assert set(PREPARE) == set(COMMANDS)
    table = callers(world)
    mismatches: list[str] = []
    # Callers that are refused leave the resources as they were, so those share one
    # prepared call per command (prepared afresh if a refusal turns out a success).
    spare: dict[str, Call] = {}
    for role in ROLES:
        client, worker = table[role]
        for command in COMMANDS:
            want = expected(role, command)
            shared = want >= 400 and worker is world.cadre
            if shared and command in spare:
                call = spare.pop(command)
            else:
                call = PREPARE[command](world, worker)
            before = world.head()
            answer = client.request(call.method, call.path, json=call.body)
            where = f"{role:<10} {command:<13} {call.method} {call.path}"
            if shared and answer.status_code >= 400:
                spare[command] = call
            if answer.status_code != want:
                mismatches.append(f"{where}: expected {want}, got {answer.status_code}")
                continue
            if want >= 400:
                try:
                    assert_problem(answer, want)
                except AssertionError as error:
                    mismatches.append(f"{where}: not a problem+json {want}: {error}")
                if world.head() != before:
                    mismatches.append(f"{where}: refused with {want} but recorded events")
            elif not answer.headers.get("log-position", "").isdigit():
                mismatches.append(f"{where}: no Log-Position on a {want}")
    assert not mismatches, "\n" + "\n".join(mismatches)


def test_accepting_or_declining_is_for_the_assignee(world: World) -> None:
    """A cadre in scope works the cases assigned to them: others are refused with 403."""
    mismatches = []
    for verb, body in (
        ("accept", {}),
        ("decline", {"reason": "x"}),
        ("resolve", {"resolution": "x", "outcome": "resolved"}),
    ):
        status = "in_progress" if verb == "resolve" else "assigned"
        case = world.case_in(status, assignee=world.cadre2)
        before = world.head()
        answer = world.cadre.client.post(f"/v1/grievances/{case}/{verb}", json=body)
        if answer.status_code != 403:
            mismatches.append(f"{verb} by a cadre who is not the assignee: {answer.status_code}")
        assert world.head() == before
    assert not mismatches, mismatches


def test_a_grid_cadre_works_only_in_its_grid(world: World) -> None:
    in_grid = world.household(grid_id="g1")
    other_grid = world.household(grid_id="g2")
    grid_cadre = world.grid_cadre.client
    assert grid_cadre.get(f"/v1/households/{in_grid['id']}").status_code == 200
    assert_problem(grid_cadre.get(f"/v1/households/{other_grid['id']}"), 404)
    listed = grid_cadre.get("/v1/households").json()["items"]
    assert {item["id"] for item in listed} == {in_grid["id"]}
    assert_problem(grid_cadre.post("/v1/households", json=household_body(grid_id="g2")), 403)
    assert_problem(grid_cadre.post("/v1/visits", json=visit_body(other_grid["id"])), 422)


# -- nothing leaks out of scope ---------------------------------------------------------


def test_nothing_out_of_scope_leaks(world: World) -> None:
    """The cadre of anle sees nothing of xingfu: not in lists, reads or history."""
    household = world.household()
    visit = world.visit(household["id"])
    case = world.grievance(household["id"], visit_id=visit["id"])
    own_household = world.household(by=world.outsider, community_id="anle", grid_id="g1")
    own_visit = world.visit(own_household["id"], by=world.outsider)
    own_case = world.grievance(own_household["id"], by=world.outsider)
    outsider = world.outsider.client

    def listed(path: str, **params: str) -> set[str]:
        answer = outsider.get(path, params=params)
        assert answer.status_code in (200, 403, 422), answer.text
        if answer.status_code in (403, 422):
            return set()
        return {item["id"] for item in answer.json()["items"]}

    assert listed("/v1/households") == {own_household["id"]}
    assert listed("/v1/households", community_id="xingfu") == set()
    assert listed("/v1/households", q="王秀英") <= {own_household["id"]}
    assert listed("/v1/visits") == {own_visit["id"]}
    assert listed("/v1/visits", household_id=household["id"]) == set()
    assert listed("/v1/visits", cadre_id=world.cadre.id) == set()
    assert listed("/v1/grievances") == {own_case["id"]}
    assert listed("/v1/grievances", community_id="xingfu") == set()
    assert listed("/v1/grievances", household_id=household["id"]) == set()

    for path in (
        f"/v1/households/{household['id']}",
        f"/v1/households/{household['id']}/history",
        f"/v1/visits/{visit['id']}",
        f"/v1/visits/{visit['id']}/history",
        f"/v1/grievances/{case['id']}",
        f"/v1/grievances/{case['id']}/history",
    ):
        refused = outsider.get(path)
        assert_problem(refused, 404)
        assert "13812345678" not in refused.text
        assert "王秀英" not in refused.text

    # and the same from the other side: the in-scope cadre does not see anle
    cadre_households = {i["id"] for i in world.cadre.client.get("/v1/households").json()["items"]}
    assert own_household["id"] not in cadre_households
    assert_problem(world.cadre.client.get(f"/v1/grievances/{own_case['id']}"), 404)


def test_supervisor_and_auditor_read_all_history_in_scope(world: World) -> None:
    household = world.household()
    visit = world.visit(household["id"])
    case = world.case_in("in_progress")
    for reader in (world.supervisor, world.auditor):
        for path in (
            f"/v1/households/{household['id']}/history",
            f"/v1/visits/{visit['id']}/history",
            f"/v1/grievances/{case}/history",
        ):
            answer = reader.client.get(path)
            assert answer.status_code == 200, f"{reader.role} {path}: {answer.text}"
    for path in ("/v1/households", "/v1/visits", "/v1/grievances"):
        assert_problem(world.admin.client.get(path), 403)


# -- personal data ----------------------------------------------------------------------


def test_personal_data_is_clear_in_scope_and_masked_for_auditors(world: World) -> None:
    household = world.household(phone="13812345678", id_number="522601198503150027")
    hid = household["id"]
    for reader in (world.cadre, world.supervisor):
        one = reader.client.get(f"/v1/households/{hid}").json()
        assert (one["phone"], one["id_number"]) == ("13812345678", "522601198503150027")
        listed = reader.client.get("/v1/households").json()["items"]
        assert [(i["phone"], i["id_number"]) for i in listed if i["id"] == hid] == [
            ("13812345678", "522601198503150027")
        ]

    seen = world.auditor.client.get(f"/v1/households/{hid}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["phone"] == "138****5678"
    assert seen.json()["id_number"] != "522601198503150027"
    assert "*" in seen.json()["id_number"]
    listed = world.auditor.client.get("/v1/households").json()["items"]
    assert [i["phone"] for i in listed if i["id"] == hid] == ["138****5678"]
    assert "13812345678" not in world.auditor.client.get("/v1/households").text
    history = world.auditor.client.get(f"/v1/households/{hid}/history")
    assert history.status_code == 200
    assert "13812345678" not in history.text
    assert "522601198503150027" not in history.text
