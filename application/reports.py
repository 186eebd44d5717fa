"""Workload, coverage, resolution rates, late entries and the ledger, from the read models.

The exact definitions are in the README ("Reports: exact definitions"). Every
figure is a function of the read models (themselves a fold of the log) and of
"now", so the same code answers for the live models and for a model rebuilt
as of a past moment.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from application.access import Access
from application.actors import Actor
from application.casework_model import CaseworkModel
from application.errors import Forbidden
from application.ledger import Ledger, ledger_of
from application.mandatory_visits import answering_visits, falls_due_at, made, made_in_time
from application.organisation_model import OrganisationModel
from application.policies import criteria_text, load_star_book, policy_text
from application.ports import Clock
from application.read_model import (
    AnyOf,
    Condition,
    ReadStore,
    Row,
    Where,
    eq,
    from_micros,
    micros,
)
from domain.deadlines import PolicyBook
from domain.errors import InvalidCommand
from domain.stars import StarBook, StarCriteria, StarCriterion
from domain.visit import counts_toward
from domain.vocabulary import OPEN_STATUSES, FeedbackVia, one_of

DAY_US = 86_400_000_000
OPEN = tuple(status.value for status in OPEN_STATUSES)
GROUPS: dict[str, Callable[[Row], str]] = {
    "category": lambda row: str(row["category"]),
    "grid": lambda row: f"{row['community_id']}/{row['grid_id']}",
    "community": lambda row: str(row["community_id"]),
}


@dataclass(frozen=True)
class Scope:
    communities: list[str]
    grid_id: str | None

    def where(self, grid_column: str | None = "grid_id") -> list[Condition]:
        conditions = [Condition("community_id", "in", self.communities)]
        if self.grid_id and grid_column:
            conditions.append(eq(grid_column, self.grid_id))
        return conditions


class Reports:
    def __init__(
        self,
        store: ReadStore,
        casework: CaseworkModel,
        organisation: OrganisationModel,
        access: Access,
        clock: Clock,
        timezone: str,
        rebuild_at: Callable[[datetime], ReadStore] | None = None,
        star_book: StarBook | None = None,
        policies: PolicyBook | None = None,
        reveal: Callable[[str, str | None], str | None] | None = None,
    ) -> None:
        self.store = store
        # Summaries are sealed per household: the clear text, or None once erased.
        self.reveal = reveal or (lambda _household_id, text: text)
        self.rebuild_at = rebuild_at
        # The visiting rules (cadence, weekly quota) are versioned with the star criteria.
        self.star_book = star_book if star_book is not None else load_star_book()
        self.policies = policies
        self.casework = casework
        self.organisation = organisation
        self.access = access
        self.clock = clock
        self.zone = ZoneInfo(timezone)

    def as_of(self, moment: datetime) -> Reports:
        """The same reports over read models rebuilt from what the log held at ``moment``."""
        if moment > self.clock.now():
            raise InvalidCommand("as_of cannot be in the future", field="as_of")
        if self.rebuild_at is None:
            raise InvalidCommand("as_of is not available here", field="as_of")
        return Reports(
            self.rebuild_at(moment),
            self.casework,
            self.organisation,
            self.access,
            StoppedClock(moment),
            self.zone.key,
            self.rebuild_at,
            self.star_book,
            self.policies,
            self.reveal,
        )

    # -- scope and time -----------------------------------------------------------

    def scope(self, actor: Actor, community_id: str | None, grid_id: str | None) -> Scope:
        self.access.check_reads_history(actor)
        if actor.grid_id:
            if grid_id not in (None, actor.grid_id):
                raise Forbidden("outside your jurisdiction")
            grid_id = actor.grid_id
        if community_id is not None:
            if not self.access.covers(actor, community_id, grid_id):
                raise Forbidden("outside your jurisdiction")
            return Scope([community_id], grid_id)
        codes = [row["code"] for row in self.store.select(self.organisation, "communities")]
        return Scope(sorted(c for c in codes if self.access.covers(actor, c, grid_id)), grid_id)

    def local(self, value: int | None) -> str | None:
        """A stored moment in the county's time; in UTC at the calendar's very edges,
        and ``None`` for one beyond it (an older version may have recorded any time)."""
        if value is None:
            return None
        try:
            moment = from_micros(value)
        except OverflowError:
            return None
        try:
            return moment.astimezone(self.zone).isoformat()
        except OverflowError:
            return moment.isoformat()

    def unfolded(self) -> int:
        """How many events the read models behind the reports could not fold."""
        return sum(
            len(self.store.quarantined(model)) for model in (self.casework, self.organisation)
        )

    def midnight(self, day: date) -> int:
        return micros(datetime.combine(day, time(0), self.zone))

    def received_between(self, date_from: date | None, date_to: date | None, column: str) -> Where:
        conditions: list[Condition] = []
        if date_from is not None:
            conditions.append(Condition(column, ">=", self.midnight(date_from)))
        if date_to is not None and date_to < date.max:
            conditions.append(Condition(column, "<", self.midnight(date_to + timedelta(days=1))))
        return conditions

    # -- shared figures -----------------------------------------------------------

    def households(self, scope: Scope) -> dict[str, Row]:
        rows = self.store.select(self.casework, "households", scope.where())
        return {row["id"]: row for row in rows}

    def criteria(self, moment: datetime) -> StarCriteria:
        """The star criteria, and with them the visiting rules, in effect at ``moment``."""
        return self.star_book.in_effect_at(moment)

    def last_visits(self, scope: Scope, criteria: StarCriteria) -> dict[str, int]:
        """Each household's last visit that counts toward the cadence: the selection form
        of ``domain.visit.counts_toward`` with the cadence's channels."""
        where: list[Condition] = [
            *scope.where(None),
            eq("voided", 0),
            Condition("channel", "in", sorted(criteria.cadence_channels)),
        ]
        return self.store.latest(self.casework, "visits", "household_id", "visited_at", where)

    @staticmethod
    def due(household: Row, last: dict[str, int], now: int, criteria: StarCriteria) -> bool:
        return now - since(household, last) > criteria.cadence // timedelta(microseconds=1)

    def unsatisfied_mandatory(
        self, scope: Scope, households: dict[str, Row], today: date
    ) -> list[tuple[Row, bool]]:
        """Every mandatory visit in scope no standing visit discharges, with whether it is
        overdue (``application.mandatory_visits``)."""
        events = [
            event
            for event in self.store.select(
                self.casework, "life_events", scope.where(None), order_by=("visit_due_by", "id")
            )
            if event["household_id"] in households
        ]
        visits = answering_visits(self.store, self.casework, (event["id"] for event in events))
        return [
            (event, today > date.fromisoformat(event["visit_due_by"]))
            for event in events
            if not made(event, visits.get(event["id"], []), self.zone)
        ]

    # -- workload -----------------------------------------------------------------

    def workload(
        self,
        actor: Actor,
        *,
        week: str | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        scope = self.scope(actor, community_id, grid_id)
        now_at = self.clock.now()
        now = micros(now_at)
        week = week or iso_week(now_at.astimezone(self.zone).date())
        monday = week_start(week)
        # A week is judged by the rules in effect at its end, or now while it runs.
        ends = datetime.combine(monday + timedelta(days=7), time(0), self.zone)
        criteria = self.criteria(min(now_at, ends))
        current = self.criteria(now_at)
        households = self.households(scope)
        last = self.last_visits(scope, current)
        visits = self.store.select(
            self.casework,
            "visits",
            [
                *scope.where(None),
                eq("voided", 0),
                Condition("visited_at", ">=", self.midnight(monday)),
                Condition("visited_at", "<", self.midnight(monday + timedelta(days=7))),
            ],
        )
        visits = [v for v in visits if v["household_id"] in households]
        visit_counts = Counter(v["visitor_id"] for v in visits)
        visited = households_visited(visits, criteria)
        linked = linked_households(households)
        mandatory: dict[str, Counter[bool]] = defaultdict(Counter)
        today = now_at.astimezone(self.zone).date()
        for event, overdue in self.unsatisfied_mandatory(scope, households, today):
            cadre = households[event["household_id"]]["contact_cadre_id"]
            mandatory[cadre][overdue] += 1
        cases = self.store.select(
            self.casework, "grievances", [*scope.where(), Condition("status", "in", OPEN)]
        )
        open_cases = Counter(c["assignee_id"] for c in cases)
        overdue_cases = Counter(c["assignee_id"] for c in cases if c["resolve_by"] < now)
        items = []
        for cadre in self.cadres(scope):
            mine = linked.get(cadre["id"], [])
            items.append(
                {
                    "cadre_id": cadre["id"],
                    "username": cadre["username"],
                    "display_name": cadre["display_name"],
                    "community_id": cadre["community_id"],
                    "grid_id": cadre["grid_id"],
                    "visits": visit_counts[cadre["id"]],
                    "households_visited": visited[cadre["id"]],
                    "weekly_quota": criteria.weekly_quota,
                    "quota_met": visited[cadre["id"]] >= criteria.weekly_quota,
                    "households_linked": len(mine),
                    "households_due": sum(1 for h in mine if self.due(h, last, now, current)),
                    "mandatory_pending": mandatory[cadre["id"]][False],
                    "mandatory_overdue": mandatory[cadre["id"]][True],
                    "grievances_open": open_cases[cadre["id"]],
                    "grievances_overdue": overdue_cases[cadre["id"]],
                }
            )
        return {"week": week, "items": items, "unfolded_events": self.unfolded()}

    def cadres(self, scope: Scope) -> list[Row]:
        where: list[Condition | AnyOf] = [
            eq("role", "cadre"),
            Condition("community_id", "in", scope.communities),
        ]
        if scope.grid_id:
            where.append(AnyOf(((eq("grid_id", scope.grid_id),), (eq("grid_id", None),))))
        return self.store.select(
            self.organisation, "accounts", where, order_by=("community_id", "username")
        )

    # -- coverage -----------------------------------------------------------------

    def coverage(
        self, actor: Actor, *, community_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        scope = self.scope(actor, community_id, grid_id)
        now_at = self.clock.now()
        now = micros(now_at)
        households = self.households(scope)
        criteria = self.criteria(now_at)
        last = self.last_visits(scope, criteria)
        cadence = criteria.cadence // timedelta(microseconds=1)
        within = sum(1 for h in households if h in last and now - last[h] <= cadence)
        overdue = []
        for household in households.values():
            if self.due(household, last, now, criteria):
                overdue.append(
                    {
                        "household_id": household["id"],
                        "community_id": household["community_id"],
                        "grid_id": household["grid_id"],
                        "contact_cadre_id": household["contact_cadre_id"],
                        "last_visited_at": self.local(last.get(household["id"])),
                        "days_since": (now - since(household, last)) // DAY_US,
                    }
                )
        overdue.sort(key=lambda item: (-item["days_since"], item["household_id"]))
        today = now_at.astimezone(self.zone).date()
        pending = [
            {
                "household_id": event["household_id"],
                "life_event_id": event["id"],
                "kind": event["kind"],
                "occurred_on": event["occurred_on"],
                "visit_due_by": event["visit_due_by"],
                "overdue": is_overdue,
            }
            for event, is_overdue in self.unsatisfied_mandatory(scope, households, today)
        ]
        return {
            "households_total": len(households),
            "visited_within_cadence": within,
            "households_due": len(overdue),
            "overdue_households": overdue,
            "pending_mandatory": pending,
            "unfolded_events": self.unfolded(),
        }

    # -- resolution ---------------------------------------------------------------

    def resolution(
        self,
        actor: Actor,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        group_by: str = "category",
        community_id: str | None = None,
        grid_id: str | None = None,
        feedback_via: str | None = None,
    ) -> dict[str, Any]:
        """With ``feedback_via``, the rates read from feedback (resolution and satisfaction)
        count only cases whose latest feedback came that way (callback or resident_link)."""
        if feedback_via is not None:
            one_of(FeedbackVia, feedback_via, "feedback_via")
        if group_by not in GROUPS:
            raise InvalidCommand(
                "group_by must be one of category, grid, community", field="group_by"
            )
        scope = self.scope(actor, community_id, grid_id)
        now = micros(self.clock.now())
        cases = self.store.select(
            self.casework,
            "grievances",
            [*scope.where(), *self.received_between(date_from, date_to, "received_at")],
        )
        groups: dict[str, list[Row]] = defaultdict(list)
        for case in cases:
            groups[GROUPS[group_by](case)].append(case)
        items = [{"group": key, **rates(groups[key], now, feedback_via)} for key in sorted(groups)]
        return {"group_by": group_by, "items": items, "unfolded_events": self.unfolded()}

    # -- late entries and the ledger ----------------------------------------------

    def late_entries(
        self,
        actor: Actor,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        scope = self.scope(actor, community_id, grid_id)
        households = self.households(scope)
        visits = self.store.select(
            self.casework,
            "visits",
            [
                *scope.where(None),
                eq("late_logged", 1),
                *self.received_between(date_from, date_to, "recorded_at"),
            ],
            order_by=("recorded_at", "id"),
        )
        items = [
            {
                "visit_id": visit["id"],
                "household_id": visit["household_id"],
                "visitor_id": visit["visitor_id"],
                "visited_at": self.local(visit["visited_at"]),
                "recorded_at": self.local(visit["recorded_at"]),
                "gap_hours": round((visit["recorded_at"] - visit["visited_at"]) / 3_600_000_000, 1),
                "voided": bool(visit["voided"]),
            }
            for visit in visits
            if visit["household_id"] in households
        ]
        return {"items": items, "unfolded_events": self.unfolded()}

    def ledger(
        self,
        actor: Actor,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> Ledger:
        scope = self.scope(actor, community_id, grid_id)
        cases = self.store.select(
            self.casework,
            "grievances",
            [*scope.where(), *self.received_between(date_from, date_to, "received_at")],
            order_by=("received_at", "id"),
        )
        accounts = {row["id"]: row for row in self.store.select(self.organisation, "accounts")}
        cases = [{**c, "summary": self.reveal(c["household_id"], c["summary"])} for c in cases]
        return ledger_of(cases, accounts, self.local, self.unfolded())

    # -- stars --------------------------------------------------------------------

    def stars(
        self,
        actor: Actor,
        *,
        month: str | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        """Each cadre's stars for a month, judged at its end, or now while it runs (README)."""
        scope = self.scope(actor, community_id, grid_id)
        now = self.clock.now()
        month = month or now.astimezone(self.zone).strftime("%Y-%m")
        first, after = month_bounds(month)
        begins = datetime.combine(first, time(0), self.zone)
        ends = datetime.combine(after, time(0), self.zone)
        if now < begins:
            raise InvalidCommand("the month has not begun", field="month")
        if now <= ends:
            return StarBoard(self, scope, month, begins, now).as_dict(final=now == ends)
        return StarBoard(self.as_of(ends), scope, month, begins, ends).as_dict(final=True)

    # -- policies -------------------------------------------------------------------

    def rules(self, as_of: datetime | None = None) -> dict[str, Any]:
        """The deadline policy and star criteria in effect now or at ``as_of``; versions known then."""
        if self.policies is None:
            raise InvalidCommand("no policies are loaded here", field="as_of")
        now = self.clock.now()
        if as_of is not None:
            if as_of > now:
                raise InvalidCommand("as_of cannot be in the future", field="as_of")
            now = as_of
        return {
            "at": now.isoformat(),
            "deadline_policy": policy_text(self.policies.in_effect_at(now)),
            "star_criteria": criteria_text(self.star_book.in_effect_at(now)),
            "deadline_policy_versions": [
                policy_text(p) for p in self.policies.versions if p.effective_from <= now
            ],
            "star_criteria_versions": [
                criteria_text(c) for c in self.star_book.versions if c.effective_from <= now
            ],
        }


class StarBoard:
    """The figures behind one month's stars, from read models as they stood at ``at``."""

    def __init__(
        self, reports: Reports, scope: Scope, month: str, begins: datetime, at: datetime
    ) -> None:
        self.reports = reports
        self.scope = scope
        self.month = month
        self.begins = micros(begins)
        self.first = begins.date()
        self.at_time = at
        self.at = micros(at)
        self.criteria = reports.star_book.in_effect_at(at)
        self.households = reports.households(scope)
        self.cadres = reports.cadres(scope)

    def as_dict(self, final: bool) -> dict[str, Any]:
        figures = {
            "households_due": self.cadence(),
            "weeks_below_quota": self.quota(),
            "mandatory_overdue": self.mandatory(),
            **self.case_figures(),
        }
        items = []
        for cadre in self.cadres:
            judged = [
                self.judge(star, figures[star.measure], cadre["id"]) for star in self.criteria.stars
            ]
            earned = [star for star in judged if star["earned"]]
            items.append(
                {
                    "cadre_id": cadre["id"],
                    "username": cadre["username"],
                    "display_name": cadre["display_name"],
                    "community_id": cadre["community_id"],
                    "grid_id": cadre["grid_id"],
                    "stars_earned": len(earned),
                    "stars": earned,
                    "not_earned": [star for star in judged if not star["earned"]],
                }
            )
        return {
            "month": self.month,
            "judged_at": self.reports.local(self.at),
            "final": final,
            "criteria_version": self.criteria.version,
            "items": items,
            "unfolded_events": self.reports.unfolded(),
        }

    def judge(
        self,
        star: StarCriterion,
        figures: dict[str, tuple[float | None, dict[str, Any]]],
        cadre: str,
    ) -> dict[str, Any]:
        value, behind = figures[cadre]
        return {
            "star": star.star,
            "name": star.name,
            "earned": star.earned(value),
            "criterion": star.text,
            "criterion_version": self.criteria.version,
            "measure": star.measure,
            "at_least": star.at_least,
            "at_most": star.at_most,
            "value": value,
            "figures": behind,
        }

    # -- figures per measure: cadre -> (value, what it was judged on) ---------------

    def cadence(self) -> dict[str, tuple[float | None, dict[str, Any]]]:
        last = self.reports.last_visits(self.scope, self.criteria)
        linked = linked_households(self.households)
        result: dict[str, tuple[float | None, dict[str, Any]]] = {}
        for cadre in self.cadres:
            households = linked.get(cadre["id"], [])
            due = sum(1 for h in households if self.reports.due(h, last, self.at, self.criteria))
            behind = {
                "households_linked": len(households),
                "households_due": due,
                "cadence_days": self.criteria.cadence_days,
            }
            result[cadre["id"]] = (due if households else None, behind)
        return result

    def quota(self) -> dict[str, tuple[float | None, dict[str, Any]]]:
        quota = self.criteria.weekly_quota
        weeks = [
            monday
            for monday in month_mondays(self.first)
            if self.reports.midnight(monday + timedelta(days=7)) <= self.at
        ]
        counts: dict[str, Counter[date]] = defaultdict(Counter)
        visited: dict[str, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
        if weeks:
            visits = self.reports.store.select(
                self.reports.casework,
                "visits",
                [
                    *self.scope.where(None),
                    eq("voided", 0),
                    Condition("visited_at", ">=", self.reports.midnight(weeks[0])),
                    Condition(
                        "visited_at", "<", self.reports.midnight(weeks[-1] + timedelta(days=7))
                    ),
                ],
            )
            for visit in visits:
                if visit["household_id"] in self.households:
                    day = from_micros(visit["visited_at"]).astimezone(self.reports.zone).date()
                    monday = day - timedelta(days=day.weekday())
                    counts[visit["visitor_id"]][monday] += 1
                    if counts_toward(visit["channel"], False, self.criteria.quota_channels):
                        visited[visit["visitor_id"]][monday].add(visit["household_id"])
        result: dict[str, tuple[float | None, dict[str, Any]]] = {}
        for cadre in self.cadres:
            mine, seen = counts[cadre["id"]], visited[cadre["id"]]
            below = sum(1 for monday in weeks if len(seen[monday]) < quota)
            rows = [
                {
                    "week": iso_week(monday),
                    "visits": mine[monday],
                    "households_visited": len(seen[monday]),
                }
                for monday in weeks
            ]
            result[cadre["id"]] = (below if weeks else None, {"weekly_quota": quota, "weeks": rows})
        return result

    def mandatory(self) -> dict[str, tuple[float | None, dict[str, Any]]]:
        zone = self.reports.zone
        events = [
            event
            for event in self.reports.store.select(
                self.reports.casework, "life_events", self.scope.where(None), order_by=("id",)
            )
            if event["household_id"] in self.households
            and self.begins < falls_due_at(event, zone) <= self.at
        ]
        visits = answering_visits(
            self.reports.store, self.reports.casework, (event["id"] for event in events)
        )
        fell_due: Counter[str] = Counter()
        overdue: dict[str, list[str]] = defaultdict(list)
        for event in events:
            cadre = self.households[event["household_id"]]["contact_cadre_id"]
            fell_due[cadre] += 1
            if not made_in_time(event, visits.get(event["id"], []), zone):
                overdue[cadre].append(event["id"])
        return {
            cadre["id"]: (
                len(overdue[cadre["id"]]),
                {
                    "fell_due": fell_due[cadre["id"]],
                    "overdue": len(overdue[cadre["id"]]),
                    "overdue_life_event_ids": overdue[cadre["id"]],
                },
            )
            for cadre in self.cadres
        }

    def case_figures(self) -> dict[str, dict[str, tuple[float | None, dict[str, Any]]]]:
        cases = self.reports.store.select(
            self.reports.casework,
            "grievances",
            [
                *self.scope.where(),
                Condition("received_at", ">=", self.begins),
                Condition("received_at", "<", self.reports.midnight(next_month(self.first))),
            ],
        )
        mine: dict[str, list[Row]] = defaultdict(list)
        for case in cases:
            if case["last_assignee_id"]:
                mine[case["last_assignee_id"]].append(case)
        names = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate")
        result: dict[str, dict[str, tuple[float | None, dict[str, Any]]]] = {n: {} for n in names}
        for cadre in self.cadres:
            own = mine.get(cadre["id"], [])
            measures = case_measures(own, self.at)
            for name in names:
                part, whole = measures[name]
                value = ratio(part, whole)
                result[name][cadre["id"]] = (
                    value,
                    {"cases": len(own), "counted": whole, "met": part, name: value},
                )
        return result


def households_visited(visits: list[Row], criteria: StarCriteria) -> Counter[str]:
    """Per visitor, the distinct households visited by the channels the weekly quota counts
    (``visits``: the week's visits not voided)."""
    seen = {
        (visit["visitor_id"], visit["household_id"])
        for visit in visits
        if counts_toward(visit["channel"], False, criteria.quota_channels)
    }
    return Counter(visitor for visitor, _ in seen)


def linked_households(households: dict[str, Row]) -> dict[str, list[Row]]:
    """Households by their contact cadre."""
    linked: dict[str, list[Row]] = defaultdict(list)
    for household in households.values():
        if household["contact_cadre_id"]:
            linked[household["contact_cadre_id"]].append(household)
    return linked


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of a month written ``2026-11`` and of the month after."""
    try:
        year, number = month.split("-")
        if len(year) != 4 or len(number) != 2:
            raise ValueError(month)
        first = date(int(year), int(number), 1)
    except ValueError:
        raise InvalidCommand("month must look like 2026-11", field="month") from None
    return first, next_month(first)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_mondays(first: date) -> list[date]:
    """Mondays of the ISO weeks that belong to a month: those whose Thursday falls in it."""
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    mondays = []
    while thursday.month == first.month:
        mondays.append(thursday - timedelta(days=3))
        thursday += timedelta(days=7)
    return mondays


class StoppedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def since(household: Row, last: dict[str, int]) -> int:
    """The start of a household's cadence: its last visit, or its registration."""
    key = household["id"]
    return last[key] if key in last else int(household["registered_at"])


def case_measures(
    cases: list[Row], now: int, feedback_via: str | None = None
) -> dict[str, tuple[float, int]]:
    """Each rate of a group of cases as (part, whole), judged at ``now`` (README).

    With ``feedback_via``, only feedback that came that way is evaluated.
    """

    def end(case: Row) -> int:
        return case["ended_at"] if case["status"] in ("withdrawn", "merged") else now

    responded = [c for c in cases if c["accepted_at"] is not None or c["respond_by"] <= end(c)]
    evaluated = [
        c
        for c in cases
        if c["rating"] is not None
        and (feedback_via is None or (c["feedback_via"] or "callback") == feedback_via)
    ]
    judged = [c for c in cases if standing(c) is not None or c["resolve_by"] <= end(c)]
    resolved_once = [c for c in cases if c["first_resolved_at"] is not None]
    return {
        "response_rate": (
            sum(
                1
                for c in responded
                if c["accepted_at"] is not None and c["accepted_at"] <= c["respond_by"]
            ),
            len(responded),
        ),
        "resolution_rate": (sum(1 for c in evaluated if c["solved"]), len(evaluated)),
        "satisfaction_rate": (sum(satisfaction(c["rating"]) for c in evaluated), len(evaluated)),
        "on_time_rate": (
            sum(1 for c in judged if on_time(standing(c), c["resolve_by"])),
            len(judged),
        ),
        "reopen_rate": (sum(1 for c in resolved_once if c["reopen_count"]), len(resolved_once)),
    }


def standing(case: Row) -> int | None:
    """When a case that stands resolved was resolved; ``None`` for one that does not."""
    return case["resolved_at"] if case["status"] in ("resolved", "closed") else None


def rates(cases: list[Row], now: int, feedback_via: str | None = None) -> dict[str, Any]:
    """The three rates and the other measures of one group of cases (README)."""
    resolution_days = [
        (standing(c) - c["received_at"]) / DAY_US  # type: ignore[operator]
        for c in cases
        if standing(c) is not None
    ]
    measured = case_measures(cases, now, feedback_via)
    measures = {name: ratio(*parts) for name, parts in measured.items()}
    return {
        "filed": len(cases),
        **measures,
        "median_days_to_resolve": (
            round(statistics.median(resolution_days), 2) if resolution_days else None
        ),
        "open_overdue": sum(1 for c in cases if c["status"] in OPEN and c["resolve_by"] < now),
        "extended": sum(1 for c in cases if c["extended"]),
        "urged": sum(1 for c in cases if c["urged"]),
        "escalated_for_delay": sum(1 for c in cases if c["auto_escalations"]),
    }


def on_time(resolved_at: int | None, resolve_by: int) -> bool:
    return resolved_at is not None and resolved_at <= resolve_by


def satisfaction(rating: str) -> float:
    return {"satisfied": 1.0, "basically_satisfied": 0.5}.get(rating, 0.0)


def ratio(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> date:
    """Monday of an ISO week written ``2026-W47``."""
    try:
        year, number = week.split("-W")
        return date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise InvalidCommand("week must look like 2026-W47", field="week") from None
