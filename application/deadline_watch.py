"""The deadline watcher: records, exactly once each, deadlines that pass.

Time passing is not an event, so the watcher makes it one. Each round it
records ``Grievance.DeadlinePassed`` for every respond or resolve deadline a
case has missed, escalates a case one level (``Grievance.AutoEscalated``) once
it has been open longer than its policy allows past its resolve deadline, and
records ``Household.MandatoryVisitOverdue`` for every mandatory visit not made
in time. Reports then stay a pure function of the log.

Exactly once, across restarts and rival watchers: each record is decided on the
aggregate itself (it knows what it has recorded) and saved under the library's
optimistic concurrency, so a record is either saved once or decided again.
What was missed depends only on the history (``Grievance.missed_by``,
``application.mandatory_visits``), never on when a round runs, so a watcher
that was down records on its first round exactly what it would have recorded.
The read model only narrows which aggregates to look at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from application.actors import SYSTEM
from application.casebook import Casebook
from application.casework_model import CaseworkModel
from application.mandatory_visits import answering_visits, falls_due_at, made_in_time
from application.ports import Clock
from application.projections import Projections
from application.read_model import Condition, ReadStore, Row, eq, from_micros, micros
from domain.deadlines import PolicyBook
from domain.grievance import Grievance
from domain.household import Household

log = logging.getLogger("anju.deadlines")

# A mandatory visit is judged this long after it falls due, so that every command
# that read the clock before that moment has committed (commits can land slightly
# out of timestamp order).
SETTLE = timedelta(seconds=60)
Progress = Callable[[int, int], None]


@dataclass
class WatchRound:
    """What one round of the watcher did."""

    at: datetime
    cases_checked: int = 0
    deadlines_missed: int = 0
    escalated: int = 0
    life_events_checked: int = 0
    mandatory_overdue: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return self.deadlines_missed + self.escalated + self.mandatory_overdue


class DeadlineWatch:
    def __init__(
        self,
        book: Casebook,
        projections: Projections,
        store: ReadStore,
        casework: CaseworkModel,
        policies: PolicyBook,
        clock: Clock,
        zone: tzinfo,
    ) -> None:
        self.book = book
        self.projections = projections
        self.store = store
        self.casework = casework
        self.policies = policies
        self.clock = clock
        self.zone = zone
        # Cases looked at, with the version seen and when one could next need a record.
        self._quiet: dict[str, tuple[int, datetime | None]] = {}
        # Life events whose visit was made in time: that never changes.
        self._made: set[str] = set()

    def run_once(self, progress: Progress | None = None) -> WatchRound:
        """One round: catch the read models up, then record whatever has come due."""
        now = self.clock.now()
        self.projections.catch_up()
        done = WatchRound(at=now)
        cases = self._cases_to_check(now)
        life_events = self._life_events_to_check(now)
        total = len(cases) + len(life_events)
        for count, case_id in enumerate(cases, 1):
            self._guard(done, case_id, self._check_case, case_id, done)
            if progress is not None:
                progress(count, total)
        visits = answering_visits(self.store, self.casework, (row["id"] for row in life_events))
        for count, row in enumerate(life_events, len(cases) + 1):
            answering = visits.get(row["id"], [])
            self._guard(done, row["id"], self._check_life_event, row, answering, done)
            done.life_events_checked += 1
            if progress is not None:
                progress(count, total)
        return done

    def run(self, stop: threading.Event, every: float) -> None:
        """Rounds every ``every`` seconds until ``stop`` is set; a failed round is retried."""
        while not stop.is_set():
            try:
                done = self.run_once()
                if done.recorded:
                    log.info(
                        "deadlines: %s missed, %s escalated, %s mandatory visits overdue",
                        done.deadlines_missed,
                        done.escalated,
                        done.mandatory_overdue,
                    )
            except Exception:  # a store that is down now may be back at the next round
                log.exception("deadlines: round failed; trying again in %s s", every)
            stop.wait(every)

    # -- grievances ---------------------------------------------------------------

    def _cases_to_check(self, now: datetime) -> list[str]:
        """Cases with a deadline behind them, but for those known to need nothing yet."""
        rows = self.store.select(
            self.casework, "grievances", [Condition("respond_by", "<", micros(now) + 1)]
        )
        return [row["id"] for row in rows if self._may_need_a_record(row, now)]

    def _may_need_a_record(self, row: Row, now: datetime) -> bool:
        seen = self._quiet.get(row["id"])
        if seen is None or seen[0] != row["version"]:
            return True
        wakes_at = seen[1]
        return wakes_at is not None and wakes_at <= now

    def _check_case(self, case_id: str, done: WatchRound) -> None:
        counts = {"missed": 0, "escalated": 0}

        def decide() -> list[Grievance]:
            case = self.book.load(Grievance, case_id, "grievance")
            now = self.clock.now()
            policy = self.policies.governing(case.policy_version, case.received_at)
            counts["missed"] = case.record_missed_deadlines(actor=SYSTEM.account_id, now=now)
            counts["escalated"] = int(
                case.escalate_if_overdue(
                    after=policy.escalate_after,
                    policy_version=policy.version,
                    actor=SYSTEM.account_id,
                    now=now,
                )
            )
            self._quiet[case_id] = (case.version, case.wakes_at(now, policy.escalate_after))
            return [case] if counts["missed"] or counts["escalated"] else []

        self.book.commit(decide)
        done.cases_checked += 1
        done.deadlines_missed += counts["missed"]
        done.escalated += counts["escalated"]

    # -- mandatory visits ---------------------------------------------------------

    def _life_events_to_check(self, now: datetime) -> list[Row]:
        """Life events past their due day with nothing recorded yet, settled long enough."""
        today = now.astimezone(self.zone).date().isoformat()
        rows = self.store.select(
            self.casework,
            "life_events",
            [eq("overdue_recorded_at", None), Condition("visit_due_by", "<", today)],
            order_by=("reported_at", "id"),
        )
        settled = micros(now - SETTLE)
        return [
            row
            for row in rows
            if row["id"] not in self._made and falls_due_at(row, self.zone) <= settled
        ]

    def _check_life_event(self, row: Row, visits: list[Row], done: WatchRound) -> None:
        if made_in_time(row, visits, self.zone):
            self._made.add(row["id"])
            return
        due_at = from_micros(falls_due_at(row, self.zone)).astimezone(self.zone)
        recorded = {"new": False}

        def decide() -> list[Household]:
            household = self.book.load(Household, row["household_id"], "household")
            recorded["new"] = household.record_mandatory_visit_overdue(
                life_event_id=row["id"],
                due_at=due_at,
                actor=SYSTEM.account_id,
                now=self.clock.now(),
            )
            return [household] if recorded["new"] else []

        self.book.commit(decide)
        done.mandatory_overdue += int(recorded["new"])

    # -- failures -----------------------------------------------------------------

    @staticmethod
    def _guard(done: WatchRound, key: str, check: Callable[..., None], *args: Any) -> None:
        """One aggregate's failure must not stop the round; it is tried again next round."""
        try:
            check(*args)
        except Exception as error:
            log.exception("deadlines: checking %s failed", key)
            done.failures.append(f"{key}: {type(error).__name__}")
