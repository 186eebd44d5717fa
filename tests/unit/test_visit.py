"""Visits: two times, late logging, amend and void with a reason, what counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import InvalidCommand, StateConflict
from domain.visit import LATE_LOGGING_THRESHOLD, Visit
from tests.fakes import SHANGHAI
from tests.unit.replaying import replay, state_of

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
CADRE = "cadre-1"
SUPERVISOR = "supervisor-1"


def log_visit(
    *,
    visited_at: datetime | None = None,
    now: datetime = NOW,
    channel: str = "in_person",
    purpose: str = "routine",
    notes: str = "老人身体状况良好",
    **overrides: Any,
) -> Visit:
    fields: dict[str, Any] = {
        "visit_id": uuid4(),
        "household_id": "household-1",
        "visited_at": visited_at or now - timedelta(hours=2),
        "channel": channel,
        "purpose": purpose,
        "notes": notes,
        "life_event_id": None,
        "grievance_id": None,
        "actor": CADRE,
        "now": now,
    }
    fields.update(overrides)
    return Visit.log(**fields)


# -- logging ---------------------------------------------------------------------------------


def test_a_logged_visit_keeps_when_it_happened_and_when_it_was_recorded():
    visited_at = NOW - timedelta(hours=3)

    visit = log_visit(visited_at=visited_at, life_event_id="le-1", grievance_id="g-1")

    assert visit.visited_at == visited_at
    assert visit.recorded_at == NOW
    assert visit.visitor_id == CADRE
    assert (visit.household_id, visit.life_event_id, visit.grievance_id) == (
        "household-1",
        "le-1",
        "g-1",
    )
    assert visit.voided is False
    assert visit.void_reason is None
    assert visit.late_logged is False


def test_the_visitor_is_the_actor_who_logged_the_visit():
    visit = log_visit(actor="cadre-7")

    assert visit.visitor_id == "cadre-7"
    assert visit.collect_events()[0].actor == "cadre-7"


def test_a_visit_in_the_future_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        log_visit(visited_at=NOW + timedelta(minutes=1))

    assert refused.value.field == "visited_at"


def test_a_visit_may_be_logged_the_instant_it_happens():
    assert log_visit(visited_at=NOW).visited_at == NOW


def test_a_visit_with_a_naive_visited_at_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        log_visit(visited_at=datetime(2026, 11, 2, 8, 0))

    assert refused.value.field == "visited_at"


def test_logging_a_visit_with_a_naive_now_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        log_visit(visited_at=NOW - timedelta(hours=1), now=datetime(2026, 11, 2, 9, 0))

    assert refused.value.field == "now"


@pytest.mark.parametrize("field", ["channel", "purpose"])
def test_a_visit_with_an_unknown_enum_value_names_the_field(field):
    with pytest.raises(InvalidCommand) as refused:
        log_visit(**{field: "carrier_pigeon"})

    assert refused.value.field == field


@pytest.mark.parametrize("channel", ["in_person", "phone", "online"])
@pytest.mark.parametrize("purpose", ["routine", "mandatory", "follow_up"])
def test_every_channel_and_purpose_of_domain_md_is_accepted(channel, purpose):
    answers = "le-1" if purpose == "mandatory" else None
    visit = log_visit(channel=channel, purpose=purpose, life_event_id=answers)

    assert (visit.channel, visit.purpose) == (channel, purpose)


def test_blank_notes_are_recorded_as_empty():
    assert log_visit(notes="   ").notes == ""


# -- late logging ----------------------------------------------------------------------------


def test_the_late_logging_threshold_is_48_hours():
    assert timedelta(hours=48) == LATE_LOGGING_THRESHOLD


@pytest.mark.parametrize(
    ("gap", "late"),
    [
        (timedelta(0), False),
        (timedelta(hours=47, minutes=59), False),
        (timedelta(hours=48), False),
        (timedelta(hours=48, minutes=1), True),
        (timedelta(days=30), True),
    ],
)
def test_a_visit_is_late_logged_exactly_when_recorded_more_than_48_hours_after(gap, late):
    visit = log_visit(visited_at=NOW - gap)

    assert visit.late_logged is late
    assert visit.collect_events()[0].late_logged is late


def test_late_logging_is_judged_by_the_instant_whatever_the_offset():
    visited_at = (NOW - timedelta(hours=48, minutes=1)).astimezone(UTC)

    assert log_visit(visited_at=visited_at).late_logged is True


# -- amend and void --------------------------------------------------------------------------


def test_amending_replaces_the_notes_and_records_the_reason():
    visit = log_visit()

    visit.amend(
        notes="补充：需要低保复核", reason="漏记", actor=CADRE, now=NOW + timedelta(hours=1)
    )

    assert visit.notes == "补充：需要低保复核"
    event = visit.collect_events()[-1]
    assert isinstance(event, Visit.Amended)
    assert (event.notes, event.reason, event.actor) == ("补充：需要低保复核", "漏记", CADRE)


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_amending_needs_a_reason(reason):
    visit = log_visit()

    with pytest.raises(InvalidCommand) as refused:
        visit.amend(notes="新内容", reason=reason, actor=CADRE, now=NOW)

    assert refused.value.field == "reason"
    assert visit.notes == "老人身体状况良好"


def test_amending_needs_notes():
    with pytest.raises(InvalidCommand) as refused:
        log_visit().amend(notes=" ", reason="更正", actor=CADRE, now=NOW)

    assert refused.value.field == "notes"


def test_voiding_marks_the_visit_void_with_its_reason():
    visit = log_visit()

    visit.void(reason="重复录入", actor=SUPERVISOR, now=NOW + timedelta(hours=1))

    assert visit.voided is True
    assert visit.void_reason == "重复录入"
    assert visit.collect_events()[-1].actor == SUPERVISOR


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_voiding_needs_a_reason(reason):
    visit = log_visit()

    with pytest.raises(InvalidCommand) as refused:
        visit.void(reason=reason, actor=CADRE, now=NOW)

    assert refused.value.field == "reason"
    assert visit.voided is False


def test_a_voided_visit_cannot_be_amended():
    visit = log_visit()
    visit.void(reason="重复录入", actor=CADRE, now=NOW + timedelta(hours=1))

    with pytest.raises(StateConflict) as refused:
        visit.amend(notes="改", reason="更正", actor=CADRE, now=NOW + timedelta(hours=2))

    assert refused.value.state == "voided"


def test_a_voided_visit_cannot_be_voided_again():
    visit = log_visit()
    visit.void(reason="重复录入", actor=CADRE, now=NOW + timedelta(hours=1))

    with pytest.raises(StateConflict) as refused:
        visit.void(reason="再次作废", actor=CADRE, now=NOW + timedelta(hours=2))

    assert refused.value.state == "voided"
    assert visit.void_reason == "重复录入"


def test_a_visit_can_be_amended_several_times_before_it_is_voided():
    visit = log_visit()
    visit.amend(notes="第一次更正", reason="更正", actor=CADRE, now=NOW + timedelta(hours=1))
    visit.amend(notes="第二次更正", reason="再更正", actor=CADRE, now=NOW + timedelta(hours=2))

    assert visit.notes == "第二次更正"
    assert visit.version == 3


@pytest.mark.parametrize("command", ["amend", "void"])
def test_amending_or_voiding_with_a_naive_now_is_refused(command):
    visit = log_visit()
    fields = {"notes": "改", "reason": "更正"} if command == "amend" else {"reason": "作废"}

    with pytest.raises(InvalidCommand) as refused:
        getattr(visit, command)(actor=CADRE, now=datetime(2026, 11, 2, 10, 0), **fields)

    assert refused.value.field == "now"


# -- what a visit counts for -----------------------------------------------------------------


OCCURRED = date(2026, 11, 1)
ALL_CHANNELS = {"in_person", "phone", "online"}


@pytest.mark.parametrize("channel", ["in_person", "phone", "online"])
def test_a_visit_not_voided_counts_toward_a_rule_that_counts_its_channel(channel):
    assert log_visit(channel=channel).counts_toward(ALL_CHANNELS) is True


@pytest.mark.parametrize(("channel", "counts"), [("in_person", True), ("phone", False)])
def test_a_rule_counting_in_person_visits_only_does_not_count_a_phone_call(channel, counts):
    assert log_visit(channel=channel).counts_toward({"in_person"}) is counts


@pytest.mark.parametrize("channel", ["in_person", "phone", "online"])
def test_a_voided_visit_counts_for_nothing(channel):
    visit = log_visit(channel=channel, purpose="mandatory", life_event_id="le-1")
    visit.void(reason="虚假走访", actor=SUPERVISOR, now=NOW + timedelta(hours=1))

    assert visit.counts_toward(ALL_CHANNELS) is False
    assert visit.discharges("le-1", OCCURRED, SHANGHAI) is False


@pytest.mark.parametrize(
    ("channel", "satisfies"), [("in_person", True), ("phone", False), ("online", False)]
)
def test_only_an_in_person_visit_discharges_a_mandatory_visit(channel, satisfies):
    visit = log_visit(channel=channel, purpose="mandatory", life_event_id="le-1")

    assert visit.discharges("le-1", OCCURRED, SHANGHAI) is satisfies


def test_a_routine_visit_after_the_life_event_does_not_discharge_its_mandatory_visit():
    visit = log_visit(purpose="routine", life_event_id="le-1")

    assert visit.discharges("le-1", OCCURRED, SHANGHAI) is False


def test_a_mandatory_visit_discharges_only_the_life_event_it_names():
    visit = log_visit(purpose="mandatory", life_event_id="le-1")

    assert visit.discharges("le-2", OCCURRED, SHANGHAI) is False


def test_a_mandatory_visit_before_the_day_the_event_occurred_does_not_discharge_it():
    visit = log_visit(purpose="mandatory", life_event_id="le-1")
    the_day_after = visit.visited_at.astimezone(SHANGHAI).date() + timedelta(days=1)

    assert visit.discharges("le-1", the_day_after, SHANGHAI) is False


def test_a_mandatory_visit_that_names_no_life_event_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        log_visit(purpose="mandatory")

    assert refused.value.field == "life_event_id"


def test_an_amended_visit_still_counts():
    visit = log_visit(purpose="mandatory", life_event_id="le-1")
    visit.amend(notes="补记", reason="更正", actor=CADRE, now=NOW + timedelta(hours=1))

    assert visit.counts_toward(ALL_CHANNELS) is True
    assert visit.discharges("le-1", OCCURRED, SHANGHAI) is True


# -- actors, time, replay --------------------------------------------------------------------


def test_every_visit_event_carries_its_actor_and_the_now_it_was_decided_at():
    visit = log_visit(now=NOW)
    visit.amend(notes="补记", reason="更正", actor=CADRE, now=NOW + timedelta(hours=1))
    visit.void(reason="重复录入", actor=SUPERVISOR, now=NOW + timedelta(hours=2))

    events = visit.collect_events()

    assert [(event.actor, event.timestamp) for event in events] == [
        (CADRE, NOW),
        (CADRE, NOW + timedelta(hours=1)),
        (SUPERVISOR, NOW + timedelta(hours=2)),
    ]
    assert visit.recorded_at == NOW
    assert visit.modified_on == NOW + timedelta(hours=2)


def test_a_visit_replayed_from_its_events_equals_the_live_one():
    visit = log_visit(visited_at=NOW - timedelta(days=3))
    visit.amend(notes="补记", reason="更正", actor=CADRE, now=NOW + timedelta(hours=1))
    visit.void(reason="重复录入", actor=SUPERVISOR, now=NOW + timedelta(hours=2))

    replayed = replay(visit.collect_events())

    assert isinstance(replayed, Visit)
    assert state_of(replayed) == state_of(visit)
    assert replayed.late_logged is True
    assert replayed.recorded_at == NOW
