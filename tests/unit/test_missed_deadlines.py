"""Missed deadlines as a fold of a case's history, and mandatory visits made in time.

``Grievance.missed_by`` / ``record_missed_deadlines`` / ``escalate_if_overdue`` /
``wakes_at``, ``Household.record_mandatory_visit_overdue`` and
``application.mandatory_visits.made_in_time``, with explicit times and no I/O.
A normal case received at ``NOW`` must be accepted by ``NOW + 72 h`` and
resolved by ``NOW + 360 h``; auto escalation comes strictly after three days
overdue.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from application.mandatory_visits import due_moment, falls_due_at, made_in_time
from application.policies import load_policy_book
from application.read_model import micros
from domain.errors import InvalidCommand
from domain.grievance import Grievance
from domain.household import Household, Sealed
from domain.vocabulary import Urgency
from tests.fakes import SHANGHAI
from tests.unit.replaying import replay, state_of

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
MICROSECOND = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ESCALATE_AFTER = timedelta(days=3)
POLICIES = load_policy_book()
FILER = "cadre-filer"
SUPERVISOR = "supervisor-1"
ASSIGNEE = "cadre-assignee"
SYSTEM = "system"


def file_case(received_at: datetime = NOW, now: datetime | None = None) -> Grievance:
    """A normal case received at ``received_at`` and typed in at ``now``."""
    deadlines = POLICIES.in_effect_at(received_at).deadlines_for(Urgency.NORMAL, received_at)
    return Grievance.file(
        grievance_id=uuid4(),
        household_id="household-1",
        community_id="xingfu",
        grid_id="g1",
        category="facilities",
        urgency="normal",
        channel="visit",
        summary="3号楼电梯停运",
        description=None,
        received_at=received_at,
        visit_id=None,
        parties=None,
        deadlines=deadlines,
        actor=FILER,
        now=now or received_at,
    )


def accepted_case(accepted_at: datetime | None = None) -> Grievance:
    """A case assigned an hour after it came in and accepted at ``accepted_at`` (default: 2 h)."""
    case = file_case()
    case.assign(assignee_id=ASSIGNEE, note=None, actor=SUPERVISOR, now=NOW + HOUR)
    case.accept(actor=ASSIGNEE, now=accepted_at or NOW + 2 * HOUR)
    return case


def resolve(case: Grievance, at: datetime) -> None:
    case.resolve(resolution="已修复", outcome="resolved", actor=ASSIGNEE, now=at)


def reopen(case: Grievance, at: datetime) -> None:
    case.give_feedback(rating="unsatisfied", solved=False, comment=None, actor=FILER, now=at)


def extend(case: Grievance, days: int, at: datetime) -> None:
    case.extend(days=days, reason="等待配件", actor=SUPERVISOR, now=at)


def missed(case: Grievance, now: datetime) -> list[tuple[str, datetime, datetime]]:
    return [(m.deadline, m.due_at, m.since) for m in case.missed_by(now)]


def record(case: Grievance, now: datetime) -> int:
    return case.record_missed_deadlines(actor=SYSTEM, now=now)


def escalate(case: Grievance, now: datetime) -> bool:
    return case.escalate_if_overdue(
        after=ESCALATE_AFTER, policy_version="2026.1", actor=SYSTEM, now=now
    )


def recorded(case: Grievance) -> list[tuple[str, datetime, datetime]]:
    """The DeadlinePassed events still pending on the case."""
    return [
        (event.deadline, event.due_at, event.overdue_since)
        for event in case.pending_events
        if isinstance(event, Grievance.DeadlinePassed)
    ]


def auto_escalations(case: Grievance) -> list[Grievance.AutoEscalated]:
    return [e for e in case.pending_events if isinstance(e, Grievance.AutoEscalated)]


RESPOND_BY = NOW + 72 * HOUR
RESOLVE_BY = NOW + 360 * HOUR


def test_a_normal_case_has_the_deadlines_these_tests_count_from():
    case = file_case()

    assert (case.respond_by, case.resolve_by) == (RESPOND_BY, RESOLVE_BY)


# -- respond -----------------------------------------------------------------------------------


def test_accepting_exactly_at_the_respond_deadline_is_on_time():
    case = accepted_case(accepted_at=RESPOND_BY)

    assert case.accepted_at == RESPOND_BY
    assert missed(case, RESOLVE_BY - MINUTE) == []
    assert record(case, RESOLVE_BY - MINUTE) == 0


def test_accepting_one_microsecond_after_the_respond_deadline_misses_it():
    case = accepted_case(accepted_at=RESPOND_BY + MICROSECOND)

    assert missed(case, RESOLVE_BY - MINUTE) == [("respond", RESPOND_BY, RESPOND_BY)]
    assert record(case, RESOLVE_BY - MINUTE) == 1
    assert recorded(case) == [("respond", RESPOND_BY, RESPOND_BY)]


def test_an_unaccepted_case_misses_its_respond_deadline_only_strictly_after_it():
    case = file_case()

    assert missed(case, RESPOND_BY) == []
    assert missed(case, RESPOND_BY + MICROSECOND) == [("respond", RESPOND_BY, RESPOND_BY)]


def test_a_case_assigned_and_declined_but_never_accepted_misses_its_respond_deadline():
    case = file_case()
    case.assign(assignee_id=ASSIGNEE, note=None, actor=SUPERVISOR, now=NOW + HOUR)
    case.decline(reason="不在我的网格", actor=ASSIGNEE, now=NOW + 2 * HOUR)

    assert missed(case, RESPOND_BY + MINUTE) == [("respond", RESPOND_BY, RESPOND_BY)]


def test_the_first_acceptance_decides_the_respond_deadline_even_after_a_later_escalation():
    case = accepted_case(accepted_at=NOW + 2 * HOUR)
    case.escalate(reason="需要社区协调", actor=ASSIGNEE, now=NOW + 3 * HOUR)
    case.assign(assignee_id=ASSIGNEE, note=None, actor=SUPERVISOR, now=RESPOND_BY + HOUR)
    case.accept(actor=ASSIGNEE, now=RESPOND_BY + 2 * HOUR)

    assert case.accepted_at == NOW + 2 * HOUR
    assert missed(case, RESOLVE_BY - MINUTE) == []


# -- resolve -----------------------------------------------------------------------------------


def test_resolving_exactly_at_the_resolve_deadline_is_on_time():
    case = accepted_case()
    resolve(case, RESOLVE_BY)

    assert missed(case, RESOLVE_BY + 30 * DAY) == []
    assert record(case, RESOLVE_BY + 30 * DAY) == 0


def test_resolving_one_minute_late_misses_the_deadline_from_the_deadline_itself():
    case = accepted_case()
    resolve(case, RESOLVE_BY + MINUTE)

    assert missed(case, RESOLVE_BY + DAY) == [("resolve", RESOLVE_BY, RESOLVE_BY)]
    assert record(case, RESOLVE_BY + DAY) == 1
    assert recorded(case) == [("resolve", RESOLVE_BY, RESOLVE_BY)]


def test_an_open_case_misses_its_resolve_deadline_only_strictly_after_it():
    case = accepted_case()

    assert missed(case, RESOLVE_BY) == []
    assert missed(case, RESOLVE_BY + MICROSECOND) == [("resolve", RESOLVE_BY, RESOLVE_BY)]


def test_a_case_never_accepted_misses_both_deadlines_in_the_order_they_passed():
    case = file_case()

    assert missed(case, RESOLVE_BY + HOUR) == [
        ("respond", RESPOND_BY, RESPOND_BY),
        ("resolve", RESOLVE_BY, RESOLVE_BY),
    ]


def test_a_case_resolved_in_time_and_reopened_after_the_deadline_misses_it_at_the_reopening():
    case = accepted_case()
    resolve(case, RESOLVE_BY - DAY)
    reopened_at = RESOLVE_BY + 2 * DAY
    assert missed(case, reopened_at - MINUTE) == []  # resolved in time: nothing yet
    reopen(case, reopened_at)

    assert case.resolve_by == RESOLVE_BY  # a reopened case keeps its original deadline
    assert missed(case, reopened_at + MINUTE) == [("resolve", RESOLVE_BY, reopened_at)]
    assert record(case, reopened_at + HOUR) == 1
    assert recorded(case) == [("resolve", RESOLVE_BY, reopened_at)]


def test_a_case_reopened_before_the_deadline_and_still_open_after_it_misses_it_at_the_deadline():
    case = accepted_case()
    resolve(case, RESOLVE_BY - 3 * DAY)
    reopen(case, RESOLVE_BY - 2 * DAY)

    assert missed(case, RESOLVE_BY + MINUTE) == [("resolve", RESOLVE_BY, RESOLVE_BY)]


def test_a_case_reopened_after_the_deadline_and_resolved_again_keeps_the_one_miss():
    case = accepted_case()
    resolve(case, RESOLVE_BY - DAY)
    reopened_at = RESOLVE_BY + DAY
    reopen(case, reopened_at)
    resolve(case, reopened_at + HOUR)
    reopen(case, reopened_at + 2 * HOUR)

    assert missed(case, reopened_at + DAY) == [("resolve", RESOLVE_BY, reopened_at)]


# -- extensions --------------------------------------------------------------------------------


def test_an_extension_before_the_deadline_avoids_missing_it():
    case = accepted_case()
    extend(case, 10, RESOLVE_BY - DAY)
    extended_to = RESOLVE_BY + 10 * DAY

    assert case.resolve_by == extended_to
    assert missed(case, extended_to) == []
    assert missed(case, extended_to + MINUTE) == [("resolve", extended_to, extended_to)]


def test_an_extension_after_the_deadline_leaves_it_missed_and_the_new_one_can_be_missed_too():
    case = accepted_case()
    extend(case, 5, RESOLVE_BY + DAY)
    extended_to = RESOLVE_BY + 5 * DAY

    assert missed(case, extended_to) == [("resolve", RESOLVE_BY, RESOLVE_BY)]
    assert record(case, extended_to + DAY) == 2
    assert recorded(case) == [
        ("resolve", RESOLVE_BY, RESOLVE_BY),
        ("resolve", extended_to, extended_to),
    ]


def test_an_extension_after_the_deadline_that_is_then_met_gives_one_resolve_record():
    case = accepted_case()
    extend(case, 5, RESOLVE_BY + DAY)
    resolve(case, RESOLVE_BY + 5 * DAY)

    assert missed(case, RESOLVE_BY + 30 * DAY) == [("resolve", RESOLVE_BY, RESOLVE_BY)]


# -- closed ends -------------------------------------------------------------------------------


def test_a_case_withdrawn_before_its_deadlines_never_misses_one():
    case = file_case()
    case.withdraw(reason="居民已自行解决", actor=FILER, now=NOW + HOUR)

    assert missed(case, RESOLVE_BY + 100 * DAY) == []
    assert record(case, RESOLVE_BY + 100 * DAY) == 0
    assert escalate(case, RESOLVE_BY + 100 * DAY) is False
    assert case.wakes_at(NOW + 2 * HOUR, ESCALATE_AFTER) is None


def test_a_case_withdrawn_after_its_respond_deadline_keeps_that_miss_only():
    case = file_case()
    case.withdraw(reason="居民已自行解决", actor=FILER, now=RESPOND_BY + HOUR)

    assert missed(case, RESOLVE_BY + 100 * DAY) == [("respond", RESPOND_BY, RESPOND_BY)]


# -- recording exactly once ----------------------------------------------------------------------


def test_recording_twice_records_each_missed_deadline_once():
    case = file_case()

    assert record(case, RESOLVE_BY + HOUR) == 2
    assert record(case, RESOLVE_BY + 2 * HOUR) == 0
    assert record(case, RESOLVE_BY + 30 * DAY) == 0
    assert recorded(case) == [
        ("respond", RESPOND_BY, RESPOND_BY),
        ("resolve", RESOLVE_BY, RESOLVE_BY),
    ]
    assert case.missed_recorded == [("respond", RESPOND_BY), ("resolve", RESOLVE_BY)]


def test_recording_in_two_rounds_records_each_deadline_as_it_passes():
    case = file_case()

    assert record(case, RESPOND_BY + HOUR) == 1
    assert record(case, RESOLVE_BY + HOUR) == 1
    assert record(case, RESOLVE_BY + 2 * HOUR) == 0
    assert [key[0] for key in recorded(case)] == ["respond", "resolve"]


def test_a_missed_deadline_is_recorded_the_same_whenever_the_round_runs():
    early, late = file_case(), file_case()

    record(early, RESOLVE_BY + MICROSECOND)
    record(late, RESOLVE_BY + 40 * DAY)

    assert recorded(early) == recorded(late)
    events = [e for e in late.pending_events if isinstance(e, Grievance.DeadlinePassed)]
    assert {e.timestamp for e in events} == {RESOLVE_BY + 40 * DAY}  # the round's time
    assert {e.actor for e in events} == {SYSTEM}


def test_a_recorded_case_replays_to_the_same_state_and_records_nothing_more():
    case = accepted_case(accepted_at=RESPOND_BY + HOUR)
    extend(case, 3, RESOLVE_BY + HOUR)
    record(case, RESOLVE_BY + 10 * DAY)

    replayed = replay(case.collect_events())

    assert state_of(replayed) == state_of(case)
    assert record(replayed, RESOLVE_BY + 20 * DAY) == 0


def test_a_case_logged_late_misses_its_respond_deadline_at_once():
    filed_at = NOW + 4 * DAY
    case = file_case(received_at=NOW, now=filed_at)  # received four days before it was typed in

    assert case.respond_by == RESPOND_BY < filed_at
    assert missed(case, filed_at) == [("respond", RESPOND_BY, RESPOND_BY)]
    assert record(case, filed_at + MINUTE) == 1
    assert recorded(case) == [("respond", RESPOND_BY, RESPOND_BY)]


def test_a_case_logged_after_both_deadlines_records_both_at_the_first_round():
    filed_at = NOW + 20 * DAY
    case = file_case(received_at=NOW, now=filed_at)

    assert record(case, filed_at + MINUTE) == 2
    assert recorded(case) == [
        ("respond", RESPOND_BY, RESPOND_BY),
        ("resolve", RESOLVE_BY, RESOLVE_BY),
    ]


# -- auto escalation -----------------------------------------------------------------------------


def test_auto_escalation_comes_only_strictly_after_three_days_overdue():
    case = accepted_case()
    due = RESOLVE_BY + ESCALATE_AFTER

    assert escalate(case, due) is False
    assert escalate(case, due + MICROSECOND) is True
    assert (case.level, case.status, case.assignee_id) == ("community", "filed", None)
    [event] = auto_escalations(case)
    assert (event.from_level, event.to_level) == ("grid", "community")
    assert (event.resolve_by, event.overdue_since) == (RESOLVE_BY, RESOLVE_BY)
    assert (event.policy_version, event.actor) == ("2026.1", SYSTEM)


def test_auto_escalation_happens_once_per_resolve_deadline():
    case = accepted_case()

    assert escalate(case, RESOLVE_BY + 4 * DAY) is True
    assert escalate(case, RESOLVE_BY + 5 * DAY) is False
    assert escalate(case, RESOLVE_BY + 50 * DAY) is False
    assert case.level == "community"
    assert len(auto_escalations(case)) == 1


def test_an_extended_deadline_can_escalate_again_when_it_too_is_missed():
    case = accepted_case()
    assert escalate(case, RESOLVE_BY + 4 * DAY) is True
    extend(case, 5, RESOLVE_BY + 4 * DAY + HOUR)
    extended_to = RESOLVE_BY + 5 * DAY

    assert escalate(case, extended_to + ESCALATE_AFTER) is False
    assert escalate(case, extended_to + ESCALATE_AFTER + MICROSECOND) is True
    assert case.level == "township"
    assert [e.resolve_by for e in auto_escalations(case)] == [RESOLVE_BY, extended_to]


def test_auto_escalation_stops_at_county_level():
    case = accepted_case()
    for hours in (3, 4):
        case.escalate(reason="需要上级协调", actor=ASSIGNEE, now=NOW + hours * HOUR)
    assert case.level == "township"

    assert escalate(case, RESOLVE_BY + 4 * DAY) is True
    assert case.level == "county"
    extend(case, 5, RESOLVE_BY + 4 * DAY + HOUR)
    assert escalate(case, RESOLVE_BY + 30 * DAY) is False
    assert case.level == "county"


def test_a_case_already_at_county_level_is_never_auto_escalated():
    case = file_case()
    for hours in (1, 2, 3):
        case.escalate(reason="需要上级协调", actor=FILER, now=NOW + hours * HOUR)

    assert case.level == "county"
    assert escalate(case, RESOLVE_BY + 30 * DAY) is False
    assert auto_escalations(case) == []


def test_a_resolved_case_is_not_auto_escalated_however_late_it_was():
    case = accepted_case()
    resolve(case, RESOLVE_BY + DAY)

    assert escalate(case, RESOLVE_BY + 30 * DAY) is False


def test_a_case_reopened_after_its_deadline_escalates_three_days_after_the_reopening():
    case = accepted_case()
    resolve(case, RESOLVE_BY - DAY)
    reopened_at = RESOLVE_BY + 2 * DAY
    reopen(case, reopened_at)

    assert escalate(case, reopened_at + ESCALATE_AFTER) is False
    assert escalate(case, reopened_at + ESCALATE_AFTER + MICROSECOND) is True
    [event] = auto_escalations(case)
    assert event.overdue_since == reopened_at


def test_an_escalation_also_records_nothing_twice_when_deadlines_are_recorded_after_it():
    case = file_case()

    assert escalate(case, RESOLVE_BY + 4 * DAY) is True
    assert record(case, RESOLVE_BY + 4 * DAY + MINUTE) == 2
    assert record(case, RESOLVE_BY + 5 * DAY) == 0
    assert escalate(case, RESOLVE_BY + 6 * DAY) is False


# -- when to look again ----------------------------------------------------------------------------


def test_an_open_case_wakes_at_each_deadline_in_turn_then_three_days_after_the_resolve_deadline():
    case = file_case()

    assert case.wakes_at(NOW, ESCALATE_AFTER) == RESPOND_BY
    assert case.wakes_at(RESPOND_BY + HOUR, ESCALATE_AFTER) == RESOLVE_BY
    assert case.wakes_at(RESOLVE_BY + HOUR, ESCALATE_AFTER) == RESOLVE_BY + ESCALATE_AFTER
    assert case.wakes_at(RESOLVE_BY + 4 * DAY, ESCALATE_AFTER) is None


def test_a_closed_case_never_wakes():
    case = accepted_case()
    resolve(case, NOW + DAY)
    case.give_feedback(
        rating="satisfied", solved=True, comment=None, actor=FILER, now=NOW + 2 * DAY
    )

    assert case.wakes_at(NOW + 3 * DAY, ESCALATE_AFTER) is None


def nothing_happens_before_waking(case: Grievance, now: datetime, moment: datetime) -> bool:
    """Whether ``moment`` is before the case's next wake and a round then would do nothing."""
    wake = case.wakes_at(now, ESCALATE_AFTER)
    assert wake is None or moment < wake, (wake, moment)
    probe = copy.deepcopy(case)
    return record(probe, moment) == 0 and escalate(probe, moment) is False


def test_a_case_reopened_soon_after_a_missed_deadline_wakes_in_time_for_its_escalation():
    case = accepted_case()
    resolve(case, RESOLVE_BY + DAY)  # open past the deadline: missed at RESOLVE_BY
    reopened_at = RESOLVE_BY + 2 * DAY
    reopen(case, reopened_at)
    round_at = reopened_at + MINUTE
    record(case, round_at)
    due = RESOLVE_BY + ESCALATE_AFTER + HOUR  # escalation is due here (overdue since RESOLVE_BY)

    wake = case.wakes_at(round_at, ESCALATE_AFTER)

    assert escalate(copy.deepcopy(case), due) is True
    assert wake is not None and wake <= due, (wake, due)


def test_a_round_exactly_at_a_deadline_still_wakes_for_the_miss_just_after_it():
    case = file_case()
    assert record(case, RESPOND_BY) == 0

    wake = case.wakes_at(RESPOND_BY, ESCALATE_AFTER)

    assert wake is not None and wake <= RESPOND_BY + MINUTE, wake


def test_nothing_can_pass_before_the_wake_of_an_ordinary_open_case():
    case = file_case()

    assert nothing_happens_before_waking(case, NOW, RESPOND_BY - MICROSECOND)
    record(case, RESPOND_BY + HOUR)
    assert nothing_happens_before_waking(case, RESPOND_BY + HOUR, RESOLVE_BY - MICROSECOND)


# -- mandatory visits: the household records an overdue visit once -------------------------------

SEALED = Sealed(head_name="sealed:name", phone=None, id_number=None)


def household_with_life_events(*kinds: str) -> tuple[Household, list[str]]:
    household = Household.register(
        household_id=uuid4(),
        community_id="xingfu",
        grid_id="g1",
        sealed=SEALED,
        member_count=3,
        address={"building": "3", "unit": "2", "room": "501"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2021, 3, 1),
        tags=[],
        actor=FILER,
        now=NOW,
    )
    ids = []
    for index, kind in enumerate(kinds):
        life_event_id = str(uuid4())
        household.report_life_event(
            life_event_id=life_event_id,
            kind=kind,
            occurred_on=date(2026, 11, 1),
            note=None,
            actor=FILER,
            now=NOW + (index + 1) * MINUTE,
        )
        ids.append(life_event_id)
    return household, ids


def overdue_events(household: Household) -> list[Household.MandatoryVisitOverdue]:
    return [e for e in household.pending_events if isinstance(e, Household.MandatoryVisitOverdue)]


def test_a_mandatory_visit_overdue_is_recorded_once_per_life_event():
    household, (illness, wedding) = household_with_life_events("illness", "wedding")
    due_illness = datetime(2026, 11, 5, 0, 0, tzinfo=SHANGHAI)
    due_wedding = datetime(2026, 11, 9, 0, 0, tzinfo=SHANGHAI)

    def mark(life_event_id: str, due_at: datetime, now: datetime) -> bool:
        return household.record_mandatory_visit_overdue(
            life_event_id=life_event_id, due_at=due_at, actor=SYSTEM, now=now
        )

    assert mark(illness, due_illness, due_illness + 2 * MINUTE) is True
    assert mark(illness, due_illness, due_illness + DAY) is False
    assert mark(wedding, due_wedding, due_wedding + 2 * MINUTE) is True
    assert mark(wedding, due_wedding, due_wedding + DAY) is False
    assert [(e.life_event_id, e.due_at, e.actor) for e in overdue_events(household)] == [
        (illness, due_illness, SYSTEM),
        (wedding, due_wedding, SYSTEM),
    ]
    replayed = replay(household.collect_events())
    assert state_of(replayed) == state_of(household)
    assert (
        replayed.record_mandatory_visit_overdue(
            life_event_id=illness, due_at=due_illness, actor=SYSTEM, now=NOW + 30 * DAY
        )
        is False
    )


def test_a_mandatory_visit_overdue_for_an_unknown_life_event_is_refused():
    household, _ = household_with_life_events("illness")

    with pytest.raises(InvalidCommand) as refused:
        household.record_mandatory_visit_overdue(
            life_event_id=str(uuid4()), due_at=NOW + DAY, actor=SYSTEM, now=NOW + 2 * DAY
        )

    assert refused.value.field == "life_event_id"
    assert overdue_events(household) == []


# -- mandatory visits: made in time, from read-model rows ---------------------------------------

# An illness on 2 November (local): the visit is due by the 5th, so by midnight starting the 6th.
OCCURRED = date(2026, 11, 2)
DAY_BEGINS = datetime(2026, 11, 2, 0, 0, tzinfo=SHANGHAI)
DUE = datetime(2026, 11, 6, 0, 0, tzinfo=SHANGHAI)
REPORTED = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)


def life_event_row(reported_at: datetime = REPORTED, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "life-event-1",
        "household_id": "household-1",
        "kind": "illness",
        "occurred_on": OCCURRED.isoformat(),
        "visit_due_by": "2026-11-05",
        "reported_at": micros(reported_at),
        "overdue_recorded_at": None,
    }
    row.update(overrides)
    return row


def visit_row(
    visited_at: datetime,
    recorded_at: datetime | None = None,
    voided_at: datetime | None = None,
    channel: str = "in_person",
    purpose: str = "mandatory",
    life_event_id: str | None = "life-event-1",
) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "household_id": "household-1",
        "channel": channel,
        "purpose": purpose,
        "life_event_id": life_event_id,
        "visited_at": micros(visited_at),
        "recorded_at": micros(recorded_at or visited_at + HOUR),
        "voided_at": None if voided_at is None else micros(voided_at),
        "voided": 0 if voided_at is None else 1,
    }


def test_a_life_event_falls_due_at_the_local_midnight_ending_its_due_day():
    row = life_event_row()

    assert due_moment(row, SHANGHAI) == micros(DUE)
    assert falls_due_at(row, SHANGHAI) == micros(DUE)


def test_a_life_event_reported_after_its_due_day_falls_due_when_it_is_reported():
    reported = DUE + 2 * DAY

    assert falls_due_at(life_event_row(reported), SHANGHAI) == micros(reported)


def test_an_in_person_visit_within_the_window_is_made_in_time():
    visits = [visit_row(datetime(2026, 11, 4, 10, 0, tzinfo=SHANGHAI))]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is True


def test_the_window_runs_from_the_midnight_starting_the_event_day_to_the_due_moment():
    row = life_event_row()

    assert made_in_time(row, [visit_row(DAY_BEGINS)], SHANGHAI) is True
    assert made_in_time(row, [visit_row(DAY_BEGINS - MICROSECOND)], SHANGHAI) is False
    assert made_in_time(row, [visit_row(DUE - MICROSECOND, recorded_at=DUE)], SHANGHAI) is True


def test_no_visit_at_all_is_not_made_in_time():
    assert made_in_time(life_event_row(), [], SHANGHAI) is False


@pytest.mark.parametrize("channel", ["phone", "online"])
def test_a_phone_or_online_visit_never_counts(channel):
    visits = [visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), channel=channel)]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_routine_visit_in_the_window_does_not_discharge_the_mandatory_visit():
    visits = [
        visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), purpose="routine"),
        visit_row(
            datetime(2026, 11, 3, 11, 0, tzinfo=SHANGHAI), purpose="routine", life_event_id=None
        ),
    ]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_mandatory_visit_naming_another_life_event_does_not_discharge_this_one():
    visits = [visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), life_event_id="other")]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_visit_after_the_due_day_is_not_made_in_time():
    visits = [visit_row(DUE), visit_row(DUE + DAY)]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_visit_recorded_after_the_moment_it_fell_due_is_not_made_in_time():
    visited = datetime(2026, 11, 5, 16, 0, tzinfo=SHANGHAI)

    late = [visit_row(visited, recorded_at=DUE + MICROSECOND)]
    just = [visit_row(visited, recorded_at=DUE)]

    assert made_in_time(life_event_row(), late, SHANGHAI) is False
    assert made_in_time(life_event_row(), just, SHANGHAI) is True


def test_a_visit_voided_before_the_due_moment_does_not_count():
    visits = [visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), voided_at=DUE - HOUR)]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_visit_voided_at_the_due_moment_itself_does_not_count():
    visits = [visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), voided_at=DUE)]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is False


def test_a_visit_voided_after_the_due_moment_still_counts():
    visits = [visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), voided_at=DUE + HOUR)]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is True


def test_one_good_visit_among_bad_ones_is_enough():
    visits = [
        visit_row(datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI), channel="phone"),
        visit_row(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), voided_at=DUE - HOUR),
        visit_row(datetime(2026, 11, 4, 10, 0, tzinfo=SHANGHAI)),
    ]

    assert made_in_time(life_event_row(), visits, SHANGHAI) is True


def test_a_life_event_reported_after_its_due_day_is_judged_at_its_report():
    reported = DUE + 2 * DAY
    row = life_event_row(reported)
    in_window_logged_before_report = visit_row(
        datetime(2026, 11, 5, 10, 0, tzinfo=SHANGHAI), recorded_at=DUE + DAY
    )
    in_window_logged_after_report = visit_row(
        datetime(2026, 11, 4, 10, 0, tzinfo=SHANGHAI), recorded_at=reported + MICROSECOND
    )
    after_the_due_day = visit_row(DUE + HOUR, recorded_at=DUE + 2 * HOUR)
    voided_between_due_and_report = visit_row(
        datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI), voided_at=DUE + DAY
    )

    assert made_in_time(row, [in_window_logged_before_report], SHANGHAI) is True
    assert made_in_time(row, [in_window_logged_after_report], SHANGHAI) is False
    assert made_in_time(row, [after_the_due_day], SHANGHAI) is False
    assert made_in_time(row, [voided_between_due_and_report], SHANGHAI) is False
