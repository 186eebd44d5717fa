"""When a mandatory visit (五访) falls due, and whether it was made, or made in time.

One rule serves the deadline watcher (which records ``MandatoryVisitOverdue``),
the coverage and workload reports (which list the visits still pending) and the
star report (which counts the overdue ones), so they always agree. Which visit
discharges a life event's visit is the domain's rule
(``domain.visit.discharges_mandatory_visit``: in person, purpose ``mandatory``,
naming the life event, on or after the day it occurred); here it is applied to
read-model rows:

- a life event's visit falls due at the end of its ``visit_due_by`` day, local
  time; one reported after that falls due when it is reported;
- it is pending while no visit that discharges it stands;
- it was made in time when a visit that discharges it, made before the end of
  the due day, was on record at the moment it fell due and not voided by then.

So the answer is the one the reports gave at the moment it fell due, whatever
is logged later, and the watcher records the same thing however late it runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, tzinfo

from application.read_model import Condition, ReadModel, ReadStore, Row, from_micros, micros
from domain.deadlines import end_of_day
from domain.visit import discharges_mandatory_visit


def due_moment(life_event: Row, zone: tzinfo) -> int:
    """The end of the due day (microseconds since the epoch)."""
    return micros(end_of_day(date.fromisoformat(life_event["visit_due_by"]), zone))


def falls_due_at(life_event: Row, zone: tzinfo) -> int:
    """When the visit falls due: the end of the due day, or the report if that came later."""
    return max(due_moment(life_event, zone), int(life_event["reported_at"]))


def discharges(life_event: Row, visit: Row, zone: tzinfo, at: int | None = None) -> bool:
    """Whether the visit discharges the life event's mandatory visit; voided means voided
    by ``at`` when given, voided at all otherwise."""
    voided_at = visit["voided_at"]
    return discharges_mandatory_visit(
        channel=visit["channel"],
        purpose=visit["purpose"],
        named=visit["life_event_id"],
        voided=voided_at is not None and (at is None or voided_at <= at),
        visited_on=from_micros(visit["visited_at"]).astimezone(zone).date(),
        life_event_id=life_event["id"],
        occurred_on=date.fromisoformat(life_event["occurred_on"]),
    )


def made(life_event: Row, visits: Iterable[Row], zone: tzinfo) -> bool:
    """Whether a visit that stands discharges the life event's mandatory visit (not pending)."""
    return any(discharges(life_event, visit, zone) for visit in visits)


def made_in_time(life_event: Row, visits: Iterable[Row], zone: tzinfo) -> bool:
    """Whether a visit discharged the life event's mandatory visit in time (module docstring)."""
    ends = due_moment(life_event, zone)
    judged = falls_due_at(life_event, zone)
    return any(
        visit["visited_at"] < ends
        and visit["recorded_at"] <= judged
        and discharges(life_event, visit, zone, at=judged)
        for visit in visits
    )


def answering_visits(
    store: ReadStore, casework: ReadModel, life_event_ids: Iterable[str]
) -> dict[str, list[Row]]:
    """Every visit (voided ones too) naming each of ``life_event_ids``."""
    found: dict[str, list[Row]] = {}
    ids = sorted(set(life_event_ids))
    for start in range(0, len(ids), 500):
        where = [Condition("life_event_id", "in", ids[start : start + 500])]
        for visit in store.select(casework, "visits", where):
            found.setdefault(visit["life_event_id"], []).append(visit)
    return found
