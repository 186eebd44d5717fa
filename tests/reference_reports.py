"""An independent reference for the reports: a plain fold over the whole log.

It reads every event of a casebook in log order, keeps the few facts the
reports need in plain dataclasses, and computes each report straight from the
README section "Reports: exact definitions". It uses no aggregate state, no
application service and no read model, so the read models and the ``Reports``
service can be checked against it.

Readings of the README where it leaves something open (each marked "Reading:"
below) are the natural ones; the integration test holds the service to them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from application.casebook import Casebook
from domain.grievance import Grievance
from domain.household import Household
from domain.organisation import Account
from domain.visit import Visit

CADENCE = timedelta(days=90)
LATE_AFTER = timedelta(hours=48)
WEEKLY_QUOTA = 20
# The shipped criteria (2026.1) name no channels: the quota counts households visited in
# person, the cadence any channel (the visit rules in the README).
QUOTA_CHANNELS = frozenset({"in_person"})
OPEN = frozenset({"filed", "assigned", "in_progress"})
PAGE = 5000
GROUPINGS = ("category", "grid", "community")


# -- the facts ----------------------------------------------------------------------


@dataclass
class AccountFacts:
    account_id: str
    username: str
    display_name: str
    role: str
    community_id: str | None
    grid_id: str | None


@dataclass
class LifeEventFacts:
    life_event_id: str
    kind: str
    occurred_on: date
    visit_due_by: date


@dataclass
class HouseholdFacts:
    household_id: str
    community_id: str
    grid_id: str  # current: follows Moved
    registered_at: datetime
    contact_cadre_id: str | None = None
    life_events: list[LifeEventFacts] = field(default_factory=list)


@dataclass
class VisitFacts:
    visit_id: str
    household_id: str
    visitor_id: str
    visited_at: datetime
    recorded_at: datetime
    channel: str
    purpose: str
    life_event_id: str | None
    voided: bool = False

    @property
    def counts(self) -> bool:
        return not self.voided


@dataclass
class Feedback:
    rating: str
    solved: bool


@dataclass
class CaseFacts:
    case_id: str
    community_id: str
    grid_id: str
    category: str
    received_at: datetime
    respond_by: datetime
    resolve_by: datetime  # current: follows Extended
    status: str = "filed"
    assignee_id: str | None = None
    first_accepted_at: datetime | None = None
    last_resolved_at: datetime | None = None
    resolved_ever: bool = False
    reopened_ever: bool = False
    latest_feedback: Feedback | None = None
    ended_at: datetime | None = None  # withdrawn or merged
    extended: bool = False
    urged: bool = False
    escalated_for_delay: bool = False

    @property
    def standing_resolution(self) -> datetime | None:
        """The last Resolved, while the case is resolved or closed (a reopening cancels it)."""
        if self.status in ("resolved", "closed"):
            return self.last_resolved_at
        return None


@dataclass
class History:
    events: int = 0
    accounts: dict[str, AccountFacts] = field(default_factory=dict)
    households: dict[str, HouseholdFacts] = field(default_factory=dict)
    visits: dict[str, VisitFacts] = field(default_factory=dict)
    cases: dict[str, CaseFacts] = field(default_factory=dict)
    last_recorded_at: datetime | None = None


def every_event(book: Casebook, page: int = PAGE) -> Iterator[Any]:
    """Every domain event of the log, in log order."""
    position = 0
    while True:
        notifications = book.recorder.select_notifications(
            start=position, limit=page, inclusive_of_start=False
        )
        if not notifications:
            return
        for notification in notifications:
            yield book.mapper.to_domain_event(notification)
        position = notifications[-1].id


def read_history(book: Casebook) -> History:
    return fold(every_event(book))


def fold(events: Iterable[Any]) -> History:
    history = History()
    for event in events:
        history.events += 1
        stamp: datetime = event.timestamp
        if history.last_recorded_at is None or stamp > history.last_recorded_at:
            history.last_recorded_at = stamp
        key = str(event.originator_id)
        if isinstance(event, Account.Opened):
            history.accounts[key] = AccountFacts(
                key,
                event.username,
                event.display_name,
                event.role,
                event.community_id,
                event.grid_id,
            )
        elif isinstance(event, Household.Event):
            fold_household(history, key, event)
        elif isinstance(event, Visit.Event):
            fold_visit(history, key, event)
        elif isinstance(event, Grievance.Event):
            fold_case(history, key, event)
    return history


def fold_household(history: History, key: str, event: Household.Event) -> None:
    if isinstance(event, Household.Registered):
        history.households[key] = HouseholdFacts(
            key, event.community_id, event.grid_id, event.timestamp
        )
        return
    household = history.households[key]
    if isinstance(event, Household.ContactCadreAssigned):
        household.contact_cadre_id = event.cadre_id
    elif isinstance(event, Household.Moved):
        household.grid_id = event.grid_id
    elif isinstance(event, Household.LifeEventReported):
        household.life_events.append(
            LifeEventFacts(event.life_event_id, event.kind, event.occurred_on, event.visit_due_by)
        )


def fold_visit(history: History, key: str, event: Visit.Event) -> None:
    if isinstance(event, Visit.Logged):
        history.visits[key] = VisitFacts(
            key,
            event.household_id,
            event.visitor_id,
            event.visited_at,
            event.timestamp,
            event.channel,
            event.purpose,
            event.life_event_id,
        )
    elif isinstance(event, Visit.Voided):
        history.visits[key].voided = True


def fold_case(history: History, key: str, event: Grievance.Event) -> None:
    if isinstance(event, Grievance.Filed):
        history.cases[key] = CaseFacts(
            key,
            event.community_id,
            event.grid_id,
            event.category,
            event.received_at,
            event.respond_by,
            event.resolve_by,
        )
        return
    case = history.cases[key]
    case.escalated_for_delay |= isinstance(event, Grievance.AutoEscalated)
    case.urged |= isinstance(event, Grievance.Urged)
    case.extended |= isinstance(event, Grievance.Extended)
    if isinstance(event, Grievance.Assigned):
        case.assignee_id = event.assignee_id
        case.status = "assigned"
    elif isinstance(event, Grievance.Accepted):
        case.status = "in_progress"
        if case.first_accepted_at is None:
            case.first_accepted_at = event.timestamp
    elif isinstance(event, Grievance.Declined | Grievance.Escalated):
        case.assignee_id = None
        case.status = "filed"
    elif isinstance(event, Grievance.Extended):
        case.resolve_by = event.resolve_by
    elif isinstance(event, Grievance.Resolved):
        case.status = "resolved"
        case.resolved_ever = True
        case.last_resolved_at = event.timestamp
    elif isinstance(event, Grievance.FeedbackGiven):
        case.latest_feedback = Feedback(event.rating, event.solved)
        if event.reopened:
            case.status = "in_progress"
            case.reopened_ever = True
        else:
            case.status = "closed"
    elif isinstance(event, Grievance.Closed):
        case.status = "closed"
    elif isinstance(event, Grievance.Withdrawn):
        case.status = "withdrawn"
        case.ended_at = event.timestamp
    elif isinstance(event, Grievance.Merged):
        case.status = "merged"
        case.ended_at = event.timestamp


# -- the reports ----------------------------------------------------------------------


def rate(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def within(day: date, date_from: date | None, date_to: date | None) -> bool:
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


class ReferenceReports:
    """The reports over a folded history, at ``now``, in ``zone``."""

    def __init__(self, history: History, now: datetime, zone: ZoneInfo) -> None:
        self.history = history
        self.now = now
        self.zone = zone
        self.today = now.astimezone(zone).date()
        self.visits_to: dict[str, list[VisitFacts]] = {}
        for visit in history.visits.values():
            self.visits_to.setdefault(visit.household_id, []).append(visit)

    @classmethod
    def of(cls, book: Casebook, now: datetime, zone: ZoneInfo) -> ReferenceReports:
        return cls(read_history(book), now, zone)

    # -- helpers --------------------------------------------------------------------

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).isoformat()

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0, 0), self.zone)

    def households_in_scope(
        self, community_id: str | None, grid_id: str | None
    ) -> list[HouseholdFacts]:
        # Reading: with no community_id every community is in scope; grid_id narrows
        # by the household's current grid (together with community_id, as every
        # caller passes it; grid codes repeat across communities).
        return [
            household
            for household in self.history.households.values()
            if (community_id is None or household.community_id == community_id)
            and (grid_id is None or household.grid_id == grid_id)
        ]

    def cases_in_scope(self, community_id: str | None, grid_id: str | None) -> list[CaseFacts]:
        return [
            case
            for case in self.history.cases.values()
            if (community_id is None or case.community_id == community_id)
            and (grid_id is None or case.grid_id == grid_id)
        ]

    def last_visit(self, household: HouseholdFacts) -> datetime | None:
        times = [v.visited_at for v in self.visits_to.get(household.household_id, []) if v.counts]
        return max(times) if times else None

    def is_due(self, household: HouseholdFacts) -> bool:
        since = self.last_visit(household) or household.registered_at
        return self.now - since > CADENCE

    def within_cadence(self, household: HouseholdFacts) -> bool:
        last = self.last_visit(household)
        return last is not None and self.now - last <= CADENCE

    def is_satisfied(self, household: HouseholdFacts, life_event: LifeEventFacts) -> bool:
        # The rule: an in-person visit, not voided, by anyone, with purpose mandatory
        # naming the life event, with visited_at at or after local midnight of occurred_on.
        # A routine visit that happens to come later does not discharge it.
        start = self.midnight(life_event.occurred_on)
        return any(
            visit.counts
            and visit.channel == "in_person"
            and visit.purpose == "mandatory"
            and visit.life_event_id == life_event.life_event_id
            and visit.visited_at >= start
            for visit in self.visits_to.get(household.household_id, [])
        )

    def unsatisfied(
        self, households: Iterable[HouseholdFacts]
    ) -> list[tuple[HouseholdFacts, LifeEventFacts]]:
        return [
            (household, life_event)
            for household in households
            for life_event in household.life_events
            if not self.is_satisfied(household, life_event)
        ]

    def is_overdue(self, life_event: LifeEventFacts) -> bool:
        return self.today > life_event.visit_due_by

    # -- workload ---------------------------------------------------------------------

    def workload(
        self, week: str, community_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        year, number = week.split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
        week_start = self.midnight(monday)
        week_end = self.midnight(monday + timedelta(days=7))
        households = self.households_in_scope(community_id, grid_id)
        in_scope = {household.household_id for household in households}
        cases = self.cases_in_scope(community_id, grid_id)
        cadres = sorted(
            (
                account
                for account in self.history.accounts.values()
                if account.role == "cadre"
                and (community_id is None or account.community_id == community_id)
                and (grid_id is None or account.grid_id in (None, grid_id))
            ),
            key=lambda account: (account.community_id or "", account.username),
        )
        items = []
        for cadre in cadres:
            linked = [h for h in households if h.contact_cadre_id == cadre.account_id]
            unsatisfied = self.unsatisfied(linked)
            open_cases = [
                case
                for case in cases
                if case.assignee_id == cadre.account_id and case.status in OPEN
            ]
            visits = [
                visit
                for visit in self.history.visits.values()
                if visit.visitor_id == cadre.account_id
                and visit.counts
                and visit.household_id in in_scope
                and week_start <= visit.visited_at < week_end
            ]
            # The rule: the quota is about distinct households visited in person.
            visited = {v.household_id for v in visits if v.channel in QUOTA_CHANNELS}
            items.append(
                {
                    "cadre_id": cadre.account_id,
                    "username": cadre.username,
                    "display_name": cadre.display_name,
                    "community_id": cadre.community_id,
                    "grid_id": cadre.grid_id,
                    "visits": len(visits),
                    "households_visited": len(visited),
                    "weekly_quota": WEEKLY_QUOTA,
                    "quota_met": len(visited) >= WEEKLY_QUOTA,
                    "households_linked": len(linked),
                    "households_due": sum(1 for h in linked if self.is_due(h)),
                    "mandatory_pending": sum(
                        1 for _, event in unsatisfied if not self.is_overdue(event)
                    ),
                    "mandatory_overdue": sum(
                        1 for _, event in unsatisfied if self.is_overdue(event)
                    ),
                    "grievances_open": len(open_cases),
                    "grievances_overdue": sum(1 for c in open_cases if c.resolve_by < self.now),
                }
            )
        return {"week": week, "items": items, "unfolded_events": 0}

    # -- coverage -----------------------------------------------------------------------

    def coverage(
        self, community_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        households = self.households_in_scope(community_id, grid_id)
        overdue: list[dict[str, Any]] = []
        for household in households:
            if not self.is_due(household):
                continue
            last = self.last_visit(household)
            since = last or household.registered_at
            overdue.append(
                {
                    "household_id": household.household_id,
                    "community_id": household.community_id,
                    "grid_id": household.grid_id,
                    "contact_cadre_id": household.contact_cadre_id,
                    "last_visited_at": self.local(last) if last else None,
                    "days_since": math.floor((self.now - since) / timedelta(days=1)),
                }
            )
        overdue.sort(key=lambda item: (-item["days_since"], item["household_id"]))
        pending = sorted(
            (
                {
                    "household_id": household.household_id,
                    "life_event_id": life_event.life_event_id,
                    "kind": life_event.kind,
                    "occurred_on": life_event.occurred_on.isoformat(),
                    "visit_due_by": life_event.visit_due_by.isoformat(),
                    "overdue": self.is_overdue(life_event),
                }
                for household, life_event in self.unsatisfied(households)
            ),
            key=lambda item: (item["visit_due_by"], item["life_event_id"]),
        )
        return {
            "households_total": len(households),
            "visited_within_cadence": sum(1 for h in households if self.within_cadence(h)),
            "households_due": len(overdue),
            "overdue_households": overdue,
            "pending_mandatory": pending,
            "unfolded_events": 0,
        }

    # -- resolution ----------------------------------------------------------------------

    def resolution(
        self,
        date_from: date | None,
        date_to: date | None,
        group_by: str,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        if group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {GROUPINGS}")
        groups: dict[str, list[CaseFacts]] = {}
        for case in self.cases_in_scope(community_id, grid_id):
            if not within(case.received_at.astimezone(self.zone).date(), date_from, date_to):
                continue
            key = {
                "category": case.category,
                "grid": f"{case.community_id}/{case.grid_id}",
                "community": case.community_id,
            }[group_by]
            groups.setdefault(key, []).append(case)
        items = [self.figures(key, groups[key]) for key in sorted(groups)]
        return {"group_by": group_by, "items": items, "unfolded_events": 0}

    def figures(self, group: str, cases: list[CaseFacts]) -> dict[str, Any]:
        def end(case: CaseFacts) -> datetime:
            return case.ended_at or self.now

        accepted_in_time = sum(
            1
            for c in cases
            if c.first_accepted_at is not None and c.first_accepted_at <= c.respond_by
        )
        respond_base = sum(
            1 for c in cases if c.first_accepted_at is not None or c.respond_by <= end(c)
        )
        with_feedback = [c.latest_feedback for c in cases if c.latest_feedback is not None]
        solved = sum(1 for f in with_feedback if f.solved)
        satisfaction = sum(
            1.0 if f.rating == "satisfied" else 0.5 if f.rating == "basically_satisfied" else 0.0
            for f in with_feedback
        )
        standing = [(c, c.standing_resolution) for c in cases]
        on_time = sum(1 for c, at in standing if at is not None and at <= c.resolve_by)
        on_time_base = sum(1 for c, at in standing if at is not None or c.resolve_by <= end(c))
        days = [(at - c.received_at) / timedelta(days=1) for c, at in standing if at is not None]
        return {
            "group": group,
            "filed": len(cases),
            "response_rate": rate(accepted_in_time, respond_base),
            "resolution_rate": rate(solved, len(with_feedback)),
            "satisfaction_rate": rate(satisfaction, len(with_feedback)),
            "on_time_rate": rate(on_time, on_time_base),
            "reopen_rate": rate(
                sum(1 for c in cases if c.reopened_ever),
                sum(1 for c in cases if c.resolved_ever),
            ),
            "median_days_to_resolve": round(statistics.median(days), 2) if days else None,
            "open_overdue": sum(1 for c in cases if c.status in OPEN and c.resolve_by < self.now),
            "extended": sum(1 for c in cases if c.extended),
            "urged": sum(1 for c in cases if c.urged),
            "escalated_for_delay": sum(1 for c in cases if c.escalated_for_delay),
        }

    # -- late entries -----------------------------------------------------------------------

    def late_entries(
        self,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> dict[str, Any]:
        in_scope = {h.household_id for h in self.households_in_scope(community_id, grid_id)}
        late = sorted(
            (
                visit
                for visit in self.history.visits.values()
                if visit.household_id in in_scope
                # Reading: late-logged is recomputed from the rule ("recorded more
                # than 48 hours after it happened"), not read from the event's flag.
                and visit.recorded_at - visit.visited_at > LATE_AFTER
                and within(visit.recorded_at.astimezone(self.zone).date(), date_from, date_to)
            ),
            key=lambda visit: (visit.recorded_at, visit.visit_id),
        )
        return {
            "items": [
                {
                    "visit_id": visit.visit_id,
                    "household_id": visit.household_id,
                    "visitor_id": visit.visitor_id,
                    "visited_at": self.local(visit.visited_at),
                    "recorded_at": self.local(visit.recorded_at),
                    "gap_hours": round(
                        (visit.recorded_at - visit.visited_at) / timedelta(hours=1), 1
                    ),
                    "voided": visit.voided,
                }
                for visit in late
            ],
            "unfolded_events": 0,
        }

    # -- ledger --------------------------------------------------------------------------

    def ledger_ids(
        self,
        date_from: date | None = None,
        date_to: date | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> list[str]:
        cases = sorted(
            (
                case
                for case in self.cases_in_scope(community_id, grid_id)
                if within(case.received_at.astimezone(self.zone).date(), date_from, date_to)
            ),
            key=lambda case: (case.received_at, case.case_id),
        )
        return [case.case_id for case in cases]
