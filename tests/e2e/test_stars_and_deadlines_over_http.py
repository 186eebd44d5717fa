"""Stars, published policies and the in-process deadline watcher, over HTTP.

``GET /v1/reports/stars`` per cadre (the HTTP contract, Reports; the domain rules, Star rating),
``GET /v1/policies``, and a server of our own whose watcher runs every quarter
second (``ANJU_DEADLINE_WATCH_SECONDS``): a case logged late gets its missed
deadlines recorded by ``system``, once each, whatever the number of rounds.
Every test runs on SQLite and on PostgreSQL (``county_settings``) but the policies one,
which reads files only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any

import httpx
import pytest

from infrastructure.settings import Settings
from tests.e2e.conftest import (
    SHANGHAI,
    Account,
    LiveServer,
    World,
    assert_command,
    assert_problem,
    grievance_body,
    household_body,
    iso,
    now,
    open_account,
    running,
)

STARS = "/v1/reports/stars"
STAR_NAMES = ["visit", "quota", "mandatory", "response", "resolution", "satisfaction", "on_time"]
STAR_KEYS = {
    "star",
    "name",
    "earned",
    "criterion",
    "criterion_version",
    "measure",
    "at_least",
    "at_most",
    "value",
    "figures",
}
ROW_KEYS = {
    "cadre_id",
    "username",
    "display_name",
    "community_id",
    "grid_id",
    "stars_earned",
    "stars",
    "not_earned",
}
WATCH_SECONDS = 0.25
SETTLE_SECONDS = 15.0


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, f"{answer.request.url}: {answer.status_code} {answer.text}"
    return dict(answer.json())


def log_position(answer: httpx.Response) -> int:
    position = answer.headers.get("log-position", "")
    assert position.isdigit(), answer.headers
    return int(position)


def this_month() -> str:
    return now().strftime("%Y-%m")


def month_after(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def month_before(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def stars_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each cadre's row by username."""
    return {row["username"]: row for row in body["items"]}


def by_star(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {star["star"]: star for star in row["stars"] + row["not_earned"]}


def assert_star_board(body: dict[str, Any], month: str) -> None:
    """The the HTTP contract shape: every cadre has all seven stars, split into earned and not."""
    assert body["month"] == month
    assert body["criteria_version"] == "2026.1"
    assert isinstance(body["final"], bool)
    assert datetime.fromisoformat(body["judged_at"]).utcoffset() == timedelta(hours=8), body
    for row in body["items"]:
        assert set(row) >= ROW_KEYS, row
        every = row["stars"] + row["not_earned"]
        assert sorted(star["star"] for star in every) == sorted(STAR_NAMES), row
        assert all(star["earned"] is True for star in row["stars"]), row
        assert all(star["earned"] is False for star in row["not_earned"]), row
        assert row["stars_earned"] == len(row["stars"])
        for star in every:
            assert set(star) >= STAR_KEYS, star
            assert star["criterion_version"] == "2026.1"
            assert star["criterion"].strip(), star
            assert isinstance(star["figures"], dict) and star["figures"], star
            assert (star["at_least"] is None) != (star["at_most"] is None), star


def a_closed_case_of(world: World, cadre: Account) -> int:
    """A household linked to ``cadre`` and a case of it, accepted, resolved and closed in time."""
    household = world.household()
    linked = world.supervisor.client.post(
        f"/v1/households/{household['id']}/contact-cadre", json={"cadre_id": cadre.id}
    )
    assert assert_command(linked)["contact_cadre_id"] == cadre.id
    case = world.grievance(household["id"])
    world.act(world.supervisor, case["id"], "assign", {"assignee_id": cadre.id})
    world.act(cadre, case["id"], "accept", {})
    world.act(cadre, case["id"], "resolve", {"resolution": "已修复", "outcome": "resolved"})
    closed = world.supervisor.client.post(
        f"/v1/grievances/{case['id']}/feedback", json={"rating": "satisfied", "solved": True}
    )
    assert assert_command(closed)["status"] == "closed"
    return log_position(closed)


# -- stars -----------------------------------------------------------------------------------


def test_stars_show_each_cadre_in_scope_every_criterion_earned_or_not_with_its_figures(
    world: World,
) -> None:
    position = a_closed_case_of(world, world.cadre)
    month = this_month()
    params = {"month": month, "consistent_with": position}

    board = ok(world.supervisor.client.get(STARS, params=params))

    assert_star_board(board, month)
    assert board["final"] is False
    rows = stars_of(board)
    assert set(rows) == {"cadre1", "cadre2", "cadreg1"}
    cadre1 = by_star(rows["cadre1"])
    assert [star["star"] for star in rows["cadre1"]["stars"]] == [
        name for name in STAR_NAMES if name != "quota"
    ]
    assert cadre1["visit"]["value"] == 0
    assert cadre1["visit"]["figures"] == {
        "households_linked": 1,
        "households_due": 0,
        "cadence_days": 90,
    }
    assert cadre1["mandatory"]["value"] == 0
    assert cadre1["mandatory"]["figures"] == {
        "fell_due": 0,
        "overdue": 0,
        "overdue_life_event_ids": [],
    }
    for name in ("response", "resolution", "satisfaction", "on_time"):
        star = cadre1[name]
        assert star["value"] == 1.0, star
        assert star["measure"] == f"{name}_rate"
        assert star["figures"] == {"cases": 1, "counted": 1, "met": 1, f"{name}_rate": 1.0}, star
    quota = cadre1["quota"]
    assert quota["earned"] is False and quota["at_most"] == 0
    assert quota["figures"]["weekly_quota"] == 20
    weeks = quota["figures"]["weeks"]
    assert quota["value"] == (len(weeks) if weeks else None), quota
    assert all(week["visits"] == 0 for week in weeks), weeks

    # A cadre with no linked household and no case earns only the mandatory star.
    cadre2 = by_star(rows["cadre2"])
    assert [star["star"] for star in rows["cadre2"]["stars"]] == ["mandatory"]
    assert cadre2["visit"]["value"] is None
    assert cadre2["visit"]["figures"]["households_linked"] == 0
    for name in ("response", "resolution", "satisfaction", "on_time"):
        assert cadre2[name]["value"] is None
        assert cadre2[name]["figures"]["counted"] == 0

    # The auditor sees every community's cadres; cadres read their own community's board.
    everyone = ok(world.auditor.client.get(STARS, params=params))
    assert_star_board(everyone, month)
    assert set(stars_of(everyone)) == {"cadre1", "cadre2", "cadreg1", "cadre9"}
    assert stars_of(everyone)["cadre1"] == rows["cadre1"]
    own = ok(world.cadre.client.get(STARS, params=params))
    assert_star_board(own, month)
    assert stars_of(own)["cadre1"] == rows["cadre1"]
    grid = ok(world.grid_cadre.client.get(STARS, params=params))
    assert "cadreg1" in stars_of(grid)
    anle = ok(world.auditor.client.get(STARS, params={**params, "community_id": "anle"}))
    assert set(stars_of(anle)) == {"cadre9"}
    # Without a month, the current one.
    assert (
        ok(world.supervisor.client.get(STARS, params={"consistent_with": position}))["month"]
        == month
    )


def test_stars_refuse_admins_strangers_future_and_malformed_months_and_outsiders(
    world: World,
) -> None:
    supervisor = world.supervisor.client
    assert_problem(world.admin.client.get(STARS), 403)
    assert_problem(world.anonymous.get(STARS), 401)
    assert_problem(world.server.client("not-a-token").get(STARS), 401)

    future = assert_problem(supervisor.get(STARS, params={"month": month_after(this_month())}), 422)
    assert any("month" in [str(part) for part in error["loc"]] for error in future["errors"])
    for bad in ("2026-13", "2026-00", "2026-1", "abc", "2026/11", "26-11", ""):
        problem = assert_problem(supervisor.get(STARS, params={"month": bad}), 422)
        assert any("month" in [str(p) for p in e["loc"]] for e in problem["errors"]), (bad, problem)

    assert_problem(supervisor.get(STARS, params={"community_id": "anle"}), 403)
    assert_problem(world.outsider.client.get(STARS, params={"community_id": "xingfu"}), 403)
    assert_problem(world.grid_cadre.client.get(STARS, params={"grid_id": "g2"}), 403)
    assert ok(supervisor.get(STARS, params={"community_id": "xingfu"}))["items"]
    assert_problem(supervisor.get(STARS, params={"as_of": iso(now() + timedelta(hours=1))}), 422)


def test_stars_as_of_a_moment_or_of_a_past_month_show_the_record_as_it_stood_then(
    world: World,
) -> None:
    before = now()
    time.sleep(0.01)
    position = a_closed_case_of(world, world.cadre)
    month = this_month()
    supervisor = world.supervisor.client

    then = ok(supervisor.get(STARS, params={"month": month, "as_of": iso(before)}))
    live = ok(supervisor.get(STARS, params={"month": month, "consistent_with": position}))

    assert_star_board(then, month)
    assert then["final"] is False
    assert datetime.fromisoformat(then["judged_at"]) == before
    earlier = by_star(stars_of(then)["cadre1"])
    assert earlier["visit"]["value"] is None  # the household was not linked yet
    assert earlier["response"]["figures"]["cases"] == 0
    assert by_star(stars_of(live)["cadre1"])["response"]["value"] == 1.0
    # as_of alone judges the month it falls in.
    assert ok(supervisor.get(STARS, params={"as_of": iso(before)}))["month"] == month

    # A past month is final, judged at its end from the log as it stood then: the
    # accounts opened this month were not there yet.
    previous = month_before(month)
    first_of_this_month = datetime.combine(now().date().replace(day=1), clock_time(0), SHANGHAI)
    past = ok(world.auditor.client.get(STARS, params={"month": previous}))
    assert (past["month"], past["final"], past["items"]) == (previous, True, [])
    assert datetime.fromisoformat(past["judged_at"]) == first_of_this_month


# -- policies --------------------------------------------------------------------------------

RESPOND_HOURS = {"emergency": 2, "urgent": 24, "normal": 72, "complex": 72}
RESOLVE_HOURS = {"emergency": 24, "urgent": 72, "normal": 360, "complex": 1440}


def assert_published_rules(body: dict[str, Any]) -> None:
    policy = body["deadline_policy"]
    assert policy["version"] == "2026.1"
    assert datetime.fromisoformat(policy["effective_from"]) == datetime(2026, 1, 1, tzinfo=SHANGHAI)
    assert policy["respond_within_hours"] == RESPOND_HOURS
    assert policy["resolve_within_hours"] == RESOLVE_HOURS
    assert policy["escalate_after_days"] == 3
    criteria = body["star_criteria"]
    assert criteria["version"] == "2026.1"
    assert criteria["weekly_quota"] == 20
    assert [star["star"] for star in criteria["stars"]] == STAR_NAMES
    for star in criteria["stars"]:
        assert star["name"].strip() and star["criterion"].strip() and star["measure"], star
    assert [p["version"] for p in body["deadline_policy_versions"]] == ["2026.1"]
    assert [c["version"] for c in body["star_criteria_versions"]] == ["2026.1"]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # rules are files, not stored
def test_policies_publish_the_deadline_hours_of_domain_md_and_the_seven_star_criteria(
    world: World,
) -> None:
    for account in (world.admin, world.supervisor, world.auditor, world.cadre, world.outsider):
        assert_published_rules(ok(account.client.get("/v1/policies")))

    moment = now() - timedelta(days=1)
    then = ok(world.auditor.client.get("/v1/policies", params={"as_of": iso(moment)}))
    assert_published_rules(then)
    assert datetime.fromisoformat(then["at"]) == moment

    assert_problem(world.auditor.client.get("/v1/policies", params={"as_of": "yesterday"}), 422)
    future = iso(now() + timedelta(days=1))
    assert_problem(world.auditor.client.get("/v1/policies", params={"as_of": future}), 422)
    assert_problem(world.anonymous.get("/v1/policies"), 401)


# -- the deadline watcher in `anju serve` ---------------------------------------------------------


@pytest.fixture
def watched(county_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server of our own, its watcher every quarter second, set the way `anju serve` reads it."""
    monkeypatch.setenv("ANJU_DEADLINE_WATCH_SECONDS", str(WATCH_SECONDS))
    given = county_settings.model_dump(exclude={"deadline_watch_seconds"})
    settings = Settings(**given)
    assert settings.deadline_watch_seconds == WATCH_SECONDS
    with running(settings) as (url, app):
        token = app.state.county.services.organisation.bootstrap_admin("root", "根管理员")
        live = LiveServer(url=url, app=app, admin_token=token.token)
        try:
            yield live
        finally:
            live.close_clients()


def history_of(client: httpx.Client, case_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/grievances/{case_id}/history")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def entries(history: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [entry for entry in history if entry["event_type"] == event_type]


def wait_for(found: Callable[[], bool], seconds: float = SETTLE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not found():
        assert time.monotonic() < deadline, f"nothing within {seconds} s"
        time.sleep(0.1)


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_watcher_in_the_server_records_missed_deadlines_once_however_many_rounds_run(
    watched: LiveServer,
) -> None:
    admin = watched.client(watched.admin_token)
    made = admin.post(
        "/v1/communities",
        json={"id": "xingfu", "name": "幸福社区", "township": "城关镇", "county": "示范县"},
    )
    assert made.status_code == 201, made.text
    grid = admin.post("/v1/communities/xingfu/grids", json={"id": "g1", "name": "第1网格"})
    assert grid.status_code == 201, grid.text
    cadre = open_account(watched, admin, "cadre1", "cadre", "xingfu")
    cadre_client = cadre.client

    household = cadre_client.post("/v1/households", json=household_body())
    household_id = assert_command(household, 201)["id"]

    def file(received_at: datetime) -> dict[str, Any]:
        body = grievance_body(household_id, urgency="normal", received_at=iso(received_at))
        return assert_command(cadre_client.post("/v1/grievances", json=body), 201)

    filed_at = now()
    five_days = file(filed_at - timedelta(days=5))  # respond (72 h) missed; resolve in 10 days
    twenty_days = file(filed_at - timedelta(days=20))  # both missed, and overdue > 3 days
    fresh = file(filed_at)

    def recorded(case: dict[str, Any], count: int) -> Callable[[], bool]:
        return lambda: (
            len(entries(history_of(cadre_client, case["id"]), "Grievance.DeadlinePassed")) >= count
        )

    wait_for(recorded(five_days, 1))
    wait_for(recorded(twenty_days, 2))
    wait_for(
        lambda: bool(
            entries(history_of(cadre_client, twenty_days["id"]), "Grievance.AutoEscalated")
        )
    )
    time.sleep(5 * WATCH_SECONDS)  # more rounds: nothing is recorded twice

    history = history_of(cadre_client, five_days["id"])
    [passed] = entries(history, "Grievance.DeadlinePassed")
    assert passed["actor"] == "system"
    assert passed["data"]["deadline"] == "respond"
    respond_by = moment(five_days["respond_by"])
    assert respond_by == filed_at - timedelta(days=5) + timedelta(hours=72)
    assert moment(passed["data"]["due_at"]) == respond_by
    assert moment(passed["data"]["overdue_since"]) == respond_by
    assert moment(passed["recorded_at"]) >= filed_at
    assert entries(history, "Grievance.AutoEscalated") == []
    case = ok(cadre_client.get(f"/v1/grievances/{five_days['id']}"))
    assert [(m["deadline"], moment(m["due_at"])) for m in case["missed_deadlines"]] == [
        ("respond", respond_by)
    ]
    assert (case["status"], case["level"]) == ("filed", "grid")

    history = history_of(cadre_client, twenty_days["id"])
    passed_both = entries(history, "Grievance.DeadlinePassed")
    assert [(e["data"]["deadline"], moment(e["data"]["due_at"])) for e in passed_both] == [
        ("respond", moment(twenty_days["respond_by"])),
        ("resolve", moment(twenty_days["resolve_by"])),
    ]
    assert {e["actor"] for e in passed_both} == {"system"}
    [escalated] = entries(history, "Grievance.AutoEscalated")
    assert escalated["actor"] == "system"
    assert (escalated["data"]["from_level"], escalated["data"]["to_level"]) == (
        "grid",
        "community",
    )
    assert moment(escalated["data"]["resolve_by"]) == moment(twenty_days["resolve_by"])
    assert moment(escalated["data"]["overdue_since"]) == moment(twenty_days["resolve_by"])
    assert escalated["data"]["policy_version"] == "2026.1"
    case = ok(cadre_client.get(f"/v1/grievances/{twenty_days['id']}"))
    assert len(case["missed_deadlines"]) == 2
    assert (case["status"], case["level"]) == ("filed", "community")

    fresh_history = history_of(cadre_client, fresh["id"])
    assert [e["event_type"] for e in fresh_history] == ["Grievance.Filed"]
    assert ok(cadre_client.get(f"/v1/grievances/{fresh['id']}"))["missed_deadlines"] == []
