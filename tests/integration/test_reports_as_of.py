"""Reports asked ``as_of`` a past moment equal the live reports taken at that moment.

A simulated fortnight of casework runs through the services on a controlled
clock. At the end of each day the live reports are captured (read models caught
up, "now" stopped at that moment). Afterwards every capture is asked again with
``as_of``, which folds the log into a throwaway model: the figures must match.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from api.bootstrap import County
from application.reports import Reports, StoppedClock
from tests.conftest import Cast
from tests.fakes import SteppingClock

CATEGORIES = ["housing", "employment", "facilities", "environment"]
URGENCIES = ["emergency", "urgent", "normal", "complex"]


def every_report(reports: Reports, cast: Cast) -> dict[str, Any]:
    auditor = cast.auditor
    return {
        "workload": reports.workload(auditor),
        "workload_grid": reports.workload(cast.supervisor, grid_id="g1"),
        "coverage": reports.coverage(auditor),
        **{
            f"resolution_{group}": reports.resolution(auditor, group_by=group)
            for group in ("category", "grid", "community")
        },
        "late_entries": reports.late_entries(auditor),
        "ledger": reports.ledger(auditor).rows,
    }


def live_at(county: County, moment: datetime) -> Reports:
    live = county.services.reports
    return Reports(
        live.store,
        live.casework,
        live.organisation,
        live.access,
        StoppedClock(moment),
        "Asia/Shanghai",
        reveal=live.reveal,
    )


def a_day_of_casework(
    county: County,
    cast: Cast,
    clock: SteppingClock,
    rng: random.Random,
    state: dict[str, list[str]],
) -> None:
    services = county.services
    for _ in range(rng.randint(1, 3)):
        household, _ = services.households.register(
            cast.cadre,
            community_id="xingfu",
            grid_id=rng.choice(["g1", "g2"]),
            head_name="王秀英",
            member_count=3,
            address={"building": "3", "unit": "1", "room": "502"},
            origin={"township": "乌蒙镇", "village": "五组"},
            relocated_on=date(2025, 3, 1),
        )
        services.households.assign_contact_cadre(
            cast.supervisor,
            household.id,
            cadre_id=rng.choice([cast.cadre, cast.other_cadre]).account_id,
        )
        state["households"].append(household.id)
    for _ in range(rng.randint(2, 6)):
        hours_ago = rng.choice([1, 3, 60])  # 60 hours ago: late-logged
        visit, _ = services.visits.log(
            cast.cadre,
            household_id=rng.choice(state["households"]),
            visited_at=clock.now() - timedelta(hours=hours_ago),
            channel=rng.choice(["in_person", "phone"]),
            purpose="routine",
            notes="走访了解近况",
        )
        state["visits"].append(visit.id)
    if state["visits"] and rng.random() < 0.3:
        services.visits.void(cast.cadre, state["visits"].pop(0), reason="重复录入")
    for _ in range(rng.randint(1, 3)):
        case, _ = services.grievances.file(
            cast.cadre,
            household_id=rng.choice(state["households"]),
            category=rng.choice(CATEGORIES),
            urgency=rng.choice(URGENCIES),
            channel="hotline",
            summary="楼道灯不亮，晚上出行不便",
            received_at=clock.now() - timedelta(hours=rng.choice([0, 5, 30])),
        )
        state["filed"].append(case.id)
    move_cases(county, cast, rng, state)


def move_cases(county: County, cast: Cast, rng: random.Random, state: dict[str, list[str]]) -> None:
    grievances = county.services.grievances
    for case_id in list(state["filed"]):
        if rng.random() < 0.6:
            grievances.assign(cast.supervisor, case_id, assignee_id=cast.cadre.account_id)
            state["filed"].remove(case_id)
            state["assigned"].append(case_id)
    for case_id in list(state["assigned"]):
        if rng.random() < 0.6:
            grievances.accept(cast.cadre, case_id)
            state["assigned"].remove(case_id)
            state["working"].append(case_id)
    for case_id in list(state["working"]):
        if rng.random() < 0.5:
            grievances.resolve(cast.cadre, case_id, resolution="已维修", outcome="resolved")
            state["working"].remove(case_id)
            state["resolved"].append(case_id)
    for case_id in list(state["resolved"]):
        if rng.random() < 0.5:
            rating = rng.choice(["satisfied", "basically_satisfied", "unsatisfied"])
            grievances.give_feedback(
                cast.supervisor, case_id, rating=rating, solved=rating != "unsatisfied"
            )
            state["resolved"].remove(case_id)
            if rating == "unsatisfied":
                state["working"].append(case_id)


def test_reports_as_of_each_past_day_equal_the_live_reports_captured_that_day(
    county: County, cast: Cast, clock: SteppingClock
) -> None:
    rng = random.Random(20261121)
    state: dict[str, list[str]] = {
        key: [] for key in ("households", "visits", "filed", "assigned", "working", "resolved")
    }
    captured: list[tuple[datetime, dict[str, Any]]] = []
    for _ in range(14):
        a_day_of_casework(county, cast, clock, rng, state)
        clock.advance(timedelta(hours=rng.randint(6, 30)))
        moment = clock.now()
        county.services.projections.catch_up()
        captured.append((moment, every_report(live_at(county, moment), cast)))

    assert captured[0][1] != captured[-1][1]  # the figures did move over the fortnight
    assert any(report["late_entries"]["items"] for _, report in captured)
    assert any(row["open_overdue"] for row in captured[-1][1]["resolution_category"]["items"])
    for moment, live in captured:
        assert every_report(county.services.reports.as_of(moment), cast) == live, moment
