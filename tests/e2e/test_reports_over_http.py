"""Reports and the grievance ledger over HTTP (the HTTP contract, Reports; README, "Reports: exact definitions").

Read-your-writes: after every command, a report asked with ``consistent_with``
set to the command's ``Log-Position`` shows exactly that command's effect and
nothing else. Then the ledger's two formats, the reports' input errors and
jurisdiction, the projection metrics and the 503 of a position never reached.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest

from tests.e2e.conftest import (
    SHANGHAI,
    Account,
    World,
    assert_command,
    assert_problem,
    grievance_body,
    household_body,
    iso,
    now,
    visit_body,
)

REPORTS = (
    "/v1/reports/workload",
    "/v1/reports/coverage",
    "/v1/reports/resolution",
    "/v1/reports/late-entries",
    "/v1/ledger/grievances",
)
OPEN = ("filed", "assigned", "in_progress")
SATISFACTION = {"satisfied": 1.0, "basically_satisfied": 0.5, "unsatisfied": 0.0}
CJK = re.compile(r"[\u4e00-\u9fff]")
LATE = timedelta(days=4)  # a case received this long ago is past both its urgent deadlines
EIGHT_HOURS = timedelta(hours=8)

Snapshot = dict[str, Any]


def log_position(answer: httpx.Response) -> int:
    position = answer.headers.get("log-position", "")
    assert position.isdigit(), answer.headers
    return int(position)


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, f"{answer.request.url}: {answer.status_code} {answer.text}"
    return dict(answer.json())


def local_time(text: str) -> datetime:
    """A time of a report: ISO 8601 in the county's local time (+08:00)."""
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == EIGHT_HOURS, text
    return moment


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


# -- test 1: read-your-writes on every report -------------------------------------------


@dataclass(frozen=True)
class Caller:
    name: str
    client: httpx.Client
    communities: frozenset[str]

    def covers(self, community: str) -> bool:
        return community in self.communities


@dataclass
class Household:
    community: str
    contact: str | None = None


@dataclass
class Visit:
    household: str
    visitor: str
    visited_at: datetime
    in_person: bool
    in_week: bool
    answers: str | None = None  # the life event a mandatory visit names
    voided: bool = False


@dataclass
class LifeEvent:
    household: str
    occurred_on: date
    item: dict[str, Any]


@dataclass
class Case:
    """What the test knows of a case: its deadlines are either long past or far ahead."""

    community: str
    category: str
    received_days_ago: int
    respond_passed: bool
    resolve_passed: bool
    assignee: str | None = None
    status: str = "filed"
    accepted: bool = False
    accepted_on_time: bool = False
    resolved_once: bool = False
    reopened: bool = False
    rating: str | None = None
    solved: bool | None = None
    extended: bool = False

    @property
    def standing(self) -> bool:
        return self.status in ("resolved", "closed")

    @property
    def working_on(self) -> str | None:
        """The cadre whose workload counts this case as open."""
        return self.assignee if self.status in OPEN else None

    @property
    def overdue(self) -> bool:
        return self.status in OPEN and self.resolve_passed


def ratio(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def expected_resolution(category: str, cases: list[Case]) -> dict[str, Any]:
    """One row of the resolution report, by the README's definitions."""
    responded = [c for c in cases if c.accepted or c.respond_passed]
    evaluated = [c for c in cases if c.rating is not None]
    judged = [c for c in cases if c.standing or c.resolve_passed]
    resolved_once = [c for c in cases if c.resolved_once]
    days = [float(c.received_days_ago) for c in cases if c.standing]
    return {
        "group": category,
        "filed": len(cases),
        "response_rate": ratio(sum(1 for c in responded if c.accepted_on_time), len(responded)),
        "resolution_rate": ratio(sum(1 for c in evaluated if c.solved), len(evaluated)),
        "satisfaction_rate": ratio(
            sum(SATISFACTION[c.rating or ""] for c in evaluated), len(evaluated)
        ),
        "on_time_rate": ratio(
            sum(1 for c in judged if c.standing and not c.resolve_passed), len(judged)
        ),
        "reopen_rate": ratio(sum(1 for c in resolved_once if c.reopened), len(resolved_once)),
        "median_days_to_resolve": round(statistics.median(days), 2) if days else None,
        "open_overdue": sum(1 for c in cases if c.overdue),
        "extended": sum(1 for c in cases if c.extended),
        "urged": 0,
        # no case is open three days past its resolve deadline, the policy's limit
        "escalated_for_delay": 0,
    }


def read_reports(caller: Caller, position: int, week: str) -> Snapshot:
    """Workload, coverage, resolution and late entries, once ``position`` is processed."""
    asked = {"consistent_with": position}
    client = caller.client
    workload = ok(client.get("/v1/reports/workload", params={**asked, "week": week}))
    assert workload["week"] == week
    coverage = ok(client.get("/v1/reports/coverage", params=asked))
    resolution = ok(client.get("/v1/reports/resolution", params=asked))
    assert resolution["group_by"] == "category"
    groups = [row["group"] for row in resolution["items"]]
    assert groups == sorted(groups), groups
    late = ok(client.get("/v1/reports/late-entries", params=asked))
    entries = [
        {
            **item,
            "visited_at": local_time(item["visited_at"]),
            "recorded_at": local_time(item["recorded_at"]),
        }
        for item in late["items"]
    ]
    return {
        "workload_order": [row["cadre_id"] for row in workload["items"]],
        "workload": {row["cadre_id"]: row for row in workload["items"]},
        "coverage": coverage,
        "resolution": {row["group"]: row for row in resolution["items"]},
        "late": entries,
    }


Change = Callable[[Snapshot, Caller], None]


class Scenario:
    """Commands over HTTP, each followed by reading every report at its Log-Position.

    ``seen`` holds the reports each caller read last; after a command, the reports
    read with ``consistent_with`` must equal those with the command's changes
    applied, and nothing else changed.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        # Visits "this week" happen at this moment, so the week is fixed for the whole test.
        self.moment = now() - timedelta(minutes=1)
        self.week = iso_week(self.moment.date())
        self.callers = [
            Caller("supervisor", world.supervisor.client, frozenset({"xingfu"})),
            Caller("auditor", world.auditor.client, frozenset({"xingfu", "anle"})),
        ]
        head = world.head()
        self.seen = {c.name: read_reports(c, head, self.week) for c in self.callers}
        self.households: dict[str, Household] = {}
        self.visits: dict[str, Visit] = {}
        self.life_events: dict[str, LifeEvent] = {}
        self.cases: dict[str, Case] = {}
        self.commands = 0

    # -- checking ---------------------------------------------------------------------

    def check(self, what: str, answer: httpx.Response, *changes: Change) -> int:
        position = log_position(answer)
        self.commands += 1
        for caller in self.callers:
            expected = copy.deepcopy(self.seen[caller.name])
            for change in changes:
                change(expected, caller)
            actual = read_reports(caller, position, self.week)
            assert actual == expected, (
                f"command {self.commands} ({what}): the {caller.name}'s reports "
                f"at consistent_with={position} do not show exactly its effect"
            )
            self.seen[caller.name] = actual
        return position

    @staticmethod
    def workload(cadre_id: str | None, **deltas: int) -> Change:
        def change(view: Snapshot, caller: Caller) -> None:
            row = view["workload"].get(cadre_id)
            if row is None:  # no contact cadre, or a cadre outside the caller's scope
                return
            for key, delta in deltas.items():
                row[key] += delta

        return change

    @staticmethod
    def coverage(community: str, **deltas: int) -> Change:
        def change(view: Snapshot, caller: Caller) -> None:
            if caller.covers(community):
                for key, delta in deltas.items():
                    view["coverage"][key] += delta

        return change

    def resolution(self, category: str) -> Change:
        """The category's row as the cases now stand (the other rows stay as they were)."""

        def change(view: Snapshot, caller: Caller) -> None:
            mine = [
                c
                for c in self.cases.values()
                if c.category == category and caller.covers(c.community)
            ]
            if mine:
                view["resolution"][category] = expected_resolution(category, mine)
            else:
                view["resolution"].pop(category, None)

        return change

    # -- households and visits ------------------------------------------------------

    def counted(self, household_id: str) -> bool:
        """Whether the household has a counting visit (all visits here are within 90 days)."""
        return any(v.household == household_id and not v.voided for v in self.visits.values())

    def homes(self, cadre_id: str) -> int:
        """Distinct households the cadre visited in person this week (the weekly quota)."""
        return len(
            {
                v.household
                for v in self.visits.values()
                if v.visitor == cadre_id and v.in_week and v.in_person and not v.voided
            }
        )

    def unsatisfied(self, household_id: str) -> set[str]:
        """The household's mandatory visits no in-person visit naming them discharges."""
        found = set()
        for event_id, event in self.life_events.items():
            if event.household != household_id:
                continue
            if not any(
                v.household == household_id
                and not v.voided
                and v.in_person
                and v.answers == event_id
                and v.visited_at >= local_midnight(event.occurred_on)
                for v in self.visits.values()
            ):
                found.add(event_id)
        return found

    def household_changes(
        self, household_id: str, was_counted: bool, was_unsatisfied: set[str]
    ) -> list[Change]:
        """Coverage and mandatory-visit figures of a household whose visits changed."""
        household = self.households[household_id]
        counted = self.counted(household_id)
        unsatisfied = self.unsatisfied(household_id)
        added = unsatisfied - was_unsatisfied
        gone = was_unsatisfied - unsatisfied

        def pending(view: Snapshot, caller: Caller) -> None:
            if not caller.covers(household.community):
                return
            items = [
                item
                for item in view["coverage"]["pending_mandatory"]
                if item["life_event_id"] not in gone
            ]
            items += [self.life_events[event_id].item for event_id in added]
            items.sort(key=lambda item: (item["visit_due_by"], item["life_event_id"]))
            view["coverage"]["pending_mandatory"] = items

        return [
            self.coverage(
                household.community, visited_within_cadence=int(counted) - int(was_counted)
            ),
            pending,
            self.workload(household.contact, mandatory_pending=len(added) - len(gone)),
        ]

    def register(self, by: Account, community: str = "xingfu", grid: str = "g1") -> str:
        answer = by.client.post(
            "/v1/households", json=household_body(community_id=community, grid_id=grid)
        )
        household_id = str(assert_command(answer, 201)["id"])
        self.households[household_id] = Household(community)
        self.check("register a household", answer, self.coverage(community, households_total=1))
        return household_id

    def link(self, by: Account, household_id: str, cadre: Account) -> None:
        answer = by.client.post(
            f"/v1/households/{household_id}/contact-cadre", json={"cadre_id": cadre.id}
        )
        assert assert_command(answer)["contact_cadre_id"] == cadre.id
        household = self.households[household_id]
        before, household.contact = household.contact, cadre.id
        pending = len(self.unsatisfied(household_id))
        self.check(
            "assign a contact cadre",
            answer,
            self.workload(before, households_linked=-1, mandatory_pending=-pending),
            self.workload(cadre.id, households_linked=1, mandatory_pending=pending),
        )

    def life_event(self, by: Account, household_id: str) -> str:
        occurred_on = self.moment.date()
        answer = by.client.post(
            f"/v1/households/{household_id}/life-events",
            json={"kind": "illness", "occurred_on": occurred_on.isoformat(), "note": "住院"},
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        event_id = str(body["life_event_id"])
        was_counted, was_unsatisfied = self.counted(household_id), self.unsatisfied(household_id)
        self.life_events[event_id] = LifeEvent(
            household_id,
            occurred_on,
            {
                "household_id": household_id,
                "life_event_id": event_id,
                "kind": "illness",
                "occurred_on": occurred_on.isoformat(),
                "visit_due_by": body["visit_due_by"],
                "overdue": False,
            },
        )
        self.check(
            "report a life event",
            answer,
            *self.household_changes(household_id, was_counted, was_unsatisfied),
        )
        return event_id

    def visit(
        self,
        by: Account,
        household_id: str,
        *,
        late: bool = False,
        channel: str = "in_person",
        answers: str | None = None,
    ) -> str:
        """A routine visit, or a mandatory one naming the life event ``answers``."""
        visited_at = now() - timedelta(days=8) if late else self.moment
        body = {
            "household_id": household_id,
            "visited_at": iso(visited_at),
            "channel": channel,
            "purpose": "mandatory" if answers else "routine",
            "notes": "入户走访，了解就业情况",
        }
        if answers:
            body["life_event_id"] = answers
        answer = by.client.post("/v1/visits", json=body)
        visit = assert_command(answer, 201)
        assert visit["late_logged"] is late, visit
        visit_id = str(visit["id"])
        was_counted, was_unsatisfied = self.counted(household_id), self.unsatisfied(household_id)
        was_homes = self.homes(by.id)
        self.visits[visit_id] = Visit(
            household_id, by.id, visited_at, channel == "in_person", not late, answers
        )
        changes = self.household_changes(household_id, was_counted, was_unsatisfied)
        changes.append(
            self.workload(
                by.id, visits=int(not late), households_visited=self.homes(by.id) - was_homes
            )
        )
        if late:
            community = self.households[household_id].community
            recorded_at = datetime.fromisoformat(visit["recorded_at"])
            entry = {
                "visit_id": visit_id,
                "household_id": household_id,
                "visitor_id": by.id,
                "visited_at": visited_at,
                "recorded_at": recorded_at,
                "gap_hours": round((recorded_at - visited_at).total_seconds() / 3600, 1),
                "voided": False,
            }

            def late_entry(view: Snapshot, caller: Caller) -> None:
                if caller.covers(community):
                    view["late"].append(dict(entry))

            changes.append(late_entry)
        self.check("log a late visit" if late else "log a visit this week", answer, *changes)
        return visit_id

    def void(self, by: Account, visit_id: str) -> None:
        answer = by.client.post(f"/v1/visits/{visit_id}/void", json={"reason": "重复录入"})
        assert assert_command(answer)["voided"] is True
        visit = self.visits[visit_id]
        household_id = visit.household
        was_counted, was_unsatisfied = self.counted(household_id), self.unsatisfied(household_id)
        was_homes = self.homes(visit.visitor)
        visit.voided = True
        changes = self.household_changes(household_id, was_counted, was_unsatisfied)
        changes.append(
            self.workload(
                visit.visitor,
                visits=-int(visit.in_week),
                households_visited=self.homes(visit.visitor) - was_homes,
            )
        )

        def voided(view: Snapshot, caller: Caller) -> None:
            for entry in view["late"]:
                if entry["visit_id"] == visit_id:
                    entry["voided"] = True

        changes.append(voided)
        self.check("void a visit", answer, *changes)

    # -- grievances ------------------------------------------------------------------

    def file(
        self,
        by: Account,
        household_id: str,
        category: str,
        *,
        late: bool = False,
        urgency: str = "urgent",
    ) -> str:
        summary = f"{category}：楼道灯坏了，老人夜里摔倒"
        overrides: dict[str, Any] = {"category": category, "urgency": urgency, "summary": summary}
        if late:
            overrides["received_at"] = iso(now() - LATE)
        answer = by.client.post("/v1/grievances", json=grievance_body(household_id, **overrides))
        case_id = str(assert_command(answer, 201)["id"])
        self.cases[case_id] = Case(
            community=self.households[household_id].community,
            category=category,
            received_days_ago=LATE.days if late else 0,
            respond_passed=late,
            resolve_passed=late,
        )
        self.check("file a grievance", answer, self.resolution(category))
        return case_id

    def act(self, by: Account, case_id: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        """A grievance command, then the reports: its workload and resolution figures."""
        case = self.cases[case_id]
        was = (case.working_on, case.overdue)
        answer = by.client.post(f"/v1/grievances/{case_id}/{verb}", json=body)
        view = assert_command(answer)
        self.apply(case, verb, body)
        assert view["status"] == case.status, view
        self.check(
            verb,
            answer,
            self.workload(was[0], grievances_open=-1, grievances_overdue=-int(was[1])),
            self.workload(case.working_on, grievances_open=1, grievances_overdue=int(case.overdue)),
            self.resolution(case.category),
        )
        return view

    @staticmethod
    def apply(case: Case, verb: str, body: dict[str, Any]) -> None:
        """What the command does to what the test knows of the case."""
        if verb == "assign":
            case.status, case.assignee = "assigned", body["assignee_id"]
        elif verb == "accept":
            if not case.accepted:
                case.accepted, case.accepted_on_time = True, not case.respond_passed
            case.status = "in_progress"
        elif verb == "resolve":
            case.status, case.resolved_once = "resolved", True
        elif verb == "feedback":
            case.rating, case.solved = body["rating"], body["solved"]
            if body["rating"] == "unsatisfied":
                case.status, case.reopened = "in_progress", True
            else:
                case.status = "closed"
        elif verb == "withdraw":
            case.status = "withdrawn"
        elif verb == "extend":
            # A late case (received 4 days ago, due 1 day ago) extended by 10 days is due ahead.
            assert body["days"] > LATE.days
            case.resolve_passed, case.extended = False, True
        else:
            raise AssertionError(verb)

    def work(self, by: Account, case_id: str, verb: str) -> dict[str, Any]:
        bodies: dict[str, dict[str, Any]] = {
            "accept": {},
            "resolve": {"resolution": "已更换灯泡", "outcome": "resolved"},
            "withdraw": {"reason": "居民撤回"},
        }
        return self.act(by, case_id, verb, bodies[verb])


def test_after_any_command_a_report_asked_with_its_log_position_shows_exactly_its_effect(
    world: World,
) -> None:
    cadre, cadre2, grid_cadre = world.cadre, world.cadre2, world.grid_cadre
    supervisor, outsider = world.supervisor, world.outsider
    run = Scenario(world)
    assert run.seen["supervisor"]["workload_order"] == [cadre.id, cadre2.id, grid_cadre.id]
    assert run.seen["auditor"]["workload_order"] == [
        outsider.id,
        cadre.id,
        cadre2.id,
        grid_cadre.id,
    ]

    h1 = run.register(cadre, grid="g1")
    h2 = run.register(cadre2, grid="g2")
    h3 = run.register(outsider, community="anle", grid="g1")
    run.link(supervisor, h1, grid_cadre)
    run.link(supervisor, h2, cadre)
    illness = run.life_event(cadre, h1)  # grid_cadre: a pending mandatory visit
    run.visit(cadre, h1)  # a routine visit after it leaves it pending
    satisfying = run.visit(cadre, h1, answers=illness)  # a mandatory visit naming it satisfies it
    run.visit(cadre2, h2, channel="phone")
    run.visit(cadre, h2)
    fresh = run.file(cadre, h1, "facilities")
    late = run.file(cadre2, h2, "health", late=True)
    run.act(supervisor, fresh, "assign", {"assignee_id": cadre.id})
    run.act(supervisor, late, "assign", {"assignee_id": cadre2.id})
    run.work(cadre, fresh, "accept")  # facilities: response_rate 1.0
    run.void(cadre, satisfying)  # the mandatory visit is pending again
    late_visit = run.visit(grid_cadre, h1, late=True)
    run.work(cadre, fresh, "resolve")
    run.act(supervisor, fresh, "feedback", {"rating": "unsatisfied", "solved": False})
    run.work(cadre, fresh, "resolve")
    run.act(supervisor, fresh, "feedback", {"rating": "satisfied", "solved": True})
    run.work(cadre2, late, "accept")  # too late: health response_rate stays 0.0
    run.work(cadre2, late, "resolve")
    run.act(supervisor, late, "feedback", {"rating": "basically_satisfied", "solved": True})
    run.file(outsider, h3, "health")  # only the auditor sees it
    withdrawn = run.file(grid_cadre, h1, "facilities", urgency="emergency")
    run.act(supervisor, withdrawn, "assign", {"assignee_id": grid_cadre.id})
    run.work(grid_cadre, withdrawn, "withdraw")
    run.link(supervisor, h1, cadre2)  # the pending mandatory visit moves to cadre2
    run.visit(cadre2, h1, answers=illness)  # and is satisfied
    run.void(grid_cadre, late_visit)
    h4 = run.register(cadre2, grid="g2")
    overdue = run.file(cadre2, h4, "employment", late=True)
    run.act(supervisor, overdue, "extend", {"days": 10, "reason": "需协调用工单位"})
    run.visit(outsider, h3)
    run.link(outsider, h3, outsider)
    assert run.commands >= 30

    # The figures the scenario arrived at, spelled out.
    supervisor_view, auditor_view = run.seen["supervisor"], run.seen["auditor"]
    assert supervisor_view["coverage"]["households_total"] == 3
    assert auditor_view["coverage"]["households_total"] == 4
    assert supervisor_view["coverage"]["visited_within_cadence"] == 2
    assert supervisor_view["coverage"]["pending_mandatory"] == []
    facilities = supervisor_view["resolution"]["facilities"]
    assert (facilities["filed"], facilities["response_rate"]) == (2, 1.0)
    assert (facilities["satisfaction_rate"], facilities["reopen_rate"]) == (1.0, 1.0)
    assert supervisor_view["resolution"]["health"]["filed"] == 1
    assert auditor_view["resolution"]["health"]["filed"] == 2
    assert supervisor_view["resolution"]["health"]["satisfaction_rate"] == 0.5
    assert supervisor_view["resolution"]["employment"]["on_time_rate"] is None
    assert [entry["voided"] for entry in supervisor_view["late"]] == [True]
    workload = supervisor_view["workload"]
    assert (workload[cadre.id]["visits"], workload[cadre2.id]["visits"]) == (2, 2)
    # cadre2 phoned h2 and visited h1: one household in person this week.
    assert (
        workload[cadre.id]["households_visited"],
        workload[cadre2.id]["households_visited"],
    ) == (
        2,
        1,
    )
    assert workload[cadre.id]["households_linked"] == 1
    assert workload[cadre2.id]["households_linked"] == 1
    assert workload[grid_cadre.id]["households_linked"] == 0
    assert auditor_view["workload"][outsider.id]["households_linked"] == 1

    # The other groupings and the late entries' date range, at the last position.
    position = world.head()
    auditor = world.auditor.client
    by_community = ok(
        auditor.get(
            "/v1/reports/resolution", params={"group_by": "community", "consistent_with": position}
        )
    )
    assert [(row["group"], row["filed"]) for row in by_community["items"]] == [
        ("anle", 1),
        ("xingfu", 4),
    ]
    by_grid = ok(
        auditor.get(
            "/v1/reports/resolution", params={"group_by": "grid", "consistent_with": position}
        )
    )
    assert [(row["group"], row["filed"]) for row in by_grid["items"]] == [
        ("anle/g1", 1),
        ("xingfu/g1", 2),
        ("xingfu/g2", 2),
    ]
    recorded_on = supervisor_view["late"][0]["recorded_at"].date()
    for window, expected in (
        ({"from": recorded_on.isoformat()}, [late_visit]),
        ({"to": recorded_on.isoformat()}, [late_visit]),
        ({"to": (recorded_on - timedelta(days=1)).isoformat()}, []),
        ({"from": (recorded_on + timedelta(days=1)).isoformat()}, []),
    ):
        entries = ok(
            auditor.get("/v1/reports/late-entries", params={**window, "consistent_with": position})
        )
        assert [item["visit_id"] for item in entries["items"]] == expected, window


# -- test 2: the ledger -----------------------------------------------------------------


@dataclass
class Filed:
    id: str
    community: str
    grid: str
    received_on: date
    summary: str


def ledger(client: httpx.Client, fmt: str, **params: Any) -> list[list[str]]:
    """The ledger's rows, header first, every cell as text ("" for an empty one)."""
    answer = client.get("/v1/ledger/grievances", params={"format": fmt, **params})
    assert answer.status_code == 200, f"{answer.status_code} {answer.text[:500]}"
    body = answer.content
    if fmt == "csv":
        assert answer.headers["content-type"].startswith("text/csv"), answer.headers
        assert body.startswith(b"\xef\xbb\xbf"), body[:16]
        text = body[3:].decode("utf-8")
        return [row for row in csv.reader(io.StringIO(text, newline=""))]
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    try:
        sheet = book.worksheets[0]
        return [
            ["" if cell is None else str(cell) for cell in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    finally:
        book.close()


def case_ids(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows[1:]]


def test_the_grievance_ledger_round_trips_as_xlsx_and_csv_with_chinese_headers_and_labels(
    world: World,
) -> None:
    moment = now()
    h_g1 = world.household()
    h_g2 = world.household(grid_id="g2")
    h_anle = world.household(by=world.outsider, community_id="anle", grid_id="g1")
    filed: list[Filed] = []

    def file(by: Account, household: dict[str, Any], summary: str, **overrides: Any) -> str:
        case = world.grievance(household["id"], by=by, summary=summary, **overrides)
        received_on = datetime.fromisoformat(case["received_at"]).astimezone(SHANGHAI).date()
        filed.append(
            Filed(case["id"], household["community_id"], household["grid_id"], received_on, summary)
        )
        return str(case["id"])

    tricky = '3栋电梯停运，"王阿姨"说：楼道很暗, 请尽快维修'
    four_days = file(
        world.cadre,
        h_g1,
        "水管爆裂",
        received_at=iso(moment - timedelta(days=4)),
        category="housing",
    )
    one_day = file(
        world.cadre2,
        h_g2,
        tricky,
        received_at=iso(moment - timedelta(days=1)),
        category="health",
        urgency="emergency",
        channel="hotline",
    )
    today_case = file(world.cadre, h_g1, "垃圾清运不及时", category="environment", channel="wechat")
    anle_case = file(world.outsider, h_anle, "安乐社区路灯不亮")
    closed = file(world.cadre, h_g1, "小区门禁损坏")
    world.act(world.supervisor, closed, "assign", {"assignee_id": world.cadre.id})
    world.act(world.cadre, closed, "accept", {})
    world.act(world.cadre, closed, "resolve", {"resolution": "已更换门禁", "outcome": "resolved"})
    last = world.supervisor.client.post(
        f"/v1/grievances/{closed}/feedback", json={"rating": "satisfied", "solved": True}
    )
    position = log_position(last)
    assert assert_command(last)["status"] == "closed"

    xingfu = [f for f in filed if f.community == "xingfu"]
    by_id = {f.id: f for f in filed}
    supervisor, auditor = world.supervisor.client, world.auditor.client
    for fmt in ("xlsx", "csv"):
        rows = ledger(supervisor, fmt, consistent_with=position)
        headers = rows[0]
        assert "案件编号" in headers and headers[0] == "案件编号", headers
        assert all(CJK.search(header) for header in headers), headers
        assert sorted(case_ids(rows)) == sorted(f.id for f in xingfu), fmt
        assert all(len(row) == len(headers) for row in rows), fmt
        column = {name: index for index, name in enumerate(headers)}
        by_case = {row[0]: row for row in rows[1:]}
        # Chinese text round-trips exactly, even with commas and quotes.
        for case_id, row in by_case.items():
            assert by_id[case_id].summary in row, (fmt, row)
        assert tricky in by_case[one_day]
        # Enum columns hold Chinese labels, never the English enum values.
        for name in ("类别", "紧急程度", "来源渠道", "层级", "当前状态"):
            assert name in column, (name, headers)
            for row in rows[1:]:
                assert CJK.search(row[column[name]]), (fmt, name, row)
        categories = {by_case[c][column["类别"]] for c in (four_days, one_day, today_case)}
        assert len(categories) == 3, categories  # housing, health, environment: three labels
        status = column["当前状态"]
        assert by_case[closed][status] != by_case[today_case][status]
        for row in rows[1:]:
            for english in ("facilities", "urgent", "filed", "closed", "in_progress", "grid"):
                assert english not in row, (fmt, row)
        # Ordered by received_at.
        received = [by_id[c].received_on for c in case_ids(rows)]
        assert received == sorted(received)

    # Both formats hold the same table.
    assert ledger(supervisor, "csv") == ledger(supervisor, "xlsx")

    # The auditor sees every community; community_id and grid_id narrow the scope.
    assert sorted(case_ids(ledger(auditor, "csv"))) == sorted(f.id for f in filed)
    assert case_ids(ledger(auditor, "xlsx", community_id="anle")) == [anle_case]
    g2 = ledger(supervisor, "csv", grid_id="g2")
    assert case_ids(g2) == [one_day]
    assert_problem(supervisor.get("/v1/ledger/grievances", params={"community_id": "anle"}), 403)

    # from / to are inclusive local dates of received_at.
    def received_between(start: date | None, end: date | None) -> list[str]:
        return sorted(
            f.id
            for f in xingfu
            if (start is None or f.received_on >= start) and (end is None or f.received_on <= end)
        )

    four_days_on = by_id[four_days].received_on
    one_day_on = by_id[one_day].received_on
    today_on = by_id[today_case].received_on
    for start, end in (
        (four_days_on, four_days_on),
        (one_day_on, None),
        (None, one_day_on),
        (today_on, today_on),
        (four_days_on + timedelta(days=1), one_day_on - timedelta(days=1)),
    ):
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        for fmt in ("csv", "xlsx"):
            got = sorted(case_ids(ledger(supervisor, fmt, **params)))
            assert got == received_between(start, end), (fmt, params)


# -- test 3: input errors and jurisdiction ----------------------------------------------


def test_reports_refuse_bad_input_with_422_and_callers_outside_their_jurisdiction(
    world: World,
) -> None:
    supervisor, auditor = world.supervisor.client, world.auditor.client
    for week in ("2026-47", "2026-W99", "2026-W00", "2025-W53", "W47", "2026-w47", "2026-W4"):
        problem = assert_problem(supervisor.get("/v1/reports/workload", params={"week": week}), 422)
        assert any("week" in [str(part) for part in e["loc"]] for e in problem["errors"]), problem
    assert ok(supervisor.get("/v1/reports/workload", params={"week": "2026-W53"}))["week"] == (
        "2026-W53"
    )
    for group_by in ("team", "Category", ""):
        assert_problem(supervisor.get("/v1/reports/resolution", params={"group_by": group_by}), 422)
    dated = ("/v1/reports/resolution", "/v1/reports/late-entries", "/v1/ledger/grievances")
    for path in dated:
        for bad in ("2026-13-01", "2026-02-30", "21/11/2026", "yesterday", "20261121"):
            assert_problem(supervisor.get(path, params={"from": bad}), 422)
            assert_problem(supervisor.get(path, params={"to": bad}), 422)
    for bad_format in ("pdf", "XLSX", ""):
        assert_problem(supervisor.get("/v1/ledger/grievances", params={"format": bad_format}), 422)
    for path in REPORTS:
        for position in ("abc", "-1", "1.5"):
            assert_problem(supervisor.get(path, params={"consistent_with": position}), 422)
        assert_problem(world.anonymous.get(path), 401)
        bad_token = world.server.client("not-a-token")
        assert_problem(bad_token.get(path), 401)
        assert_problem(world.admin.client.get(path), 403)
        assert_problem(supervisor.get(path, params={"community_id": "anle"}), 403)
        assert_problem(world.outsider.client.get(path, params={"community_id": "xingfu"}), 403)
        assert_problem(world.grid_cadre.client.get(path, params={"grid_id": "g2"}), 403)
        assert supervisor.get(path, params={"community_id": "xingfu"}).status_code == 200
        assert auditor.get(path).status_code == 200
        assert auditor.get(path, params={"community_id": "anle"}).status_code == 200
        assert world.cadre.client.get(path).status_code == 200


# -- test 4: metrics ----------------------------------------------------------------------

METRIC = re.compile(r"^(anju_projection_[a-z_]+)\{([^}]*)\}\s+(\S+)$", re.MULTILINE)
PROJECTION_METRICS = (
    "anju_projection_position",
    "anju_projection_lag_events",
    "anju_projection_lag_seconds",
    "anju_projection_events_processed_total",
)


def projection_metrics(client: httpx.Client) -> list[tuple[str, dict[str, str], float]]:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain"), answer.headers
    found = []
    for name, labels, value in METRIC.findall(answer.text):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        found.append((name, pairs, float(value)))
    return found


def test_metrics_report_each_read_models_position_and_lag_in_prometheus_text(
    world: World,
) -> None:
    anonymous = world.anonymous
    text = anonymous.get("/metrics").text
    for name in PROJECTION_METRICS:
        kind = "counter" if name.endswith("_total") else "gauge"
        assert f"# TYPE {name} {kind}" in text, name
        assert f"# HELP {name} " in text, name
    answer = world.cadre.client.post("/v1/households", json=household_body())
    assert_command(answer, 201)
    position = log_position(answer)
    coverage = world.supervisor.client.get(
        "/v1/reports/coverage", params={"consistent_with": position}
    )
    assert coverage.status_code == 200, coverage.text

    metrics = projection_metrics(anonymous)
    for name in PROJECTION_METRICS:
        models = {labels.get("model") for metric, labels, _ in metrics if metric == name}
        assert models >= {"casework", "organisation"}, (name, models)
    for metric, labels, value in metrics:
        assert value >= 0, (metric, labels, value)
    live = {
        labels["model"]: value
        for metric, labels, value in metrics
        if metric == "anju_projection_position" and labels.get("state", "live") == "live"
    }
    assert live["casework"] >= position, (live, position)
    assert live["organisation"] >= position, (live, position)
    processed = {
        labels["model"]: value
        for metric, labels, value in metrics
        if metric == "anju_projection_events_processed_total"
        and labels.get("state", "live") == "live"
    }
    assert processed["casework"] >= 1, processed


# -- test 5: a position never reached ---------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_report_waits_for_an_unreached_position_then_answers_503_with_retry_after(
    world: World,
) -> None:
    projections = world.server.county.services.projections
    # Holding the runner's lock stands for a projection stuck on a long batch.
    with projections._lock:
        made = world.cadre.client.post("/v1/households", json=household_body())
        position = int(made.headers["log-position"])
        started = time.monotonic()
        answer = world.supervisor.client.get(
            "/v1/reports/resolution", params={"consistent_with": position}
        )
        waited = time.monotonic() - started
    assert_problem(answer, 503)
    assert answer.headers.get("retry-after", "").isdigit(), answer.headers
    assert 9 <= waited <= 20, waited


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_report_asked_for_a_position_beyond_the_head_is_422_at_once(world: World) -> None:
    started = time.monotonic()
    answer = world.supervisor.client.get(
        "/v1/reports/resolution", params={"consistent_with": world.head() + 1000}
    )
    assert_problem(answer, 422)
    assert time.monotonic() - started < 2


# -- the weekly quota and the mandatory visits (the domain rules, Visits) ------------------------------


def workload_rows(world: World, position: int, week: str) -> dict[str, dict[str, Any]]:
    answer = world.supervisor.client.get(
        "/v1/reports/workload",
        params={"week": week, "community_id": "xingfu", "consistent_with": position},
    )
    return {row["cadre_id"]: row for row in ok(answer)["items"]}


def test_the_weekly_quota_counts_distinct_households_visited_in_person(world: World) -> None:
    moment = now() - timedelta(minutes=1)
    at = iso(moment)
    called = world.household()["id"]
    for _ in range(11):  # eleven phone calls to one household: one household, not in person
        world.visit(called, by=world.cadre, visited_at=at, channel="phone")
    ten = [world.household()["id"] for _ in range(10)]
    for household_id in ten + ten:  # twenty visits, ten households
        world.visit(household_id, by=world.cadre2, visited_at=at)
    for _ in range(20):  # twenty households, once each
        world.visit(world.household()["id"], by=world.grid_cadre, visited_at=at)

    rows = workload_rows(world, world.head(), iso_week(moment.date()))
    figures = {
        cadre.username: (
            rows[cadre.id]["visits"],
            rows[cadre.id]["households_visited"],
            rows[cadre.id]["weekly_quota"],
            rows[cadre.id]["quota_met"],
        )
        for cadre in (world.cadre, world.cadre2, world.grid_cadre)
    }
    assert figures == {
        "cadre1": (11, 0, 20, False),
        "cadre2": (20, 10, 20, False),
        "cadreg1": (20, 20, 20, True),
    }


def test_a_mandatory_visit_is_discharged_only_by_an_in_person_visit_naming_its_life_event(
    world: World,
) -> None:
    moment = now() - timedelta(minutes=1)
    household = world.household()["id"]
    linked = world.supervisor.client.post(
        f"/v1/households/{household}/contact-cadre", json={"cadre_id": world.cadre.id}
    )
    assert_command(linked)
    reported = world.cadre.client.post(
        f"/v1/households/{household}/life-events",
        json={"kind": "funeral", "occurred_on": moment.date().isoformat(), "note": "老人去世"},
    )
    assert reported.status_code == 201, reported.text
    funeral = reported.json()["life_event_id"]
    other = world.household()["id"]
    elsewhere = world.cadre.client.post(
        f"/v1/households/{other}/life-events",
        json={"kind": "wedding", "occurred_on": moment.date().isoformat()},
    )
    assert elsewhere.status_code == 201, elsewhere.text

    def pending(position: int) -> tuple[list[str], int, int]:
        coverage = ok(
            world.supervisor.client.get(
                "/v1/reports/coverage",
                params={"community_id": "xingfu", "consistent_with": position},
            )
        )
        mine = [
            item["life_event_id"]
            for item in coverage["pending_mandatory"]
            if item["household_id"] == household
        ]
        row = workload_rows(world, position, iso_week(moment.date()))[world.cadre.id]
        return mine, row["mandatory_pending"], row["mandatory_overdue"]

    routine = world.cadre.client.post(
        "/v1/visits", json=visit_body(household, visited_at=iso(moment), notes="入户慰问")
    )
    assert pending(log_position(routine)) == ([funeral], 1, 0)

    unnamed = visit_body(household, visited_at=iso(moment), purpose="mandatory")
    problem = assert_problem(world.cadre.client.post("/v1/visits", json=unnamed), 422)
    assert "life_event_id" in str(problem["errors"])
    of_another = {**unnamed, "life_event_id": elsewhere.json()["life_event_id"]}
    assert_problem(world.cadre.client.post("/v1/visits", json=of_another), 422)
    by_phone = world.cadre.client.post(
        "/v1/visits", json={**unnamed, "life_event_id": funeral, "channel": "phone"}
    )
    assert pending(log_position(by_phone)) == ([funeral], 1, 0)

    named = world.cadre.client.post("/v1/visits", json={**unnamed, "life_event_id": funeral})
    assert assert_command(named, 201)["life_event_id"] == funeral
    assert pending(log_position(named)) == ([], 0, 0)
