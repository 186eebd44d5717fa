"""Deadline policies (versioned data) and mandatory-visit due dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from application.policies import load_policy_book
from domain.deadlines import (
    MANDATORY_VISIT_DAYS,
    MAX_EXTENSION_DAYS,
    DeadlinePolicy,
    PolicyBook,
    mandatory_visit_due_by,
)
from domain.errors import InvalidCommand
from domain.grievance import Grievance
from domain.vocabulary import LifeEventKind, Urgency
from tests.fakes import SHANGHAI

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

DEFAULTS = {
    # urgency: (respond within, resolve within)
    "emergency": (2 * HOUR, 24 * HOUR),
    "urgent": (24 * HOUR, 3 * DAY),
    "normal": (3 * DAY, 15 * DAY),
    "complex": (3 * DAY, 60 * DAY),
}


def file_case(urgency: str, received_at: datetime, now: datetime, book: PolicyBook) -> Grievance:
    """A case filed the way the application does: the policy in effect at ``received_at``."""
    policy = book.in_effect_at(received_at)
    return Grievance.file(
        grievance_id=uuid4(),
        household_id="household-1",
        community_id="xingfu",
        grid_id="g1",
        category="facilities",
        urgency=urgency,
        channel="hotline",
        summary="停水",
        description=None,
        received_at=received_at,
        visit_id=None,
        parties=None,
        deadlines=policy.deadlines_for(Urgency(urgency), received_at),
        actor="cadre-1",
        now=now,
    )


def policy_json(*entries: tuple[str, str, float]) -> str:
    """Policies as the data file has them: (version, effective_from, normal resolve hours)."""
    return json.dumps(
        {
            "policies": [
                {
                    "version": version,
                    "effective_from": effective_from,
                    "respond_within_hours": {u: 72 for u in DEFAULTS},
                    "resolve_within_hours": {u: resolve_hours for u in DEFAULTS},
                }
                for version, effective_from, resolve_hours in entries
            ]
        }
    )


TWO_VERSIONS = policy_json(
    ("2026.1", "2026-01-01T00:00:00+08:00", 360),
    ("2027.1", "2027-01-01T00:00:00+08:00", 240),
)


# -- the shipped policy ----------------------------------------------------------------------


def test_the_shipped_policy_book_is_version_2026_1():
    book = load_policy_book()

    assert book.in_effect_at(NOW).version == "2026.1"
    assert book.version("2026.1").effective_from == datetime(2026, 1, 1, tzinfo=SHANGHAI)


def test_the_shipped_policy_covers_every_urgency():
    policy = load_policy_book().in_effect_at(NOW)

    assert set(policy.respond_within) == set(Urgency)
    assert set(policy.resolve_within) == set(Urgency)


@pytest.mark.parametrize(("urgency", "respond", "resolve"), [(u, *d) for u, d in DEFAULTS.items()])
def test_the_default_deadlines_follow_domain_md(urgency, respond, resolve):
    deadlines = load_policy_book().in_effect_at(NOW).deadlines_for(Urgency(urgency), NOW)

    assert deadlines.respond_by == NOW + respond
    assert deadlines.resolve_by == NOW + resolve
    assert deadlines.policy_version == "2026.1"


@pytest.mark.parametrize(("urgency", "respond", "resolve"), [(u, *d) for u, d in DEFAULTS.items()])
def test_a_case_late_logged_keeps_its_deadlines_from_received_at(urgency, respond, resolve):
    received_at = NOW - timedelta(days=2, hours=3)

    case = file_case(urgency, received_at, NOW, load_policy_book())

    assert case.received_at == received_at
    assert case.respond_by == received_at + respond
    assert case.resolve_by == received_at + resolve
    assert case.created_on == NOW


def test_logging_late_buys_no_time():
    book = load_policy_book()
    received_at = NOW - timedelta(days=4)

    late = file_case("normal", received_at, NOW, book)
    on_time = file_case("normal", received_at, received_at, book)

    assert (late.respond_by, late.resolve_by) == (on_time.respond_by, on_time.resolve_by)
    assert late.respond_by < NOW  # already past its respond deadline when typed in


def test_a_case_records_the_policy_version_that_set_its_deadlines():
    case = file_case("urgent", NOW, NOW, load_policy_book())

    assert case.policy_version == "2026.1"
    assert case.collect_events()[0].policy_version == "2026.1"


# -- versions --------------------------------------------------------------------------------


def test_the_policy_book_picks_the_version_in_effect_at_received_at_not_at_filing():
    book = load_policy_book(TWO_VERSIONS)
    received_at = datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI)
    filed_at = datetime(2027, 1, 2, 10, 0, tzinfo=SHANGHAI)

    case = file_case("normal", received_at, filed_at, book)

    assert case.policy_version == "2026.1"
    assert case.resolve_by == received_at + timedelta(hours=360)


def test_a_policy_governs_from_the_instant_it_takes_effect():
    book = load_policy_book(TWO_VERSIONS)
    midnight = datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI)

    assert book.in_effect_at(midnight).version == "2027.1"
    assert book.in_effect_at(midnight - timedelta(microseconds=1)).version == "2026.1"


def test_the_version_in_effect_is_judged_by_the_instant_whatever_the_offset():
    book = load_policy_book(TWO_VERSIONS)

    # 16:00 UTC on 31 December is midnight of 1 January in Shanghai.
    assert book.in_effect_at(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)).version == "2027.1"
    assert book.in_effect_at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)).version == "2026.1"


def test_policies_may_be_listed_in_any_order():
    reversed_text = policy_json(
        ("2027.1", "2027-01-01T00:00:00+08:00", 240),
        ("2026.1", "2026-01-01T00:00:00+08:00", 360),
    )
    book = load_policy_book(reversed_text)

    assert book.in_effect_at(datetime(2026, 6, 1, tzinfo=SHANGHAI)).version == "2026.1"
    assert book.in_effect_at(datetime(2027, 6, 1, tzinfo=SHANGHAI)).version == "2027.1"


def test_a_case_received_before_the_first_policy_follows_the_first_one():
    book = load_policy_book(TWO_VERSIONS)

    assert book.in_effect_at(datetime(2025, 6, 1, tzinfo=SHANGHAI)).version == "2026.1"


def test_a_policy_version_is_found_by_name_for_replay():
    book = load_policy_book(TWO_VERSIONS)

    assert book.version("2027.1").resolve_within[Urgency.NORMAL] == timedelta(hours=240)
    with pytest.raises(InvalidCommand):
        book.version("1999.1")


def test_a_policy_book_needs_at_least_one_policy():
    with pytest.raises(ValueError, match="at least one"):
        PolicyBook([])


def test_the_policy_book_refuses_a_naive_moment():
    with pytest.raises(InvalidCommand) as refused:
        load_policy_book().in_effect_at(datetime(2026, 11, 2, 9, 0))

    assert refused.value.field == "received_at"


def test_deadlines_are_counted_in_exact_hours_from_received_at():
    policy = DeadlinePolicy(
        version="test",
        effective_from=datetime(2026, 1, 1, tzinfo=SHANGHAI),
        respond_within={u: timedelta(hours=1.5) for u in Urgency},
        resolve_within={u: timedelta(hours=30) for u in Urgency},
    )
    received_at = datetime(2026, 11, 2, 22, 45, tzinfo=SHANGHAI)

    deadlines = policy.deadlines_for(Urgency.EMERGENCY, received_at)

    assert deadlines.respond_by == datetime(2026, 11, 3, 0, 15, tzinfo=SHANGHAI)
    assert deadlines.resolve_by == datetime(2026, 11, 4, 4, 45, tzinfo=SHANGHAI)
    assert deadlines.policy_version == "test"


# -- extensions and mandatory visits ---------------------------------------------------------


def test_an_extension_is_at_most_30_days():
    assert MAX_EXTENSION_DAYS == 30


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        ("wedding", 7),
        ("funeral", 7),
        ("dispute", 7),
        ("illness", 3),
        ("disaster", 3),
        ("family_change", 3),
    ],
)
def test_a_mandatory_visit_is_due_7_days_after_a_life_event_or_3_for_pressing_ones(kind, days):
    occurred_on = date(2026, 11, 28)

    due = mandatory_visit_due_by(LifeEventKind(kind), occurred_on)

    assert due == occurred_on + timedelta(days=days)


def test_every_life_event_kind_has_a_mandatory_visit_deadline():
    assert set(MANDATORY_VISIT_DAYS) == set(LifeEventKind)


def test_a_mandatory_visit_due_date_crosses_month_and_year_ends():
    assert mandatory_visit_due_by(LifeEventKind.WEDDING, date(2026, 12, 29)) == date(2027, 1, 5)
    assert mandatory_visit_due_by(LifeEventKind.ILLNESS, date(2028, 2, 27)) == date(2028, 3, 1)
