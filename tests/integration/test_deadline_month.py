"""A simulated November: what the deadline watcher records, and each cadre's stars.

One community, three cadres, a month of scripted casework (Asia/Shanghai) on a
controlled clock; the watcher runs every six hours and at a few awkward moments,
interleaved with the commands in time order. What the log must then hold and the
stars for 2026-11 are worked out here from the script's own plain data (times,
kinds, channels, the life event a visit answers) by small functions that follow the rules (the README and the
issue), never by the service's deadline or star code. Then a policy change
mid-month: a case keeps the deadline policy in effect when it was received, and
stars are judged by the criteria in effect at the moment they are judged.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from infrastructure.vault import new_master_key_text
from tests.conftest import ENV_NAMES, ENV_PREFIXES, drop_schema
from tests.fakes import SteppingClock

SH = ZoneInfo("Asia/Shanghai")
NEVER = datetime(2100, 1, 1, tzinfo=SH)
LEVELS = ["grid", "community", "township", "county"]
DUE_DAYS = dict(illness=3, disaster=3, family_change=3, wedding=7, funeral=7, dispute=7)
SETTLE = timedelta(seconds=60)
TIMES = ("due_at", "overdue_since", "resolve_by")
when = datetime.fromisoformat


def t(text: str) -> datetime:
    """A local moment of 2026 written 11-03T09:00 (seconds and milliseconds optional)."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=SH)


MONTH_STARTS, MONTH_ENDS = t("11-01T00:00"), t("12-01T00:00")
MONDAYS = [date(2026, 11, 2) + timedelta(weeks=n) for n in range(4)]  # Thursdays in November

# -- the rules, as plain data ---------------------------------------------------------


URGENCIES = ("emergency", "urgent", "normal", "complex")
Policy = dict[str, Any]  # as in the JSON file
Hours = tuple[int, int, int, int]  # by urgency


def policy(version: str, since: str, respond: Hours, resolve: Hours, escalate: int) -> Policy:
    return {
        "version": version,
        "effective_from": t(since).isoformat(),
        "respond_within_hours": dict(zip(URGENCIES, respond, strict=True)),
        "resolve_within_hours": dict(zip(URGENCIES, resolve, strict=True)),
        "escalate_after_days": escalate,
    }


SHIPPED = policy("2026.1", "01-01T00:00", (2, 24, 72, 72), (24, 72, 360, 1440), 3)
MID_MONTH = policy("2026.2", "11-16T00:00", (1, 12, 48, 48), (12, 48, 240, 720), 2)


def within(policy: Policy, deadline: str, urgency: str) -> timedelta:
    return timedelta(hours=policy[f"{deadline}_within_hours"][urgency])


# star -> (name, measure, bound kind, bound), as published in 2026.1
STARS = {
    "visit": ("遍访解困星", "households_due", "at_most", 0),
    "quota": ("走访达标星", "weeks_below_quota", "at_most", 0),
    "mandatory": ("五访必到星", "mandatory_overdue", "at_most", 0),
    "response": ("响应及时星", "response_rate", "at_least", 0.95),
    "resolution": ("问题解决星", "resolution_rate", "at_least", 0.9),
    "satisfaction": ("群众满意星", "satisfaction_rate", "at_least", 0.9),
    "on_time": ("按期办结星", "on_time_rate", "at_least", 0.9),
}
RATES = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate")


def criteria_json(version: str, since: str, quota: int, response: float) -> dict[str, Any]:
    stars = [
        {"star": star, "name": name, "measure": measure, kind: bound}
        for star, (name, measure, kind, bound) in STARS.items()
    ]
    stars[3]["at_least"] = response
    return {"version": version, "effective_from": since, "weekly_quota": quota, "stars": stars}


def governing(received: datetime, policies: list[Policy]) -> Policy:
    applicable = [p for p in policies if when(p["effective_from"]) <= received]
    return applicable[-1] if applicable else policies[0]


def judge_stars(figures: dict[str, tuple[Any, Any]], response: float) -> dict[str, tuple[Any, ...]]:
    """star -> (earned, value, figures): a star needs a value within its bound."""
    found = {}
    for star, (value, behind) in figures.items():
        _, _, kind, bound = STARS[star]
        bound = response if star == "response" else bound
        won = value is not None and (value <= bound if kind == "at_most" else value >= bound)
        found[star] = (won, value, behind)
    return found


# -- the script, as plain data --------------------------------------------------------

HOUSEHOLDS = """
hA0 08-01T10:00 A@08-01T10:30
hB0 08-01T10:00 B@08-01T10:30 C@12-02T10:00   # B's at the end of November
hB1 08-01T10:00 B@08-01T10:30
hB2 08-01T10:00 B@08-01T10:30
hA1 11-01T08:00 A@11-01T08:30
hA2 11-01T08:00 A@11-01T08:30
hA3 11-01T08:00 B@11-01T08:30 A@11-20T10:00   # A's at the end of November
hA4 11-01T08:00 A@11-01T08:30
hB3 11-01T08:00 B@11-01T08:30
hB4 11-01T08:00 B@11-01T08:30
hB5 11-01T08:00 B@11-01T08:30
hB6 11-01T08:00 B@11-01T08:30
hB7 11-01T08:00 B@11-01T08:30
"""
POOL = "\n".join(f"p{i} 11-01T08:00" for i in range(21))  # nobody's: for routine visits
# key, visitor, household, visited_at, recorded, channel, answers (the life event a mandatory
# visit names; - for a routine one), [voided]
VISITS = """
hB1-sep  B hB1 09-15T10:00 09-15T10:30 in_person -
hB2-oct  B hB2 10-01T10:00 10-01T10:30 phone     - 11-05T11:00
hA0-nov  A hA0 11-02T10:00 11-02T10:10 in_person -
L1-ok    A hA1 11-06T15:00 11-06T15:30 in_person L1
L3-void  B hA3 11-14T10:00 11-14T10:20 in_person L3 11-21T09:00  # voided after it fell due
Lok-ok   B hB3 11-11T16:00 11-11T16:10 in_person Lok
Lphone-v B hB4 11-06T10:00 11-06T10:05 phone     Lphone
Lafter-v B hB5 11-12T09:00 11-12T09:30 in_person Lafter          # after the due day
Llate-v  B hB6 11-12T19:00 11-13T00:00:30 in_person Llate        # in time, logged after
Lvoid-v  B hB7 11-17T10:00 11-17T10:10 in_person Lvoid 11-20T11:00  # voided before it fell due
Lrep-r   B hB1 11-22T15:00 11-25T08:00 in_person -  # before the report: routine, discharges nothing
Lok-r    B hB3 11-28T10:00 11-28T10:10 in_person -  # routine, after L27: does not discharge it
hB2-dec  B hB2 12-02T11:00 12-02T11:05 in_person -
w44      A p1  11-01T10:00 11-01T10:05 phone     -
w49      A p2  11-30T10:00 11-30T10:05 phone     -
"""
# key, household, kind, occurred_on, reported
LIFE = """
L1    hA1 wedding       11-03 11-03T18:00
L3    hA3 funeral       11-12 11-12T18:00
Ldec  hA4 illness       11-28 11-28T18:00   # falls due in December
Lok   hB3 dispute       11-04 11-04T18:00
Lphone hB4 illness      11-05 11-05T18:00
Lafter hB5 disaster     11-08 11-08T18:00
Llate hB6 family_change 11-09 11-09T18:00
Lvoid hB7 wedding       11-16 11-16T18:00
L27   hB3 illness       11-27 11-27T18:00   # falls due at the very end of November
Lrep  hB1 family_change 11-20 11-25T09:00   # reported after its due day
Lrep2 hB2 dispute       11-10 11-19T09:00   # reported after its due day, never visited
"""
# key, household, urgency, received, filed, steps (action[:arg]@when)
CASES = """
G0  hA0 urgent    10-30T10:00 10-30T10:05 assign:A@10-30T11:00 accept@11-01T09:00 resolve@11-01T17:00
G1  hA1 urgent    11-03T09:00 11-03T09:05 assign:A@11-03T09:30 accept@11-03T10:00 resolve@11-06T08:59 feedback:satisfied/yes@11-07T10:00
G2  hB3 urgent    11-03T14:00 11-03T14:05 assign:B@11-03T15:00 accept@11-03T16:00 resolve@11-06T14:01 feedback:basically_satisfied/yes@11-08T10:00
G3  hB4 emergency 11-09T20:00 11-09T20:05 assign:B@11-09T20:10 accept@11-09T22:01 resolve@11-10T12:00 feedback:satisfied/yes@11-11T09:00
G4  hA2 normal    11-04T10:00 11-04T10:05 assign:A@11-04T11:00 accept@11-04T15:00 extend:5@11-18T09:00 resolve@11-22T16:00 feedback:basically_satisfied/no@11-23T10:00
G5  hB5 normal    11-10T09:00 11-14T09:00 assign:B@11-14T09:30 accept@11-14T10:00 resolve@11-20T10:00 feedback:satisfied/yes@11-21T10:00
G6  hB6 urgent    11-16T08:00 11-16T08:05 assign:B@11-16T08:30 accept@11-16T09:00 resolve@11-18T17:00 feedback:unsatisfied/no@11-20T10:00 resolve@11-21T15:00 feedback:satisfied/yes@11-22T10:00
G7  hB7 emergency 11-12T19:00 11-12T19:05 assign:B@11-12T19:30 accept@11-12T20:00 extend:3@11-14T10:00 resolve@11-17T09:00 feedback:satisfied/yes@11-17T15:00
G8  hB0 emergency 11-05T10:00 11-05T10:05 urge@11-08T10:00 extend:5@11-11T09:00
G9  hA3 complex   11-20T10:00 11-20T10:05 assign:A@11-20T10:30 accept@11-21T09:00
G10 hA4 normal    11-24T09:00 11-24T09:05 assign:A@11-24T09:30 accept@11-24T12:00 resolve@11-30T15:00 feedback:satisfied/yes@12-01T10:00
G11 hA1 normal    11-25T09:00 11-25T09:05 assign:A@11-25T10:00 withdraw@11-26T10:00
G12 hA2 urgent    11-20T08:00 11-20T08:05 assign:C@11-20T08:30 accept@11-20T09:00 resolve@11-22T10:00 feedback:unsatisfied/no@11-24T10:00
G13 hB4 emergency 11-18T08:00 11-23T08:00 withdraw@11-24T10:00
G14 hB5 urgent    11-26T10:00 11-26T10:05 withdraw@11-27T11:00
G15 hA4 emergency 11-26T14:00 11-26T14:05 assign:A@11-26T14:10 accept@11-26T15:59:59.999 resolve@11-27T13:59:59.999
"""
# G0 received in October; G1 resolved a minute early, G2 a minute late; G3 accepted a minute
# late; G4 extended before its deadline, resolved within; G5 logged four days late; G6 reopened
# after its deadline; G7 extended after missing it; G8 left open (auto-escalated, urged, extended,
# escalated again); G9 still open; G10 feedback after the month; G11 withdrawn in time; G12
# reopened after its deadline and left open; G13 logged five days late, past everything; G14
# withdrawn after its respond deadline; G15 accepted and resolved exactly at its deadlines
# (each step lands one clock reading, 1 ms, after the clock is set).
AWKWARD_ROUNDS = """11-06T14:00:30 11-09T22:00:40 11-16T00:00:45 11-26T16:00:30 11-27T14:00:30
11-30T23:59:50 12-01T00:00:30 12-01T00:01:10 12-02T00:00:59 12-02T00:01:01"""


@dataclass
class Visit:
    key: str
    visitor: str
    household: str
    visited_at: datetime
    logged: datetime
    channel: str
    answers: str | None  # the life event a mandatory visit names
    voided: datetime | None = None


@dataclass
class Life:
    key: str
    household: str
    kind: str
    occurred_on: date
    reported: datetime


@dataclass
class Case:
    key: str
    household: str
    urgency: str
    received: datetime
    filed: datetime
    steps: list[tuple[datetime, str, Any]]  # (when, action, argument)


@dataclass
class Plan:
    households: dict[str, tuple[datetime, list[tuple[datetime, str]]]]
    visits: list[Visit]
    life: list[Life]
    cases: list[Case]
    rounds: list[datetime]
    level_checks: set[datetime]  # rounds after which each case's level is read


def rows(table: str) -> list[list[str]]:
    lines = (line.split("#")[0].split() for line in table.strip().splitlines())
    return [line for line in lines if line]


def step(text: str) -> tuple[datetime, str, Any]:
    command, moment = text.split("@")
    action, _, arg = command.partition(":")
    if action == "feedback":
        rating, solved = arg.split("/")
        return t(moment), action, (rating, solved == "yes")
    return t(moment), action, int(arg) if action == "extend" else arg or None


def plan_of(households: str, visits: str, life: str, cases: str, rounds: list[datetime]) -> Plan:
    return Plan(
        households={
            key: (t(registered), [(t(m), c) for c, m in (x.split("@") for x in links)])
            for key, registered, *links in rows(households)
        },
        visits=[
            Visit(k, v, h, t(a), t(r), c, None if p == "-" else p, *map(t, x))
            for k, v, h, a, r, c, p, *x in rows(visits)
        ],
        life=[
            Life(k, h, kind, date.fromisoformat(f"2026-{d}"), t(r))
            for k, h, kind, d, r in rows(life)
        ],
        cases=[
            Case(key, h, u, t(received), t(filed), [step(s) for s in steps])
            for key, h, u, received, filed, *steps in rows(cases)
        ],
        rounds=sorted(rounds),
        level_checks=set(),
    )


def quota_visits(cadre: str, monday: date, count: int, voided: str | None = None) -> str:
    """Quick routine visits on weekday mornings, each to another household nobody is linked to,
    each followed by a phone call to the same household (counted as a visit, not for the quota)."""
    lines = []
    for i in range(count):
        at = datetime.combine(monday + timedelta(days=i % 5), time(9, 10 * (i // 5)))
        logged = f"{at + timedelta(minutes=5):%m-%dT%H:%M}"
        lines.append(
            f"q{cadre}{monday.day}-{i} {cadre} p{i} {at:%m-%dT%H:%M} {logged} in_person - "
            f"{(voided or '') if i == 0 else ''}"
        )
        if i < 5:
            lines.append(f"c{cadre}{monday.day}-{i} {cadre} p{i} {at:%m-%dT%H:%M} {logged} phone -")
    return "\n".join(lines)


def november() -> Plan:
    calls = [quota_visits("A", m, 21, "11-13T18:00" if m.day == 9 else None) for m in MONDAYS]
    calls += [quota_visits("B", m, 18 if m.day == 16 else 20) for m in MONDAYS]
    rounds = [t("10-30T00:07:30") + timedelta(hours=6 * n) for n in range(34 * 4 + 1)]
    rounds += [t(moment) for moment in AWKWARD_ROUNDS.split()]
    plan = plan_of(HOUSEHOLDS + POOL, "\n".join([VISITS, *calls]), LIFE, CASES, rounds)
    plan.level_checks = {plan.rounds[-1]}
    return plan


# -- running the script on the service ------------------------------------------------


@dataclass
class World:
    cadres: dict[str, Actor]
    supervisor: Actor


def found_world(county: County) -> World:
    org = county.services.organisation
    org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
    org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")

    def account(username: str, role: str) -> Actor:
        view, _ = org.open_account(
            SYSTEM, username=username, display_name=username, role=role, community_id="xingfu"
        )
        return actor_of(org.account(view.id))

    cadres = {key: account(f"cadre{n}", "cadre") for n, key in enumerate("ABC", 1)}
    return World(cadres, account("super1", "supervisor"))


@dataclass
class Month:
    county: County
    world: World
    plan: Plan
    clock: SteppingClock
    ids: dict[str, str] = field(default_factory=dict)
    levels: dict[datetime, dict[str, str]] = field(default_factory=dict)
    reopened: dict[str, list[datetime]] = field(default_factory=dict)


def perform(county: County, world: World, clock: SteppingClock, plan: Plan) -> Month:
    """Every command and watcher round of the plan, in time order."""
    s, sup, done = county.services, world.supervisor, Month(county, world, plan, clock)
    ids, cadres, g, assignee = done.ids, world.cadres, s.grievances, dict[str, str]()
    agenda: list[tuple[datetime, str, Any, Any]] = []
    for key, (registered, links) in plan.households.items():
        agenda += [(registered, "register", key, None), *((m, "link", key, c) for m, c in links)]
    for v in plan.visits:
        agenda += [(v.logged, "log", v, None)] + ([(v.voided, "void", v, None)] if v.voided else [])
    agenda += [(life.reported, "report", life, None) for life in plan.life]
    for case in plan.cases:
        agenda += [(case.filed, "file", case, None), *((m, a, case, x) for m, a, x in case.steps)]
    agenda += [(moment, "watch", moment, None) for moment in plan.rounds]
    rounds = []
    for moment, action, it, arg in sorted(
        agenda, key=lambda item: item[0]
    ):  # stable: ties keep order
        clock.set(max(moment, clock.now()))
        key = ids.get(getattr(it, "key", ""), "")
        worker = cadres.get(assignee.get(key, ""), sup)
        if action == "register":
            ids[it] = s.households.register(
                sup, community_id="xingfu", grid_id="g1", head_name="王秀英", member_count=3,
                address={"building": "3", "unit": "1", "room": "502"},
                origin={"township": "乌蒙镇", "village": "五组"}, relocated_on=date(2025, 3, 1),
            )[0].id  # fmt: skip
        elif action == "link":
            s.households.assign_contact_cadre(sup, ids[it], cadre_id=cadres[arg].account_id)
        elif action == "log":
            ids[it.key] = s.visits.log(
                cadres[it.visitor], household_id=ids[it.household], visited_at=it.visited_at,
                channel=it.channel, purpose="mandatory" if it.answers else "routine",
                notes="走访", life_event_id=ids[it.answers] if it.answers else None,
            )[0].id  # fmt: skip
        elif action == "void":
            s.visits.void(cadres[it.visitor], key, reason="录入有误")
        elif action == "report":
            kind, occurred = it.kind, it.occurred_on
            recorded = s.households.report_life_event(
                sup, ids[it.household], kind=kind, occurred_on=occurred
            )
            ids[it.key] = recorded[0].life_event_id
        elif action == "file":
            ids[it.key] = g.file(
                sup, household_id=ids[it.household], category="facilities", urgency=it.urgency,
                channel="hotline", summary="楼道灯不亮", received_at=it.received,
            )[0].id  # fmt: skip
        elif action == "assign":
            g.assign(sup, key, assignee_id=cadres[arg].account_id)
            assignee[key] = arg
        elif action == "accept":
            g.accept(worker, key)
        elif action == "resolve":
            g.resolve(worker, key, resolution="已处理", outcome="resolved")
        elif action == "feedback":
            g.give_feedback(sup, key, rating=arg[0], solved=arg[1])
        elif action in ("extend", "urge", "withdraw"):
            words = {"extend": {"days": arg, "reason": "需协调"}, "urge": {"note": "请加快"}}
            getattr(g, action)(sup, key, **words.get(action, {"reason": "居民撤回"}))
        elif action == "watch":
            rounds.append(s.deadlines.run_once())
            if it in plan.level_checks:
                done.levels[it] = {
                    c.key: g.get(sup, ids[c.key]).level for c in plan.cases if c.key in ids
                }
    assert [r.failures for r in rounds if r.failures] == []
    # As the log recorded them: reopenings, and reports (a late report falls due when made).
    for case in plan.cases:
        done.reopened[case.key] = [
            e.recorded_at for e in history(done, case.key, "Grievance.FeedbackGiven")
            if e.data["reopened"]
        ]  # fmt: skip
    for life in plan.life:
        reported = history(done, life.household, "Household.LifeEventReported")
        life.reported = next(
            e.recorded_at for e in reported if e.data["life_event_id"] == ids[life.key]
        )
    return done


def history(month: Month, key: str, event_type: str) -> list[Any]:
    """The events of one type of a grievance or household of the script, oldest first."""
    s, supervisor = month.county.services, month.world.supervisor
    events = s.households.events if key in month.plan.households else s.grievances.events
    return [e for e in events(supervisor, month.ids[key]) if e.event_type == event_type]


def round_of(moment: datetime, rounds: list[datetime]) -> datetime:
    """The watcher round (by its planned moment) that recorded something at ``moment``."""
    return max(r for r in rounds if r <= moment)


# -- what the rules say should have happened ------------------------------------------


@dataclass
class Facts:
    """A case's plain story up to a moment: when it was open, accepted, due, judged."""

    respond_by: datetime
    resolve_by: list[tuple[datetime, datetime, datetime]]  # (due, in force from, until)
    spells: list[tuple[datetime, datetime]] = field(default_factory=list)  # open [from, to)
    accepted: datetime | None = None
    assignee: str | None = None
    withdrawn: datetime | None = None
    feedback: tuple[str, bool] | None = None
    standing: datetime | None = None  # the resolution that still stands


def facts_of(
    case: Case, policy: Policy, reopened: list[datetime], until: datetime = NEVER
) -> Facts:
    received, urgency = case.received, case.urgency
    due = received + within(policy, "resolve", urgency)
    facts = Facts(received + within(policy, "respond", urgency), [(due, case.filed, NEVER)])
    opened: datetime | None = received
    reopen = iter(reopened)
    for moment, action, arg in case.steps:
        if moment > until:
            break
        if action == "assign":
            facts.assignee = arg
        elif action == "accept":
            facts.accepted = facts.accepted or moment
        elif action in ("resolve", "withdraw"):
            assert opened is not None
            facts.spells.append((opened, moment))
            opened = None
            facts.standing = moment if action == "resolve" else None
            facts.withdrawn = moment if action == "withdraw" else None
        elif action == "feedback":
            facts.feedback = arg
            if arg[0] == "unsatisfied":
                opened, facts.standing = next(reopen), None
        elif action == "extend":
            due, since, _ = facts.resolve_by[-1]
            facts.resolve_by[-1] = (due, since, moment)
            facts.resolve_by.append((due + timedelta(days=arg), moment, NEVER))
    if opened is not None:
        facts.spells.append((opened, until))
    return facts


def first_open_after(facts: Facts, moment: datetime, before: datetime) -> datetime | None:
    """The first moment strictly after ``moment`` (and before ``before``) the case is open."""
    for opened, closed in facts.spells:
        since = max(opened, moment)
        if since < closed and since < before:
            return since
    return None


def missed(facts: Facts) -> list[tuple[str, datetime, datetime]]:
    """(deadline, due_at, overdue_since) of every deadline the case missed."""
    found = []
    answered = facts.accepted or NEVER
    if any(max(a, facts.respond_by) < min(b, answered) for a, b in facts.spells):
        found.append(("respond", facts.respond_by, facts.respond_by))
    for due, _, superseded in facts.resolve_by:
        since = first_open_after(facts, due, superseded)
        if since is not None:
            found.append(("resolve", due, since))
    return found


def escalations(
    case: Case, facts: Facts, policy: Policy, rounds: list[datetime]
) -> list[tuple[Any, ...]]:
    """(case, from, to, resolve_by, overdue_since, version, round) of each escalation made."""
    level, done_for, found = 0, None, []
    after = timedelta(days=policy["escalate_after_days"])
    for r in rounds:
        if r <= case.filed or not any(a <= r < b for a, b in facts.spells):
            continue
        due, _, superseded = next(d for d in facts.resolve_by if d[1] <= r < d[2])
        since = first_open_after(facts, due, superseded)
        if since is None or r <= since + after or level == 3 or done_for == due:
            continue
        version = policy["version"]
        found.append((case.key, LEVELS[level], LEVELS[level + 1], due, since, version, r))
        level, done_for = level + 1, due
    return found


def visit_due_moment(life: Life) -> datetime:
    return datetime.combine(life.occurred_on + timedelta(days=DUE_DAYS[life.kind] + 1), time(0), SH)


def falls_due(life: Life) -> datetime:
    return max(visit_due_moment(life), life.reported)


def made_in_time(life: Life, visits: list[Visit]) -> bool:
    begins, ends = datetime.combine(life.occurred_on, time(0), SH), visit_due_moment(life)
    judged = falls_due(life)
    return any(
        v.household == life.household and v.channel == "in_person" and v.answers == life.key
        and begins <= v.visited_at < ends and v.logged <= judged
        and (v.voided is None or v.voided > judged)
        for v in visits
    )  # fmt: skip


def contact_at(plan: Plan, household: str, moment: datetime) -> str | None:
    linked = [cadre for m, cadre in plan.households[household][1] if m <= moment]
    return linked[-1] if linked else None


def case_stars(own: list[Facts], judged: datetime) -> dict[str, tuple[Any, dict[str, Any]]]:
    parts: dict[str, list[float]] = {measure: [0, 0] for measure in RATES}

    def count(measure: str, met: float) -> None:
        parts[measure][0] += met
        parts[measure][1] += 1

    for f in own:
        end = f.withdrawn or judged
        if f.accepted is not None or f.respond_by <= end:
            count("response_rate", f.accepted is not None and f.accepted <= f.respond_by)
        if f.feedback is not None:
            count("resolution_rate", f.feedback[1])
            scores = {"satisfied": 1.0, "basically_satisfied": 0.5}
            count("satisfaction_rate", scores.get(f.feedback[0], 0))
        resolve_by = next(due for due, since, until in f.resolve_by if since <= judged < until)
        if f.standing is not None or resolve_by <= end:
            count("on_time_rate", f.standing is not None and f.standing <= resolve_by)
    found = {}
    for star, (_, measure, _, _) in STARS.items():
        if measure in parts:
            met, whole = parts[measure]
            value = round(met / whole, 4) if whole else None
            found[star] = (value, {"cases": len(own), "counted": whole, "met": met, measure: value})
    return found


def expected_stars(
    plan: Plan, policies: list[Policy], reopened: dict[str, list[datetime]], judged: datetime,
    quota: int = 20, response: float = 0.95,
) -> dict[str, dict[str, tuple[Any, ...]]]:  # fmt: skip
    """cadre -> star -> (earned, value, figures) for November, judged at ``judged``."""
    counting = [
        v for v in plan.visits if v.logged <= judged and not (v.voided and v.voided <= judged)
    ]
    weeks = [m for m in MONDAYS if datetime.combine(m + timedelta(days=7), time(0), SH) <= judged]
    cases = [c for c in plan.cases if MONTH_STARTS <= c.received < MONTH_ENDS and c.filed <= judged]
    result = {}
    for cadre in ("A", "B", "C"):
        linked = [h for h in plan.households if contact_at(plan, h, judged) == cadre]
        due = 0
        for household in linked:
            seen = [v.visited_at for v in counting if v.household == household]
            due += judged - max(seen, default=plan.households[household][0]) > timedelta(days=90)
        weekly_visits = {
            m: [
                v
                for v in counting
                if v.visitor == cadre and 0 <= (v.visited_at.date() - m).days < 7
            ]
            for m in weeks
        }
        visits = {m: len(weekly_visits[m]) for m in weeks}
        # The quota: distinct households visited in person (the shipped criteria name no channel).
        homes = {
            m: len({v.household for v in weekly_visits[m] if v.channel == "in_person"})
            for m in weeks
        }
        fell = [
            life for life in plan.life
            if contact_at(plan, life.household, judged) == cadre and MONTH_STARTS < falls_due(life) <= judged
        ]  # fmt: skip
        late = sorted(life.key for life in fell if not made_in_time(life, plan.visits))
        own = [
            facts_of(c, governing(c.received, policies), reopened.get(c.key, []), judged)
            for c in cases
        ]
        weekly = [
            {
                "week": f"2026-W{m.isocalendar()[1]:02d}",
                "visits": visits[m],
                "households_visited": homes[m],
            }
            for m in weeks
        ]
        result[cadre] = {
            "visit": (
                due if linked else None,
                {"households_linked": len(linked), "households_due": due, "cadence_days": 90},
            ),
            "quota": (
                sum(1 for m in weeks if homes[m] < quota) if weeks else None,
                {"weekly_quota": quota, "weeks": weekly},
            ),
            "mandatory": (
                len(late),
                {"fell_due": len(fell), "overdue": len(late), "overdue_life_event_ids": late},
            ),
            **case_stars([f for f in own if f.assignee == cadre], judged),
        }
        result[cadre] = judge_stars(result[cadre], response)
    return result


def star_table(report: dict[str, Any], month: Month) -> dict[str, dict[str, tuple[bool, Any, Any]]]:
    """cadre key -> star -> (earned, value, figures), read off the service's report."""
    cadres = {actor.account_id: key for key, actor in month.world.cadres.items()}
    names = {value: key for key, value in month.ids.items()}
    table = {}
    for item in report["items"]:
        stars = {}
        for star in item["stars"] + item["not_earned"]:
            figures = dict(star["figures"])
            if "overdue_life_event_ids" in figures:
                figures["overdue_life_event_ids"] = sorted(
                    names[i] for i in figures["overdue_life_event_ids"]
                )
            stars[star["star"]] = (star["earned"], star["value"], figures)
        assert item["stars_earned"] == len(item["stars"])
        table[cadres[item["cadre_id"]]] = stars
    return table


def assert_every_star_explained(report: dict[str, Any], version: str) -> None:
    assert report["criteria_version"] == version
    for item in report["items"]:
        assert all(star["earned"] for star in item["stars"])
        assert not any(star["earned"] for star in item["not_earned"])
        assert {star["star"] for star in item["stars"] + item["not_earned"]} == set(STARS)
        for star in item["stars"] + item["not_earned"]:
            assert star["criterion"] and star["criterion_version"] == version, star
            assert isinstance(star["figures"], dict) and star["figures"], star


# -- the simulated month ----------------------------------------------------------------


@pytest.fixture
def clock() -> SteppingClock:
    """The county opens in July, before anything in the script happened."""
    return SteppingClock(start=t("07-01T09:00"))


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def month(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Month]:
    """The month runs once per store, opened as the ``county`` fixture would; its tests only read."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    folder, schema = tmp_path_factory.mktemp(request.param), f"t_{uuid.uuid4().hex[:12]}"
    write_new_key(folder / "signing.key")
    with pytest.MonkeyPatch.context() as env:  # as clean_environment does for each test
        for name in [n for n in os.environ if n.startswith(ENV_PREFIXES) or n in ENV_NAMES]:
            env.delenv(name)
        settings = Settings(
            data_dir=folder / "var", database_url=url, county=schema,
            master_key=new_master_key_text(), signing_key_file=folder / "signing.key",
            blind_index_key=new_master_key_text(),
        )  # fmt: skip
        clock = SteppingClock(start=t("07-01T09:00"))
        county = open_county(settings, clock)
    try:
        yield perform(county, found_world(county), clock, november())
    finally:
        county.close()
        if url:
            drop_schema(url, schema)


def records(month: Month, keys: list[str], event_type: str, *fields: str) -> list[tuple[Any, ...]]:
    """(key, *fields, round) of each such event the watcher recorded, as the history shows it."""
    names = {value: key for key, value in month.ids.items()}
    found = []
    for key in keys:
        for event in history(month, key, event_type):
            assert event.actor == SYSTEM.account_id
            data = event.data
            values = [
                names[data[f]] if f == "life_event_id" else when(data[f]) if f in TIMES else data[f]
                for f in fields
            ]
            found.append((key, *values, round_of(event.recorded_at, month.plan.rounds)))
    assert len(found) == len(set(found)), "recorded more than once"
    return sorted(found)


def test_each_missed_grievance_deadline_is_recorded_once_at_the_first_round_after_it_passed(
    month: Month,
) -> None:
    plan, expected = month.plan, []
    for case in plan.cases:
        view = month.county.services.grievances.get(month.world.supervisor, month.ids[case.key])
        facts = facts_of(case, SHIPPED, month.reopened[case.key])
        assert (view.policy_version, view.received_at, view.respond_by, view.resolve_by) == (
            "2026.1", case.received, facts.respond_by, facts.resolve_by[-1][0]
        ), case.key  # fmt: skip
        for deadline, due_at, since in missed(facts):
            first = next((r for r in plan.rounds if r > max(since, case.filed)), None)
            if first is not None:
                expected.append((case.key, deadline, due_at, since, first))
    keys = [case.key for case in plan.cases]
    fields = ("deadline", "due_at", "overdue_since")
    assert records(month, keys, "Grievance.DeadlinePassed", *fields) == sorted(expected)
    assert {e[0] for e in expected} == {f"G{n}" for n in (0, 2, 3, 5, 6, 7, 8, 12, 13, 14)}
    exact = month.county.services.grievances.get(month.world.supervisor, month.ids["G15"])
    assert (exact.accepted_at, exact.resolved_at) == (exact.respond_by, exact.resolve_by)


def test_a_case_open_too_long_past_its_resolve_deadline_goes_up_one_level_once_per_deadline(
    month: Month,
) -> None:
    plan, expected = month.plan, []
    for case in plan.cases:
        facts = facts_of(case, SHIPPED, month.reopened[case.key])
        expected += escalations(case, facts, SHIPPED, plan.rounds)
    fields = ("from_level", "to_level", "resolve_by", "overdue_since", "policy_version")
    found = records(month, [c.key for c in plan.cases], "Grievance.AutoEscalated", *fields)
    assert found == sorted(expected)
    assert [e[:3] for e in found] == [
        ("G12", "grid", "community"),
        ("G13", "grid", "community"),
        ("G8", "community", "township"),
        ("G8", "grid", "community"),
    ]
    levels = month.levels[plan.rounds[-1]]
    for case in plan.cases:
        climbs = [e[2] for e in expected if e[0] == case.key]
        assert levels[case.key] == (climbs[-1] if climbs else "grid"), case.key
    for key in ("G8", "G12"):  # back in the queue, unassigned
        view = month.county.services.grievances.get(month.world.supervisor, month.ids[key])
        assert (view.status, view.assignee_id) == ("filed", None)


def test_each_mandatory_visit_not_made_in_time_is_recorded_once_when_it_falls_due(
    month: Month,
) -> None:
    plan, expected = month.plan, []
    for life in plan.life:
        first = next((r for r in plan.rounds if r >= falls_due(life) + SETTLE), None)
        if not made_in_time(life, plan.visits) and first is not None:
            expected.append((life.key, falls_due(life), first))
    households = list(plan.households)
    found = records(month, households, "Household.MandatoryVisitOverdue", "life_event_id", "due_at")
    assert sorted(row[1:] for row in found) == sorted(expected)
    assert sorted(e[0] for e in expected) == sorted(
        ["L27", "Lafter", "Ldec", "Llate", "Lphone", "Lrep", "Lrep2", "Lvoid"]
    )


def test_the_stars_for_november_follow_the_criteria_for_each_cadre_and_explain_themselves(
    month: Month,
) -> None:
    month.clock.set(t("12-03T10:00"))
    reports, supervisor = month.county.services.reports, month.world.supervisor
    report = reports.stars(supervisor, month="2026-11", community_id="xingfu")
    assert (report["month"], report["final"]) == ("2026-11", True)
    assert when(report["judged_at"]) == MONTH_ENDS
    assert_every_star_explained(report, "2026.1")
    got = star_table(report, month)
    wanted = expected_stars(month.plan, [SHIPPED], month.reopened, MONTH_ENDS)
    assert set(got) == set(wanted) == {"A", "B", "C"}
    for cadre in wanted:
        assert got[cadre] == wanted[cadre], cadre
    assert {cadre: {star for star, won in stars.items() if won[0]} for cadre, stars in got.items()} == {
        "A": {"visit", "quota", "mandatory", "response", "on_time"},
        "B": {"resolution", "satisfaction"},
        "C": {"mandatory", "response"},
    }  # fmt: skip


# -- a policy change in the middle of the month ----------------------------------------------

DRILL_CASES = """
R0  h0 emergency 11-03T09:00 11-03T09:01 assign:A@11-03T09:07 accept@11-03T09:30 resolve@11-03T15:00
R1  h0 emergency 11-03T09:10 11-03T09:11 assign:A@11-03T09:17 accept@11-03T09:40 resolve@11-03T15:00
R2  h0 emergency 11-03T09:20 11-03T09:21 assign:A@11-03T09:27 accept@11-03T09:50 resolve@11-03T15:00
R3  h0 emergency 11-03T09:30 11-03T09:31 assign:A@11-03T09:37 accept@11-03T10:00 resolve@11-03T15:00
R4  h0 emergency 11-03T09:40 11-03T09:41 assign:A@11-03T09:47 accept@11-03T11:45 resolve@11-03T15:00
before      h1 normal    11-15T23:00 11-15T23:05
at-change   h1 emergency 11-16T00:00 11-16T00:10
after       h2 normal    11-16T01:00 11-16T01:05
filed-after h2 normal    11-15T20:00 11-17T10:00
old-rules   h0 emergency 11-15T12:00 11-15T12:05
"""
# R0-R4: answered in time but R4 (2 h 5 min): a response rate of 0.8. at-change and old-rules
# both fall due at 11-16 12:00, under 2026.2 and 2026.1. filed-after: received before, filed after.
DRILL_ROUNDS = "11-16T12:30 11-18T11:30 11-18T13:00 11-19T11:30 11-19T12:30"


@pytest.fixture
def drill(county_settings: Settings, clock: SteppingClock, tmp_path: Path) -> Iterator[Month]:
    policies, criteria = tmp_path / "policies.json", tmp_path / "stars.json"
    policies.write_text(json.dumps({"policies": [SHIPPED, MID_MONTH]}), "utf-8")
    versions = [criteria_json("2026.1", "2026-01-01T00:00:00+08:00", 20, 0.95)]
    versions.append(criteria_json("2026.2", "2026-11-16T00:00:00+08:00", 15, 0.8))
    criteria.write_text(json.dumps({"versions": versions}), "utf-8")
    files = {"deadline_policy_file": policies, "star_criteria_file": criteria}
    county = open_county(county_settings.model_copy(update=files), clock)
    households = "\n".join(f"h{i} 11-01T08:00 A@11-01T08:30" for i in range(3))
    calls = [quota_visits("A", MONDAYS[0], 16), quota_visits("A", MONDAYS[1], 16)]
    rounds = [t(moment) for moment in DRILL_ROUNDS.split()]
    plan = plan_of(households + "\n" + POOL, "\n".join(calls), "", DRILL_CASES, rounds)
    plan.level_checks = set(plan.rounds)
    yield perform(county, found_world(county), clock, plan)
    county.close()


def test_a_case_keeps_the_deadline_policy_in_effect_when_it_was_received_even_if_filed_later(
    drill: Month,
) -> None:
    versions = {}
    for case in drill.plan.cases:
        view = drill.county.services.grievances.get(drill.world.supervisor, drill.ids[case.key])
        rules = governing(case.received, [SHIPPED, MID_MONTH])
        assert view.filed_at > case.filed
        assert (view.policy_version, view.respond_by, view.resolve_by) == (
            rules["version"],
            case.received + within(rules, "respond", case.urgency),
            case.received + within(rules, "resolve", case.urgency),
        ), case.key
        versions[case.key] = view.policy_version
    assert versions["before"] == versions["filed-after"] == versions["old-rules"] == "2026.1"
    assert versions["at-change"] == versions["after"] == "2026.2"


def test_auto_escalation_waits_as_long_as_the_cases_own_policy_version_says(drill: Month) -> None:
    plan, expected = drill.plan, []
    for case in plan.cases:
        rules = governing(case.received, [SHIPPED, MID_MONTH])
        facts = facts_of(case, rules, [])
        expected += escalations(case, facts, rules, plan.rounds)
    fields = ("from_level", "to_level", "resolve_by", "overdue_since", "policy_version")
    found = records(drill, [c.key for c in plan.cases], "Grievance.AutoEscalated", *fields)
    assert found == sorted(expected)
    # Both fell due at 11-16 12:00; two days on, only the case under 2026.2 has gone up.
    assert [(e[0], e[3], e[5], e[6]) for e in found] == [
        ("at-change", t("11-16T12:00"), "2026.2", t("11-18T13:00")),
        ("old-rules", t("11-16T12:00"), "2026.1", t("11-19T12:30")),
    ]
    levels = {
        m.strftime("%d %H:%M"): (r["at-change"], r["old-rules"]) for m, r in drill.levels.items()
    }
    assert levels == {
        "16 12:30": ("grid", "grid"),
        "18 11:30": ("grid", "grid"),
        "18 13:00": ("community", "grid"),
        "19 11:30": ("community", "grid"),
        "19 12:30": ("community", "community"),
    }


def test_stars_and_rules_as_of_a_moment_show_the_criteria_in_effect_then(
    drill: Month, clock: SteppingClock
) -> None:
    reports, supervisor, earned_then = drill.county.services.reports, drill.world.supervisor, {}
    clock.set(t("11-20T13:00"))
    for moment, version, quota, response, policy in (
        (t("11-15T12:00"), "2026.1", 20, 0.95, SHIPPED),
        (t("11-20T12:00"), "2026.2", 15, 0.8, MID_MONTH),
    ):
        report = reports.as_of(moment).stars(supervisor, month="2026-11", community_id="xingfu")
        assert (report["final"], when(report["judged_at"])) == (False, moment)
        assert_every_star_explained(report, version)
        got = star_table(report, drill)["A"]
        rules = [SHIPPED, MID_MONTH]
        assert got == expected_stars(drill.plan, rules, {}, moment, quota, response)["A"], moment
        earned_then[version] = {star for star, won in got.items() if won[0]}
        mine = next(
            i for i in report["items"] if i["cadre_id"] == drill.world.cadres["A"].account_id
        )
        bounds = {s["star"]: s["at_least"] for s in mine["stars"] + mine["not_earned"]}
        assert bounds["response"] == response
        rules_then = reports.rules(moment)
        assert rules_then["deadline_policy"] == policy
        criteria = rules_then["star_criteria"]
        assert (criteria["version"], criteria["weekly_quota"]) == (version, quota)
        known = ["2026.1", "2026.2"][: 1 if version == "2026.1" else 2]
        assert [p["version"] for p in rules_then["deadline_policy_versions"]] == known
        assert [c["version"] for c in rules_then["star_criteria_versions"]] == known
    # Under the old criteria A misses the quota and response stars; under the new, earns both.
    assert {"quota", "response"} & earned_then["2026.1"] == set()
    assert {"quota", "response"} <= earned_then["2026.2"]
    clock.set(t("12-03T10:00"))
    final = reports.stars(supervisor, month="2026-11", community_id="xingfu")
    assert_every_star_explained(final, "2026.2")
