"""Feedback (回访) is never recorded by the cadre being judged (the domain rules, the HTTP contract "Grievances").

A supervisor or another cadre makes the callback, or the resident answers a
one-time link that needs no account; the record, the history and the ledger
show which way each feedback came. Driven over HTTP on both stores, on a server
whose clock the tests move, so that a link can be seen to expire.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from infrastructure.settings import Settings
from tests.e2e.conftest import (
    SHANGHAI,
    Account,
    LiveServer,
    World,
    assert_problem,
    running,
)
from tests.fakes import SteppingClock

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(start=datetime.now(SHANGHAI) - timedelta(minutes=5))


@pytest.fixture
def server(county_settings: Settings, clock: SteppingClock) -> Iterator[LiveServer]:
    """The shared live server, reading time from a clock the test moves."""
    with running(county_settings, clock) as (url, app):
        token = app.state.county.services.organisation.bootstrap_admin("root", "根管理员")
        live = LiveServer(url=url, app=app, admin_token=token.token)
        try:
            yield live
        finally:
            live.close_clients()


def resolved_by_supervisor(world: World) -> str:
    """A case assigned to the cadre, who accepts it; the supervisor resolves it."""
    household = world.household()
    case = world.grievance(household["id"])
    world.act(world.supervisor, case["id"], "assign", {"assignee_id": world.cadre.id})
    world.act(world.cadre, case["id"], "accept", {})
    world.act(
        world.supervisor, case["id"], "resolve", {"resolution": "已修复", "outcome": "resolved"}
    )
    return str(case["id"])


def feedback(by: Account, case_id: str, rating: str = "satisfied") -> httpx.Response:
    return by.client.post(
        f"/v1/grievances/{case_id}/feedback",
        json={"rating": rating, "solved": rating != "unsatisfied", "comment": "谢谢"},
    )


def case(world: World, case_id: str) -> dict[str, Any]:
    answer = world.supervisor.client.get(f"/v1/grievances/{case_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def history(world: World, case_id: str) -> list[dict[str, Any]]:
    answer = world.supervisor.client.get(f"/v1/grievances/{case_id}/history")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def feedback_entries(world: World, case_id: str) -> list[dict[str, Any]]:
    return [e for e in history(world, case_id) if e["event_type"] == "Grievance.FeedbackGiven"]


def issue_link(world: World, by: Account, case_id: str) -> tuple[str, dict[str, Any]]:
    """The path of a fresh feedback link (``/r/<token>``) and the answer's body."""
    answer = by.client.post(f"/v1/grievances/{case_id}/feedback-link")
    assert answer.status_code == 201, answer.text
    body = dict(answer.json())
    return urlsplit(body["url"]).path, body


def answer_link(world: World, path: str, **fields: str) -> httpx.Response:
    form = {"rating": "satisfied", "solved": "true", **fields}
    return world.anonymous.post(path, data=form, headers=FORM)


def test_the_cadre_who_resolved_a_case_may_not_record_its_feedback_and_nothing_is_recorded(
    world: World,
) -> None:
    case_id = world.case_in("resolved")  # the cadre is assignee and resolver
    head = world.head()

    assert_problem(feedback(world.cadre, case_id), 403)

    assert world.events_since(head) == 0
    assert case(world, case_id)["status"] == "resolved"


def test_the_assignee_and_the_resolving_supervisor_may_not_record_feedback_but_another_cadre_may(
    world: World,
) -> None:
    case_id = resolved_by_supervisor(world)
    head = world.head()

    assert_problem(feedback(world.cadre, case_id), 403)
    assert_problem(feedback(world.supervisor, case_id), 403)
    assert world.events_since(head) == 0

    answer = feedback(world.cadre2, case_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "closed"
    assert answer.json()["last_feedback_via"] == "callback"


def test_a_supervisors_callback_records_the_feedback_as_given_by_callback(world: World) -> None:
    case_id = world.case_in("resolved")

    answer = feedback(world.supervisor, case_id, "basically_satisfied")

    assert answer.status_code == 200, answer.text
    assert answer.json()["last_feedback_via"] == "callback"
    [entry] = feedback_entries(world, case_id)
    assert entry["actor"] == world.supervisor.id
    assert entry["data"]["via"] == "callback"
    assert entry["data"]["link_hash"] is None


def test_a_resident_answers_a_one_time_link_once_and_a_second_answer_is_gone(
    world: World, clock: SteppingClock
) -> None:
    case_id = world.case_in("resolved")
    path, body = issue_link(world, world.cadre, case_id)
    token = path.removeprefix("/r/")
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert path.startswith("/r/") and len(token) >= 32
    assert timedelta(days=6) < expires_at - clock.now() <= timedelta(days=7)

    page = world.anonymous.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "您对本次办理结果满意吗？" in page.text and "问题解决了吗？" in page.text
    for label in ("满意", "基本满意", "不满意"):
        assert label in page.text
    assert "电梯" not in page.text  # the case summary stays hidden
    assert "http" not in page.text.lower().replace("http-equiv", "")  # no external assets

    thanks = answer_link(world, path, rating="basically_satisfied", comment="维修师傅很负责")
    assert thanks.status_code == 200, thanks.text
    assert "感谢" in thanks.text

    shown = case(world, case_id)
    assert shown["status"] == "closed" and shown["last_rating"] == "basically_satisfied"
    assert shown["last_feedback_via"] == "resident_link"
    [entry] = feedback_entries(world, case_id)
    assert entry["actor"] == "resident" and entry["data"]["via"] == "resident_link"
    assert entry["data"]["comment"] == "维修师傅很负责"
    assert token not in str(history(world, case_id))  # only the token's hash is kept

    head = world.head()
    again = answer_link(world, path, rating="unsatisfied", solved="false")
    assert again.status_code == 410 and "失效" in again.text
    assert world.anonymous.get(path).status_code == 410
    assert world.events_since(head) == 0


def test_an_expired_link_is_gone_and_records_nothing(world: World, clock: SteppingClock) -> None:
    case_id = world.case_in("resolved")
    path, _ = issue_link(world, world.supervisor, case_id)
    clock.advance(timedelta(days=7, minutes=1))
    head = world.head()

    assert world.anonymous.get(path).status_code == 410
    assert answer_link(world, path).status_code == 410

    assert world.events_since(head) == 0
    assert case(world, case_id)["status"] == "resolved"


def test_a_link_is_spent_once_feedback_came_by_callback(world: World) -> None:
    case_id = world.case_in("resolved")
    path, _ = issue_link(world, world.cadre, case_id)
    assert feedback(world.supervisor, case_id).status_code == 200

    assert answer_link(world, path).status_code == 410


def test_an_unsatisfied_answer_through_a_link_reopens_the_case(world: World) -> None:
    case_id = world.case_in("resolved")
    path, _ = issue_link(world, world.cadre, case_id)

    assert answer_link(world, path, rating="unsatisfied", solved="false").status_code == 200

    shown = case(world, case_id)
    assert shown["status"] == "in_progress" and shown["reopen_count"] == 1
    assert shown["last_feedback_via"] == "resident_link"


def test_concurrent_answers_through_one_link_record_one_feedback(world: World) -> None:
    case_id = world.case_in("resolved")
    path, _ = issue_link(world, world.cadre, case_id)
    statuses: list[int] = []
    start = threading.Barrier(6)

    def post() -> None:
        with httpx.Client(base_url=world.server.url, timeout=60) as client:
            start.wait()
            form = {"rating": "satisfied", "solved": "true"}
            statuses.append(client.post(path, data=form, headers=FORM).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [410] * 5
    assert len(feedback_entries(world, case_id)) == 1


def test_an_unknown_link_is_not_found_and_a_bad_form_is_refused(world: World) -> None:
    assert world.anonymous.get("/r/no-such-token").status_code == 404
    case_id = world.case_in("resolved")
    path, _ = issue_link(world, world.cadre, case_id)

    assert answer_link(world, path, rating="great").status_code == 422
    assert answer_link(world, path, solved="maybe").status_code == 422
    assert (
        world.anonymous.post(
            path,
            data={"rating": "satisfied", "solved": "true"},
            headers={**FORM, "Origin": "https://evil.example"},
        ).status_code
        == 403
    )
    assert case(world, case_id)["status"] == "resolved"


def test_a_link_is_issued_only_for_a_resolved_case_in_the_callers_scope(world: World) -> None:
    in_progress = world.case_in("in_progress")
    assert_problem(world.cadre.client.post(f"/v1/grievances/{in_progress}/feedback-link"), 409)
    resolved = world.case_in("resolved")
    answer = world.outsider.client.post(f"/v1/grievances/{resolved}/feedback-link")
    assert answer.status_code in (403, 404)
    assert_problem(world.anonymous.post(f"/v1/grievances/{resolved}/feedback-link"), 401)


def test_the_ledger_shows_which_way_each_feedback_came(world: World) -> None:
    by_callback = world.case_in("resolved")
    assert feedback(world.supervisor, by_callback).status_code == 200
    by_link = world.case_in("resolved")
    path, _ = issue_link(world, world.cadre, by_link)
    assert answer_link(world, path).status_code == 200
    waiting = world.case_in("resolved")

    answer = world.supervisor.client.get(
        "/v1/ledger/grievances", params={"format": "csv", "consistent_with": world.head()}
    )
    assert answer.status_code == 200, answer.text
    rows = list(csv.reader(io.StringIO(answer.content[3:].decode("utf-8"), newline="")))
    column = rows[0].index("评价方式")
    via = {row[0]: row[column] for row in rows[1:]}
    assert via[by_callback] == "电话或上门回访"
    assert via[by_link] == "群众扫码或短信自评"
    assert via[waiting] == ""


def test_the_resolution_report_cuts_satisfaction_by_the_way_feedback_came(world: World) -> None:
    by_callback = world.case_in("resolved", category="housing")
    assert feedback(world.supervisor, by_callback, "unsatisfied").status_code == 200
    by_link = world.case_in("resolved", category="housing")
    path, _ = issue_link(world, world.cadre, by_link)
    assert answer_link(world, path, rating="satisfied", solved="true").status_code == 200

    def housing(**params: str) -> dict[str, Any]:
        answer = world.supervisor.client.get(
            "/v1/reports/resolution",
            params={"group_by": "category", "consistent_with": str(world.head()), **params},
        )
        assert answer.status_code == 200, answer.text
        [row] = [item for item in answer.json()["items"] if item["group"] == "housing"]
        return dict(row)

    everything = housing()
    assert (everything["satisfaction_rate"], everything["resolution_rate"]) == (0.5, 0.5)
    callback = housing(feedback_via="callback")
    assert (callback["satisfaction_rate"], callback["resolution_rate"]) == (0.0, 0.0)
    link = housing(feedback_via="resident_link")
    assert (link["satisfaction_rate"], link["resolution_rate"]) == (1.0, 1.0)
    assert link["filed"] == everything["filed"] == 2
    assert_problem(
        world.supervisor.client.get("/v1/reports/resolution", params={"feedback_via": "sms"}), 422
    )
