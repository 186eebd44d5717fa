"""When a mandatory visit (五访) falls due, and whether it was made in time.

One rule serves the deadline watcher (which records ``MandatoryVisitOverdue``)
and the star report (which counts them), so the two always agree:

- a life event's visit falls due at the end of its ``visit_due_by`` day, local
  time; one reported after that falls due when it is reported;
- it was made in time when an in-person visit to the household, at or after the
  local midnight that began the event's day and before the end of the due day,
  was on record at the moment it fell due and not voided by then.

So the answer is the one the reports gave at the moment it fell due, whatever
is logged later, and the watcher records the same thing however late it runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo

from application.read_model import Condition, ReadModel, ReadStore, Row, eq, micros
from domain.deadlines import end_of_day


def due_moment(life_event: Row, zone: tzinfo) -> int:
    """The end of the due day (microseconds since the epoch)."""
    return micros(end_of_day(date.fromisoformat(life_event["visit_due_by"]), zone))


def falls_due_at(life_event: Row, zone: tzinfo) -> int:
    """When the visit falls due: the end of the due day, or the report if that came later."""
    return max(due_moment(life_event, zone), int(life_event["reported_at"]))


def made_in_time(life_event: Row, visits: Iterable[Row], zone: tzinfo) -> bool:
    """Whether an in-person visit answered the life event in time (module docstring)."""
    begins = micros(datetime.combine(date.fromisoformat(life_event["occurred_on"]), time(0), zone))
    ends = due_moment(life_event, zone)
    judged = falls_due_at(life_event, zone)
    return any(
        visit["channel"] == "in_person"
        and begins <= visit["visited_at"] < ends
        and visit["recorded_at"] <= judged
        and (visit["voided_at"] is None or visit["voided_at"] > judged)
        for visit in visits
    )


def in_person_visits(
    store: ReadStore, casework: ReadModel, households: set[str]
) -> dict[str, list[Row]]:
    """Every in-person visit (voided ones too) to each of ``households``."""
    found: dict[str, list[Row]] = {}
    ids = sorted(households)
    for start in range(0, len(ids), 500):
        where = [
            Condition("household_id", "in", ids[start : start + 500]),
            eq("channel", "in_person"),
        ]
        for visit in store.select(casework, "visits", where):
            found.setdefault(visit["household_id"], []).append(visit)
    return found
