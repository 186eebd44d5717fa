"""Helpers for tests that run `anju deadlines run` as processes of their own.

What the watcher records is read back from the log: every event of the three
watcher topics, as the facts they state (never the round's time). The size of
the log is read straight from the store with SQL, so a test can watch a child
record while it runs and kill it mid-round.
"""

from __future__ import annotations

import random
import re
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from application.casebook import Casebook
from infrastructure.event_store import events_table_postgres
from infrastructure.settings import Settings

MISSED = "anju:Grievance.DeadlinePassed"
ESCALATED = "anju:Grievance.AutoEscalated"
OVERDUE = "anju:Household.MandatoryVisitOverdue"
WATCHER_TOPICS = (MISSED, ESCALATED, OVERDUE)

SUMMARY = re.compile(
    r"recorded (?P<missed>\d+) missed deadlines, (?P<escalated>\d+) escalations, "
    r"(?P<overdue>\d+) overdue mandatory visits"
)


def seeded_uuid4(seed: int) -> Callable[[], uuid.UUID]:
    """A stand-in for ``uuid.uuid4`` that makes the same IDs, in order, for the same seed."""
    rng = random.Random(seed)
    return lambda: uuid.UUID(int=rng.getrandbits(128), version=4)


def log_size(settings: Settings) -> int:
    """How many events the county's log holds, read with SQL (cheap enough to poll)."""
    if settings.database_url:
        table = sql.Identifier(settings.county, events_table_postgres(Casebook.name))
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    else:
        path = settings.county_dir / "events.sqlite"
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            row = conn.execute("SELECT count(*) FROM stored_events").fetchone()
    assert row is not None
    return int(row[0])


def recorded_counts(output: str) -> tuple[int, int, int] | None:
    """(missed, escalated, overdue) from the summary `anju deadlines run --once` prints."""
    found = SUMMARY.search(output)
    if found is None:
        return None
    return int(found["missed"]), int(found["escalated"]), int(found["overdue"])


@dataclass
class WatcherRecords:
    """What the watcher recorded, as facts: round times and reason texts left out."""

    positions: list[int] = field(default_factory=list)
    actors: set[str] = field(default_factory=set)
    # (case, deadline, due_at, overdue_since)
    missed: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)
    # (case, from_level, to_level, resolve_by, overdue_since, policy_version)
    escalated: list[tuple[str, str, str, datetime, datetime, str]] = field(default_factory=list)
    # (household, life_event_id, due_at)
    overdue: list[tuple[str, str, datetime]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.missed) + len(self.escalated) + len(self.overdue)

    def duplicates(self) -> dict[str, list[Any]]:
        """Each kind of record's key seen more than once (none, when exactly once holds)."""
        return {
            "missed (case, deadline, due_at)": repeated((m[0], m[1], m[2]) for m in self.missed),
            "escalated (case, resolve_by)": repeated((e[0], e[3]) for e in self.escalated),
            "overdue (life_event_id)": repeated(o[1] for o in self.overdue),
        }


def repeated(keys: Iterable[Hashable]) -> list[Any]:
    return sorted((key for key, n in Counter(keys).items() if n > 1), key=str)


def watcher_records(book: Casebook, page: int = 5_000) -> WatcherRecords:
    """Every watcher event in the whole log, decoded."""
    found = WatcherRecords()
    start = 0
    while True:
        notifications = book.recorder.select_notifications(
            start=start, limit=page, topics=WATCHER_TOPICS, inclusive_of_start=False
        )
        if not notifications:
            return found
        for notification in notifications:
            event: Any = book.mapper.to_domain_event(notification)
            aggregate = str(event.originator_id)
            found.positions.append(int(notification.id))
            found.actors.add(event.actor)
            if notification.topic == MISSED:
                found.missed.append((aggregate, event.deadline, event.due_at, event.overdue_since))
            elif notification.topic == ESCALATED:
                found.escalated.append(
                    (
                        aggregate,
                        event.from_level,
                        event.to_level,
                        event.resolve_by,
                        event.overdue_since,
                        event.policy_version,
                    )
                )
            else:
                found.overdue.append((aggregate, event.life_event_id, event.due_at))
        start = int(notifications[-1].id)
