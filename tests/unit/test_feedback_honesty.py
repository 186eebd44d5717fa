"""Feedback (回访) is never recorded by the cadre being judged; a resident's link answers once."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from application.casebook import DateAsISO
from domain.errors import NotPermitted, StateConflict
from domain.grievance import Grievance
from tests.unit.replaying import replay, state_of
from tests.unit.test_grievance import ASSIGNEE, OTHER_CADRE, SUPERVISOR, Ticker, case_in


def test_the_assignee_who_resolved_the_case_may_not_record_its_feedback() -> None:
    tick = Ticker()
    case = case_in("resolved", tick)
    with pytest.raises(NotPermitted):
        case.give_feedback(
            rating="satisfied", solved=True, comment=None, actor=ASSIGNEE, now=tick()
        )
    assert case.status == "resolved" and len(case.collect_events()) == 4


def test_a_supervisor_who_resolved_the_case_may_not_record_feedback_nor_may_its_assignee() -> None:
    tick = Ticker()
    case = case_in("in_progress", tick)
    case.resolve(resolution="已处理", outcome="resolved", actor=SUPERVISOR, now=tick())
    for judged in (SUPERVISOR, ASSIGNEE):
        with pytest.raises(NotPermitted):
            case.give_feedback(
                rating="satisfied", solved=True, comment=None, actor=judged, now=tick()
            )

    case.give_feedback(rating="satisfied", solved=True, comment=None, actor=OTHER_CADRE, now=tick())
    assert (case.status, case.last_feedback_via) == ("closed", "callback")


def test_whoever_resolved_a_reopened_case_before_may_not_judge_its_second_resolution() -> None:
    tick = Ticker()
    case = case_in("resolved", tick)  # resolved by the assignee
    case.give_feedback(
        rating="unsatisfied", solved=False, comment=None, actor=SUPERVISOR, now=tick()
    )
    case.resolve(resolution="返工", outcome="resolved", actor=SUPERVISOR, now=tick())
    with pytest.raises(NotPermitted):
        case.give_feedback(
            rating="satisfied", solved=True, comment=None, actor=ASSIGNEE, now=tick()
        )


def test_a_resident_link_answers_once_before_it_expires() -> None:
    tick = Ticker()
    case = case_in("resolved", tick)
    issued = tick()
    case.issue_feedback_link(
        token_hash="h1", expires_at=issued + timedelta(days=7), actor=ASSIGNEE, now=issued
    )
    assert case.link_usable("h1", tick()) and not case.link_usable("h2", tick())
    assert not case.link_usable("h1", issued + timedelta(days=7))

    case.give_feedback(
        rating="satisfied", solved=True, comment=None, actor="resident", now=tick(),
        via="resident_link", link_hash="h1",
    )  # fmt: skip
    assert (case.status, case.last_feedback_via) == ("closed", "resident_link")
    assert not case.link_usable("h1", tick())
    assert state_of(replay(case.collect_events())) == state_of(case)


def test_an_expired_link_records_nothing() -> None:
    tick = Ticker()
    case = case_in("resolved", tick)
    issued = tick()
    case.issue_feedback_link(
        token_hash="h1", expires_at=issued + timedelta(hours=1), actor=ASSIGNEE, now=issued
    )
    with pytest.raises(StateConflict):
        case.give_feedback(
            rating="satisfied", solved=True, comment=None, actor="resident",
            now=issued + timedelta(hours=2), via="resident_link", link_hash="h1",
        )  # fmt: skip
    assert case.status == "resolved"


def test_a_link_is_issued_only_for_a_resolved_case() -> None:
    tick = Ticker()
    case = case_in("in_progress", tick)
    now = tick()
    with pytest.raises(StateConflict):
        case.issue_feedback_link(
            token_hash="h1", expires_at=now + timedelta(days=7), actor=ASSIGNEE, now=now
        )


def test_feedback_stored_before_the_way_it_came_was_recorded_reads_as_a_callback() -> None:
    tick = Ticker()
    case = case_in("resolved", tick)
    case.give_feedback(rating="satisfied", solved=True, comment=None, actor=SUPERVISOR, now=tick())
    events = case.collect_events()
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    stored = mapper.to_stored_event(events[-1])
    state = mapper.transcoder.decode(stored.state)
    del state["via"], state["link_hash"]  # as the code before them stored it
    older = type(stored)(
        stored.originator_id, stored.originator_version, stored.topic,
        mapper.transcoder.encode(state),
    )  # fmt: skip
    loaded = replay([*events[:-1], mapper.to_domain_event(older)])
    assert isinstance(loaded, Grievance)
    assert (loaded.status, loaded.last_feedback_via) == ("closed", "callback")


def transcoder() -> JSONTranscoder:
    made = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DateAsISO()):
        made.register(transcoding)
    return made
