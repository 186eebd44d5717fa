"""The reports agree with an independent fold over the whole log.

Two parts. First, small histories built by hand through the domain classes pin
the reference (tests/reference_reports.py) to figures worked out by hand: the
edges of every deadline, reopened, withdrawn and voided records, late logging,
phone visits. Every report asked of the reference there is also asked of the
``Reports`` service at the same "now", which must agree on these edges too.
Then a generated county of more than 100,000 events, on SQLite and on
PostgreSQL, is projected into the read models, and every report the service
gives is compared with the reference's, item by item.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.domain import Aggregate

from api.bootstrap import County, open_county
from application.actors import Actor
from application.policies import load_policy_book
from application.reports import Reports
from application.synthetic_county import SyntheticCounty, generate_county
from domain.grievance import Grievance
from domain.household import Household, Sealed
from domain.organisation import Account, Community
from domain.visit import Visit
from domain.vocabulary import Role, Urgency
from infrastructure.settings import Settings
from infrastructure.vault import new_master_key_text
from tests.conftest import ENV_NAMES, ENV_PREFIXES, drop_schema
from tests.reference_reports import ReferenceReports, read_history

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday, ISO week 2026-W10
ADDRESS = {"building": "3", "unit": "1", "room": "502"}
ORIGIN = {"township": "花溪镇", "village": "石板村"}
POLICIES = load_policy_book()
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


class FixedClock:
    """A clock that always reads the same instant."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


# == part 1: the reference on small histories worked out by hand ========================


def first_difference(expected: Any, actual: Any, path: str = "report") -> str | None:
    """Where two reports first differ, with enough around it to read the difference."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        if missing or extra:
            return f"{path}: keys missing {missing}, unexpected {extra}"
        for key in expected:
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(want, got, f"{path}[{index}]")
            if found:
                return f"{found}\n  reference item: {want!r}\n  service item:   {got!r}"
        if len(expected) != len(actual):
            shorter = min(len(expected), len(actual))
            return (
                f"{path}: reference has {len(expected)} items, service {len(actual)}; "
                f"first unmatched: reference {expected[shorter : shorter + 1]!r}, "
                f"service {actual[shorter : shorter + 1]!r}"
            )
        return None
    if type(expected) is not type(actual) or expected != actual:
        return f"{path}: reference {expected!r}, service {actual!r}"
    return None


def assert_same(expected: Any, actual: Any, what: str) -> None:
    difference = first_difference(expected, actual)
    assert difference is None, f"{what} differs from the reference:\n{difference}"


class Checked:
    """The reference's reports, each checked against the service's at the same now."""

    def __init__(
        self, reference: ReferenceReports, story: Story, service: Reports, actor: Actor
    ) -> None:
        self.reference = reference
        self.story = story
        self.service = service
        self.actor = actor

    @property
    def now(self) -> datetime:
        return self.reference.now

    def ask(self) -> Reports:
        """The service, with the story's clock set back to this report's now."""
        self.story.clock.at = self.now
        return self.service

    def workload(
        self, week: str, community_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        expected = self.reference.workload(week, community_id, grid_id)
        actual = self.ask().workload(
            self.actor, week=week, community_id=community_id, grid_id=grid_id
        )
        assert_same(expected, actual, f"the service's workload {week} {community_id}/{grid_id}")
        return expected

    def coverage(
        self, community_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        expected = self.reference.coverage(community_id, grid_id)
        actual = self.ask().coverage(self.actor, community_id=community_id, grid_id=grid_id)
        assert_same(expected, actual, f"the service's coverage {community_id}/{grid_id}")
        return expected

    def resolution(
        self,
        date_from: date | None,
        date_to: date | None,
        group_by: str,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        expected = self.reference.resolution(date_from, date_to, group_by, community_id, grid_id)
        actual = self.ask().resolution(
            self.actor,
            date_from=date_from,
            date_to=date_to,
            group_by=group_by,
            community_id=community_id,
            grid_id=grid_id,
        )
        assert_same(expected, actual, f"the service's resolution by {group_by}")
        return expected

    def late_entries(
        self,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        expected = self.reference.late_entries(date_from, date_to, community_id, grid_id)
        actual = self.ask().late_entries(
            self.actor,
            date_from=date_from,
            date_to=date_to,
            community_id=community_id,
            grid_id=grid_id,
        )
        assert_same(expected, actual, "the service's late entries")
        return expected

    def ledger_ids(
        self,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> list[str]:
        expected = self.reference.ledger_ids(date_from, date_to, community_id, grid_id)
        ledger = self.ask().ledger(
            self.actor,
            date_from=date_from,
            date_to=date_to,
            community_id=community_id,
            grid_id=grid_id,
        )
        assert_same(expected, [str(row[0]) for row in ledger.rows], "the service's ledger ids")
        return expected


class Story:
    """Builds a small history through the domain classes and saves it as it goes."""

    def __init__(self, county: County, clock: FixedClock) -> None:
        self.county = county
        self.book = county.book
        self.clock = clock
        self.auditor = Actor(account_id=self.account("audit1", role="auditor"), role=Role.AUDITOR)
        for code, grids in (("c01", ["g1", "g2"]), ("c02", ["g1"])):
            community = Community.found(
                code=code,
                name=code,
                township="城关镇",
                county="示范县",
                actor="system",
                now=T0 - DAY,
            )
            for grid in grids:
                community.add_grid(code=grid, name=grid, actor="system", now=T0 - DAY)
            self.save(community)

    def save(self, *aggregates: Aggregate) -> None:
        self.book.save(*aggregates)

    def reports(self, now: datetime) -> Checked:
        """The reports at ``now``: the reference's, checked against the service's."""
        self.clock.at = now
        self.county.services.projections.catch_up()
        reference = ReferenceReports(read_history(self.book), now, SHANGHAI)
        return Checked(reference, self, self.county.services.reports, self.auditor)

    def account(
        self,
        username: str,
        *,
        role: str = "cadre",
        community: str | None = "c01",
        grid: str | None = "g1",
    ) -> str:
        county_wide = role in ("auditor", "admin")
        account = Account.open(
            username=username,
            display_name=f"干部{username}",
            role=role,
            community_id=None if county_wide else community,
            grid_id=None if county_wide else grid,
            township=None,
            actor="system",
            now=T0 - DAY,
        )
        self.save(account)
        return str(account.id)

    def household(
        self,
        *,
        cadre: str | None,
        community: str = "c01",
        grid: str = "g1",
        at: datetime = T0,
    ) -> Household:
        household = Household.register(
            household_id=uuid4(),
            community_id=community,
            grid_id=grid,
            sealed=Sealed(head_name="v1.sealed", phone=None, id_number=None),
            member_count=3,
            address=ADDRESS,
            origin=ORIGIN,
            relocated_on=date(2025, 5, 1),
            tags=[],
            actor="system",
            now=at,
        )
        if cadre is not None:
            household.assign_contact_cadre(cadre_id=cadre, actor="system", now=at)
        self.save(household)
        return household

    def visit(
        self,
        household: Household,
        *,
        by: str,
        visited_at: datetime,
        recorded_at: datetime | None = None,
        channel: str = "in_person",
        answers: str | None = None,
    ) -> Visit:
        """A routine visit, or a mandatory one answering the life event ``answers``."""
        visit = Visit.log(
            visit_id=uuid4(),
            household_id=str(household.id),
            visited_at=visited_at,
            channel=channel,
            purpose="mandatory" if answers else "routine",
            notes="走访",
            life_event_id=answers,
            grievance_id=None,
            actor=by,
            now=recorded_at or visited_at + MINUTE,
        )
        self.save(visit)
        return visit

    def case(
        self,
        household: Household,
        *,
        received_at: datetime,
        urgency: str = "normal",
        category: str = "housing",
        filed_at: datetime | None = None,
    ) -> Grievance:
        case = Grievance.file(
            grievance_id=uuid4(),
            household_id=str(household.id),
            community_id=household.community_id,
            grid_id=household.grid_id,
            category=category,
            urgency=urgency,
            channel="walk_in",
            summary="楼道灯坏了",
            description=None,
            received_at=received_at,
            visit_id=None,
            parties=None,
            deadlines=POLICIES.in_effect_at(received_at).deadlines_for(
                Urgency(urgency), received_at
            ),
            actor="system",
            now=filed_at or received_at,
        )
        self.save(case)
        return case

    def taken(self, case: Grievance, *, by: str, accepted_at: datetime) -> Grievance:
        case.assign(assignee_id=by, note=None, actor="system", now=accepted_at - MINUTE)
        case.accept(actor=by, now=accepted_at)
        self.save(case)
        return case


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=None,
        county="sanity",
        master_key=new_master_key_text(),
        blind_index_key=new_master_key_text(),
    )
    clock = FixedClock(T0)
    county = open_county(settings, clock)
    yield Story(county, clock)
    county.close()


def test_a_voided_visit_counts_for_nothing_in_the_reference(story: Story) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    household.report_life_event(
        life_event_id="le1",
        kind="wedding",
        occurred_on=date(2026, 3, 3),
        note=None,
        actor=cadre,
        now=T0 + DAY,
    )
    story.save(household)
    visit = story.visit(household, by=cadre, visited_at=T0 + 2 * DAY, answers="le1")
    visit.void(reason="重复录入", actor=cadre, now=T0 + 2 * DAY + HOUR)
    story.save(visit)

    reports = story.reports(T0 + 100 * DAY)
    coverage = reports.coverage()
    assert coverage["households_total"] == 1
    assert coverage["visited_within_cadence"] == 0
    assert coverage["households_due"] == 1
    assert coverage["overdue_households"] == [
        {
            "household_id": str(household.id),
            "community_id": "c01",
            "grid_id": "g1",
            "contact_cadre_id": cadre,
            "last_visited_at": None,
            "days_since": 100,
        }
    ]
    assert coverage["pending_mandatory"] == [
        {
            "household_id": str(household.id),
            "life_event_id": "le1",
            "kind": "wedding",
            "occurred_on": "2026-03-03",
            "visit_due_by": "2026-03-10",
            "overdue": True,
        }
    ]
    [row] = reports.workload("2026-W10")["items"]
    assert row["visits"] == 0
    assert row["households_linked"] == 1
    assert row["households_due"] == 1
    assert (row["mandatory_pending"], row["mandatory_overdue"]) == (0, 1)


def test_a_household_turns_due_one_minute_after_ninety_days_without_a_visit(
    story: Story,
) -> None:
    cadre = story.account("cadre1")
    visited = story.household(cadre=cadre)
    never = story.household(cadre=cadre)
    last = T0 + 2 * DAY
    story.visit(visited, by=cadre, visited_at=T0 + DAY, channel="online")
    story.visit(visited, by=cadre, visited_at=last, channel="phone")  # any channel counts

    def figures(now: datetime) -> tuple[int, int, list[str]]:
        coverage = story.reports(now).coverage()
        due = [item["household_id"] for item in coverage["overdue_households"]]
        return coverage["visited_within_cadence"], coverage["households_due"], due

    assert figures(T0 + 90 * DAY - MINUTE) == (1, 0, [])
    assert figures(T0 + 90 * DAY) == (1, 0, [])  # exactly 90 days is not past the cadence
    assert figures(T0 + 90 * DAY + MINUTE) == (1, 1, [str(never.id)])
    assert figures(last + 90 * DAY) == (1, 1, [str(never.id)])
    assert figures(last + 90 * DAY + MINUTE) == (0, 2, [str(never.id), str(visited.id)])

    overdue = story.reports(last + 90 * DAY + MINUTE).coverage()["overdue_households"]
    assert [(item["days_since"], item["last_visited_at"]) for item in overdue] == [
        (92, None),
        (90, local(last)),
    ]
    [row] = story.reports(last + 90 * DAY + MINUTE).workload("2026-W10")["items"]
    assert (row["visits"], row["households_linked"], row["households_due"]) == (2, 2, 2)


def test_a_late_logged_visit_is_listed_with_its_gap_and_its_later_voiding(
    story: Story,
) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    first_recorded = datetime(2026, 3, 10, 15, 0, tzinfo=SHANGHAI)
    late = story.visit(
        household, by=cadre, visited_at=first_recorded - 50 * HOUR, recorded_at=first_recorded
    )
    story.visit(  # exactly 48 hours is not late
        household,
        by=cadre,
        visited_at=first_recorded + MINUTE - 48 * HOUR,
        recorded_at=first_recorded + MINUTE,
    )
    # 00:30 local on 11 March is still 10 March in UTC: dates are local
    second_recorded = datetime(2026, 3, 11, 0, 30, tzinfo=SHANGHAI)
    voided = story.visit(
        household,
        by=cadre,
        visited_at=second_recorded - timedelta(hours=61, minutes=30),
        recorded_at=second_recorded,
    )
    voided.void(reason="补录有误", actor=cadre, now=second_recorded + HOUR)
    story.save(voided)

    reports = story.reports(T0 + 30 * DAY)
    expected = [
        {
            "visit_id": str(late.id),
            "household_id": str(household.id),
            "visitor_id": cadre,
            "visited_at": "2026-03-08T13:00:00+08:00",
            "recorded_at": "2026-03-10T15:00:00+08:00",
            "gap_hours": 50.0,
            "voided": False,
        },
        {
            "visit_id": str(voided.id),
            "household_id": str(household.id),
            "visitor_id": cadre,
            "visited_at": "2026-03-08T11:00:00+08:00",
            "recorded_at": "2026-03-11T00:30:00+08:00",
            "gap_hours": 61.5,
            "voided": True,
        },
    ]
    assert reports.late_entries()["items"] == expected
    assert reports.late_entries(date_from=date(2026, 3, 11))["items"] == expected[1:]
    assert reports.late_entries(date_to=date(2026, 3, 10))["items"] == expected[:1]
    assert reports.late_entries(community_id="c02")["items"] == []
    # the late visits count for cadence whatever their lateness; the voided one does not
    assert reports.coverage()["visited_within_cadence"] == 1


def test_a_phone_visit_does_not_satisfy_a_mandatory_visit(story: Story) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    household.report_life_event(
        life_event_id="ill",
        kind="illness",
        occurred_on=date(2026, 3, 5),
        note=None,
        actor=cadre,
        now=datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI),
    )
    story.save(household)
    story.visit(
        household,
        by=cadre,
        visited_at=datetime(2026, 3, 5, 12, 0, tzinfo=SHANGHAI),
        channel="phone",
        answers="ill",
    )
    story.visit(  # in person, but a minute before the local day of the event
        household,
        by=cadre,
        visited_at=datetime(2026, 3, 4, 23, 59, tzinfo=SHANGHAI),
        answers="ill",
    )
    story.visit(  # in person after the event, but routine: it does not discharge the 必访
        household, by=cadre, visited_at=datetime(2026, 3, 6, 10, 0, tzinfo=SHANGHAI)
    )

    def mandatory(now: datetime) -> tuple[list[tuple[str, str, bool]], int, int]:
        reports = story.reports(now)
        pending = [
            (item["life_event_id"], item["visit_due_by"], item["overdue"])
            for item in reports.coverage()["pending_mandatory"]
        ]
        [row] = reports.workload("2026-W10")["items"]
        return pending, row["mandatory_pending"], row["mandatory_overdue"]

    on_the_due_date = datetime(2026, 3, 8, 23, 59, tzinfo=SHANGHAI)
    assert mandatory(on_the_due_date) == ([("ill", "2026-03-08", False)], 1, 0)
    the_day_after = datetime(2026, 3, 9, 0, 0, tzinfo=SHANGHAI)
    assert mandatory(the_day_after) == ([("ill", "2026-03-08", True)], 0, 1)

    # an in-person visit naming the event at local midnight of its day satisfies it,
    # however late logged
    story.visit(
        household,
        by=cadre,
        visited_at=datetime(2026, 3, 5, 0, 0, tzinfo=SHANGHAI),
        recorded_at=datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI),
        answers="ill",
    )
    assert mandatory(datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)) == ([], 0, 0)


def test_a_reopened_case_is_judged_on_its_final_answer(story: Story) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    received = T0 + HOUR  # normal: respond by +72 h, resolve by +15 days

    judged = story.taken(
        story.case(household, received_at=received), by=cadre, accepted_at=received + HOUR
    )
    judged.resolve(resolution="已处理", outcome="resolved", actor=cadre, now=received + 2 * DAY)
    judged.give_feedback(
        rating="unsatisfied", solved=False, comment=None, actor="system", now=received + 3 * DAY
    )
    judged.resolve(resolution="再次处理", outcome="resolved", actor=cadre, now=received + 5 * DAY)
    judged.give_feedback(
        rating="basically_satisfied",
        solved=True,
        comment=None,
        actor="system",
        now=received + 6 * DAY,
    )
    story.save(judged)

    reopened = story.taken(
        story.case(household, received_at=received, category="safety"),
        by=cadre,
        accepted_at=received + 2 * HOUR,
    )
    reopened.resolve(resolution="已处理", outcome="explained", actor=cadre, now=received + DAY)
    reopened.give_feedback(
        rating="unsatisfied", solved=False, comment=None, actor="system", now=received + 2 * DAY
    )
    story.save(reopened)

    before_its_deadline = story.reports(received + 10 * DAY)
    assert before_its_deadline.resolution(None, None, "community")["items"] == [
        {
            "group": "c01",
            "filed": 2,
            "response_rate": 1.0,
            "resolution_rate": 0.5,  # the reopened case's latest feedback said not solved
            "satisfaction_rate": 0.25,  # (0.5 × basically satisfied + 0) ÷ 2
            "on_time_rate": 1.0,  # the reopened case has no standing resolution yet
            "reopen_rate": 1.0,
            "median_days_to_resolve": 5.0,  # the last resolution stands, the first does not
            "open_overdue": 0,
            "extended": 0,
            "urged": 0,
            "escalated_for_delay": 0,
        }
    ]
    after_its_deadline = story.reports(received + 15 * DAY + MINUTE)
    [figures] = after_its_deadline.resolution(None, None, "community")["items"]
    assert (figures["on_time_rate"], figures["open_overdue"]) == (0.5, 1)
    [row] = after_its_deadline.workload("2026-W10")["items"]
    assert (row["grievances_open"], row["grievances_overdue"]) == (1, 1)
    [row] = story.reports(received + 15 * DAY).workload("2026-W10")["items"]
    assert (row["grievances_open"], row["grievances_overdue"]) == (1, 0)  # not before now

    by_category = before_its_deadline.resolution(None, None, "category")["items"]
    assert [(item["group"], item["reopen_rate"]) for item in by_category] == [
        ("housing", 1.0),
        ("safety", 1.0),
    ]


def test_a_withdrawn_case_stops_its_clock(story: Story) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    received = T0 + HOUR
    early = story.case(household, received_at=received)
    early.withdraw(reason="居民撤回", actor="system", now=received + 72 * HOUR - MINUTE)
    late = story.case(household, received_at=received)
    late.withdraw(reason="居民撤回", actor="system", now=received + 72 * HOUR)
    merged = story.taken(
        story.case(household, received_at=received), by=cadre, accepted_at=received + 80 * HOUR
    )
    merged.merge_into(into=str(early.id), actor="system", now=received + 16 * DAY)
    story.save(early, late, merged)

    [figures] = story.reports(received + 40 * DAY).resolution(None, None, "grid")["items"]
    assert figures == {
        "group": "c01/g1",
        "filed": 3,
        # the early withdrawal never reached its respond deadline; the late one did at
        # its end; the merged case was accepted late
        "response_rate": 0.0,
        # only the merged case reached its resolve deadline (day 15) before its end (day 16)
        "on_time_rate": 0.0,
        "resolution_rate": None,
        "satisfaction_rate": None,
        "reopen_rate": None,
        "median_days_to_resolve": None,
        "open_overdue": 0,
        "extended": 0,
        "urged": 0,
        "escalated_for_delay": 0,
    }
    assert story.reports(received + 40 * DAY).ledger_ids() == sorted(
        [str(early.id), str(late.id), str(merged.id)]
    )


def test_deadlines_hold_one_minute_before_and_not_one_minute_after(story: Story) -> None:
    cadre = story.account("cadre1")
    household = story.household(cadre=cadre)
    received = T0 + HOUR
    respond_by = received + 72 * HOUR
    resolve_by = received + 15 * DAY

    before = story.taken(
        story.case(household, received_at=received), by=cadre, accepted_at=respond_by - MINUTE
    )
    before.resolve(resolution="办结", outcome="resolved", actor=cadre, now=resolve_by - MINUTE)
    after = story.taken(
        story.case(household, received_at=received), by=cadre, accepted_at=respond_by + MINUTE
    )
    after.resolve(resolution="办结", outcome="resolved", actor=cadre, now=resolve_by + MINUTE)
    exactly = story.taken(
        story.case(household, received_at=received, category="employment"),
        by=cadre,
        accepted_at=respond_by,
    )
    exactly.resolve(resolution="办结", outcome="resolved", actor=cadre, now=resolve_by)
    extended = story.taken(
        story.case(household, received_at=received, category="employment"),
        by=cadre,
        accepted_at=received + HOUR,
    )
    extended.extend(days=3, reason="需协调", actor="system", now=received + 2 * DAY)
    extended.resolve(
        resolution="办结", outcome="resolved", actor=cadre, now=resolve_by + 3 * DAY - MINUTE
    )
    story.save(before, after, exactly, extended)

    reports = story.reports(received + 30 * DAY)
    [everything] = reports.resolution(None, None, "community")["items"]
    assert everything["response_rate"] == 0.75
    assert everything["on_time_rate"] == 0.75  # the extension counts
    assert everything["median_days_to_resolve"] == 15.0
    by_category = {
        item["group"]: item for item in reports.resolution(None, None, "category")["items"]
    }
    assert by_category["housing"]["response_rate"] == 0.5
    assert by_category["housing"]["on_time_rate"] == 0.5
    assert by_category["employment"]["on_time_rate"] == 1.0
    assert by_category["employment"]["median_days_to_resolve"] == round(
        (15 + (18 - 1 / 1440)) / 2, 2
    )

    # an unaccepted case counts in the response base only once its deadline has come
    story.case(household, received_at=received + 20 * DAY)
    at = received + 20 * DAY + 72 * HOUR
    assert (
        story.reports(at - MINUTE).resolution(None, None, "community")["items"][0]["response_rate"]
        == 0.75
    )
    assert story.reports(at).resolution(None, None, "community")["items"][0]["response_rate"] == 0.6


def test_workload_counts_a_cadres_visits_in_the_local_iso_week(story: Story) -> None:
    cadre1 = story.account("cadre1", grid="g1")
    cadre2 = story.account("cadre2", grid="g2")
    story.account("cadre3", grid=None)
    story.account("cadre9", community="c02", grid="g1")
    story.account("super1", role="supervisor", grid=None)
    mine = story.household(cadre=cadre1, grid="g1")
    elsewhere = story.household(cadre=cadre2, grid="g2")
    monday = datetime(2026, 3, 9, 0, 0, tzinfo=SHANGHAI)  # 2026-W11
    story.visit(mine, by=cadre1, visited_at=monday)
    story.visit(mine, by=cadre1, visited_at=monday - MINUTE)  # still W10
    story.visit(mine, by=cadre1, visited_at=monday + 7 * DAY - MINUTE)
    story.visit(elsewhere, by=cadre1, visited_at=monday + DAY, channel="phone")
    voided = story.visit(mine, by=cadre1, visited_at=monday + 2 * DAY)
    voided.void(reason="重复", actor=cadre1, now=monday + 2 * DAY + HOUR)
    story.save(voided)
    story.visit(mine, by=cadre2, visited_at=monday + 3 * DAY)

    reports = story.reports(monday + 8 * DAY)
    county = reports.workload("2026-W11")
    assert county["week"] == "2026-W11"
    assert [(r["username"], r["community_id"], r["visits"]) for r in county["items"]] == [
        ("cadre1", "c01", 3),
        ("cadre2", "c01", 1),
        ("cadre3", "c01", 0),
        ("cadre9", "c02", 0),
    ]
    grid = reports.workload("2026-W11", community_id="c01", grid_id="g1")
    assert [(r["username"], r["grid_id"], r["visits"]) for r in grid["items"]] == [
        ("cadre1", "g1", 2),  # the visit to a household of grid g2 is out of scope
        ("cadre3", None, 0),
    ]
    assert [r["visits"] for r in reports.workload("2026-W10")["items"]] == [1, 0, 0, 0]
    first = county["items"][0]
    assert first == {
        "cadre_id": cadre1,
        "username": "cadre1",
        "display_name": "干部cadre1",
        "community_id": "c01",
        "grid_id": "g1",
        "visits": 3,
        "households_visited": 1,  # two of the three visits went to one household
        "weekly_quota": 20,
        "quota_met": False,
        "households_linked": 1,
        "households_due": 0,
        "mandatory_pending": 0,
        "mandatory_overdue": 0,
        "grievances_open": 0,
        "grievances_overdue": 0,
    }


def test_scope_follows_a_household_that_moved_but_a_case_stays_where_it_was_filed(
    story: Story,
) -> None:
    cadre = story.account("cadre1", grid=None)
    household = story.household(cadre=cadre, grid="g1")
    case = story.case(household, received_at=T0 + HOUR)
    household.move(grid_id="g2", address=ADDRESS, actor="system", now=T0 + DAY)
    story.save(household)
    late = story.visit(household, by=cadre, visited_at=T0 + DAY, recorded_at=T0 + 4 * DAY)

    reports = story.reports(T0 + 5 * DAY)
    assert reports.coverage("c01", "g1")["households_total"] == 0
    assert reports.coverage("c01", "g2")["households_total"] == 1
    assert [
        i["visit_id"] for i in reports.late_entries(community_id="c01", grid_id="g2")["items"]
    ] == [str(late.id)]
    assert reports.late_entries(community_id="c01", grid_id="g1")["items"] == []
    assert reports.ledger_ids(community_id="c01", grid_id="g1") == [str(case.id)]
    assert reports.ledger_ids(community_id="c01", grid_id="g2") == []
    [group] = reports.resolution(None, None, "grid")["items"]
    assert group["group"] == "c01/g1"


def test_the_ledger_orders_cases_by_received_at_and_filters_on_the_local_date(
    story: Story,
) -> None:
    household = story.household(cadre=None)
    midnight = datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI)  # 10 March 16:00 UTC
    last_of_tenth = story.case(household, received_at=midnight - MINUTE)
    first_of_eleventh = story.case(household, received_at=midnight)
    morning_of_tenth = story.case(
        household, received_at=midnight - 14 * HOUR, filed_at=midnight + HOUR
    )
    reports = story.reports(midnight + DAY)
    assert reports.ledger_ids() == [
        str(morning_of_tenth.id),
        str(last_of_tenth.id),
        str(first_of_eleventh.id),
    ]
    assert reports.ledger_ids(date_from=date(2026, 3, 11)) == [str(first_of_eleventh.id)]
    assert reports.ledger_ids(date_to=date(2026, 3, 10)) == [
        str(morning_of_tenth.id),
        str(last_of_tenth.id),
    ]
    assert reports.ledger_ids(date(2026, 3, 12), None) == []
    [figures] = reports.resolution(date(2026, 3, 11), date(2026, 3, 11), "community")["items"]
    assert figures["filed"] == 1


# == part 2: the service against the reference on a generated county =====================

END = datetime(2026, 10, 9, 18, 0, tzinfo=SHANGHAI)  # a Friday of ISO week 2026-W41
WEEKS = ["2026-W41", "2026-W04", "2026-W27"]  # this week, an early one, a middle one
SCOPES: list[tuple[str | None, str | None]] = [(None, None), ("c01", None), ("c02", "g3")]
RANGE = (date(2026, 5, 1), date(2026, 7, 31))


@dataclass
class Generated:
    county: County
    summary: SyntheticCounty
    reference: ReferenceReports
    actor: Actor

    @property
    def reports(self) -> Reports:
        return self.county.services.reports


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Generated]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES) or name in ENV_NAMES:
                patch.delenv(name)
        url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
        schema = f"t_{uuid.uuid4().hex[:12]}"
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("county") / "var",
            database_url=url,
            county=schema,
            master_key=new_master_key_text(),
            blind_index_key=new_master_key_text(),
        )
        county = open_county(settings, FixedClock(END))
        try:
            summary = generate_county(county.book, county.services.vault, end=END, seed=7)
            history = read_history(county.book)
            assert history.last_recorded_at is not None
            assert history.last_recorded_at <= END, "the reports look at the whole log"
            county.services.projections.catch_up()
            yield Generated(
                county,
                summary,
                ReferenceReports(history, END, SHANGHAI),
                Actor(account_id=summary.auditor_id, role=Role.AUDITOR),
            )
        finally:
            county.close()
            if url:
                drop_schema(url, schema)


def test_the_generated_county_is_large_enough(generated: Generated) -> None:
    assert generated.reference.history.events >= 100_000
    assert generated.summary.events >= 100_000
    assert len(generated.reference.history.households) == generated.summary.households


@pytest.mark.parametrize("week", WEEKS)
@pytest.mark.parametrize(("community_id", "grid_id"), SCOPES)
def test_workload_matches_the_reference(
    generated: Generated, week: str, community_id: str | None, grid_id: str | None
) -> None:
    expected = generated.reference.workload(week, community_id, grid_id)
    actual = generated.reports.workload(
        generated.actor, week=week, community_id=community_id, grid_id=grid_id
    )
    assert expected["items"], "the scope has cadres"
    assert any(item["visits"] for item in expected["items"]), "the week has visits"
    assert_same(expected, actual, f"workload {week} {community_id}/{grid_id}")


@pytest.mark.parametrize(("community_id", "grid_id"), SCOPES)
def test_coverage_matches_the_reference(
    generated: Generated, community_id: str | None, grid_id: str | None
) -> None:
    expected = generated.reference.coverage(community_id, grid_id)
    actual = generated.reports.coverage(generated.actor, community_id=community_id, grid_id=grid_id)
    assert expected["households_total"]
    assert_same(expected, actual, f"coverage {community_id}/{grid_id}")


@pytest.mark.parametrize("group_by", ["category", "grid", "community"])
@pytest.mark.parametrize("dates", [(None, None), RANGE])
@pytest.mark.parametrize("community_id", [None, "c02"])
def test_resolution_matches_the_reference(
    generated: Generated,
    group_by: str,
    dates: tuple[date | None, date | None],
    community_id: str | None,
) -> None:
    date_from, date_to = dates
    expected = generated.reference.resolution(date_from, date_to, group_by, community_id)
    actual = generated.reports.resolution(
        generated.actor,
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        community_id=community_id,
        grid_id=None,
    )
    assert expected["items"]
    assert_same(expected, actual, f"resolution by {group_by} {dates} {community_id}")


@pytest.mark.parametrize("dates", [(None, None), RANGE])
@pytest.mark.parametrize(("community_id", "grid_id"), SCOPES)
def test_late_entries_match_the_reference(
    generated: Generated,
    dates: tuple[date | None, date | None],
    community_id: str | None,
    grid_id: str | None,
) -> None:
    date_from, date_to = dates
    expected = generated.reference.late_entries(date_from, date_to, community_id, grid_id)
    actual = generated.reports.late_entries(
        generated.actor,
        date_from=date_from,
        date_to=date_to,
        community_id=community_id,
        grid_id=grid_id,
    )
    assert expected["items"]
    assert_same(expected, actual, f"late entries {dates} {community_id}/{grid_id}")


@pytest.mark.parametrize("dates", [(None, None), RANGE])
@pytest.mark.parametrize(("community_id", "grid_id"), SCOPES)
def test_the_ledger_lists_the_reference_cases_in_order(
    generated: Generated,
    dates: tuple[date | None, date | None],
    community_id: str | None,
    grid_id: str | None,
) -> None:
    date_from, date_to = dates
    expected = generated.reference.ledger_ids(date_from, date_to, community_id, grid_id)
    ledger = generated.reports.ledger(
        generated.actor,
        date_from=date_from,
        date_to=date_to,
        community_id=community_id,
        grid_id=grid_id,
    )
    actual = [str(row[0]) for row in ledger.rows]
    assert expected
    assert_same(expected, actual, f"ledger ids {dates} {community_id}/{grid_id}")
