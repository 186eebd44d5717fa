"""Who and what exists where: the index behind list endpoints.

It folds the county's log, in order, into small in-memory tables, catching up
to the head of the log before answering, so a list always reflects every
command already answered. It holds IDs and filter keys only: the rows a list
returns are read from the aggregates, with access and masking applied there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from application.casebook import Casebook
from application.errors import NotYetConsistent
from domain.grievance import Grievance
from domain.household import Household
from domain.organisation import Community
from domain.visit import Visit

BATCH = 2000


@dataclass
class HouseholdEntry:
    id: str
    community_id: str
    grid_id: str
    tags: set[str]
    labour_force: int = 0
    employed: int = 0
    contact_cadre_id: str | None = None


@dataclass
class VisitEntry:
    id: str
    household_id: str
    visitor_id: str
    visited_at: datetime
    community_id: str
    grid_id: str


@dataclass
class GrievanceEntry:
    id: str
    household_id: str
    community_id: str
    grid_id: str
    category: str
    status: str
    resolve_by: datetime
    assignee_id: str | None = None


@dataclass
class IndexTables:
    communities: dict[str, str] = field(default_factory=dict)  # code -> aggregate id
    households: dict[str, HouseholdEntry] = field(default_factory=dict)
    visits: dict[str, VisitEntry] = field(default_factory=dict)
    grievances: dict[str, GrievanceEntry] = field(default_factory=dict)


class CaseIndex:
    def __init__(self, book: Casebook) -> None:
        self.book = book
        self.position = 0
        self.tables = IndexTables()
        self._lock = threading.Lock()
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            Community.Founded: self._community_founded,
            Household.Registered: self._household_registered,
            Household.Moved: self._household_moved,
            Household.TagsChanged: self._tags_changed,
            Household.EmploymentRecorded: self._employment_recorded,
            Household.ContactCadreAssigned: self._contact_cadre_assigned,
            Visit.Logged: self._visit_logged,
            Grievance.Filed: self._grievance_filed,
            Grievance.Extended: self._grievance_extended,
        }
        self._status_events: set[type[Any]] = {
            Grievance.Assigned,
            Grievance.Accepted,
            Grievance.Declined,
            Grievance.Escalated,
            Grievance.Resolved,
            Grievance.FeedbackGiven,
            Grievance.Closed,
            Grievance.Withdrawn,
            Grievance.Merged,
        }
        self._topics = [str(cls.TOPIC) for cls in [*self._handlers, *self._status_events]]

    def wait_for(self, position: int | None, seconds: float = 10.0) -> None:
        """Return once the log holds ``position`` (lists then fold up to the head)."""
        if position is None:
            return
        deadline = time.monotonic() + seconds
        while (self.book.recorder.max_notification_id() or 0) < position:
            if time.monotonic() > deadline:
                raise NotYetConsistent(position, seconds)
            time.sleep(0.05)

    def caught_up(self) -> IndexTables:
        """The tables, after folding every event recorded so far."""
        with self._lock:
            while True:
                notifications = self.book.recorder.select_notifications(
                    start=self.position,
                    limit=BATCH,
                    topics=self._topics,
                    inclusive_of_start=False,
                )
                if not notifications:
                    return self.tables
                for notification in notifications:
                    self._apply(self.book.mapper.to_domain_event(notification))
                    self.position = notification.id

    def _apply(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)
        elif type(event) in self._status_events:
            entry = self.tables.grievances[str(event.originator_id)]
            self._apply_status(entry, event)

    # -- folds ----------------------------------------------------------------

    def _community_founded(self, event: Community.Founded) -> None:
        self.tables.communities[event.code] = str(event.originator_id)

    def _household_registered(self, event: Household.Registered) -> None:
        key = str(event.originator_id)
        self.tables.households[key] = HouseholdEntry(
            key, event.community_id, event.grid_id, set(event.tags)
        )

    def _household_moved(self, event: Household.Moved) -> None:
        self.tables.households[str(event.originator_id)].grid_id = event.grid_id

    def _tags_changed(self, event: Household.TagsChanged) -> None:
        entry = self.tables.households[str(event.originator_id)]
        entry.tags = (entry.tags | set(event.added)) - set(event.removed)

    def _employment_recorded(self, event: Household.EmploymentRecorded) -> None:
        entry = self.tables.households[str(event.originator_id)]
        entry.labour_force, entry.employed = event.labour_force, event.employed

    def _contact_cadre_assigned(self, event: Household.ContactCadreAssigned) -> None:
        self.tables.households[str(event.originator_id)].contact_cadre_id = event.cadre_id

    def _visit_logged(self, event: Visit.Logged) -> None:
        household = self.tables.households[event.household_id]
        key = str(event.originator_id)
        self.tables.visits[key] = VisitEntry(
            key,
            event.household_id,
            event.visitor_id,
            event.visited_at,
            household.community_id,
            household.grid_id,
        )

    def _grievance_filed(self, event: Grievance.Filed) -> None:
        key = str(event.originator_id)
        self.tables.grievances[key] = GrievanceEntry(
            key,
            event.household_id,
            event.community_id,
            event.grid_id,
            event.category,
            "filed",
            event.resolve_by,
        )

    def _grievance_extended(self, event: Grievance.Extended) -> None:
        self.tables.grievances[str(event.originator_id)].resolve_by = event.resolve_by

    @staticmethod
    def _apply_status(entry: GrievanceEntry, event: Any) -> None:
        match event:
            case Grievance.Assigned():
                entry.status, entry.assignee_id = "assigned", event.assignee_id
            case Grievance.Declined() | Grievance.Escalated():
                entry.status, entry.assignee_id = "filed", None
            case Grievance.Accepted():
                entry.status = "in_progress"
            case Grievance.FeedbackGiven():
                entry.status = "in_progress" if event.reopened else "closed"
            case Grievance.Resolved():
                entry.status = "resolved"
            case Grievance.Closed():
                entry.status = "closed"
            case Grievance.Withdrawn():
                entry.status = "withdrawn"
            case Grievance.Merged():
                entry.status = "merged"


def page(items: Iterable[Any], limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of an ordered sequence; the cursor is the offset of the next page."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    rows = list(items)
    chunk = rows[start : start + limit]
    next_start = start + limit
    return chunk, (str(next_start) if next_start < len(rows) else None)
