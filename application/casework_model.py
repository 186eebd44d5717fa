"""The casework read model: households, life events, visits and grievances as rows.

Rows hold what lists filter on and what reports count, never personal data:
names, phones and ID numbers stay sealed in the log. Times are microseconds
since the epoch, so they compare alike on every store; dates are ISO text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from application.read_model import Fact, Row, Rows, Table, day_text, micros

HOUSEHOLDS = Table(
    "households",
    {
        "community_id": "text",
        "grid_id": "text",
        "contact_cadre_id": "text",
        "tags": "text",
        "labour_force": "int",
        "employed": "int",
        "zero_employment": "int",
        "registered_at": "int",
        "erased": "int",
    },
    indexes=(("community_id", "grid_id"), ("contact_cadre_id",)),
)
LIFE_EVENTS = Table(
    "life_events",
    {
        "household_id": "text",
        "community_id": "text",
        "kind": "text",
        "occurred_on": "text",
        "visit_due_by": "text",
        "reported_at": "int",
        "overdue_recorded_at": "int",
    },
    indexes=(("community_id",), ("household_id",)),
)
VISITS = Table(
    "visits",
    {
        "household_id": "text",
        "community_id": "text",
        "visitor_id": "text",
        "visited_at": "int",
        "recorded_at": "int",
        "channel": "text",
        "purpose": "text",
        "life_event_id": "text",
        "late_logged": "int",
        "voided": "int",
        "voided_at": "int",
    },
    indexes=(
        ("community_id", "visited_at"),
        ("household_id", "visited_at"),
        ("visitor_id", "visited_at"),
        ("community_id", "recorded_at"),
        ("life_event_id",),
    ),
)
GRIEVANCES = Table(
    "grievances",
    {
        "household_id": "text",
        "community_id": "text",
        "grid_id": "text",
        "category": "text",
        "urgency": "text",
        "channel": "text",
        "summary": "text",
        "version": "int",
        "status": "text",
        "level": "text",
        "assignee_id": "text",
        "last_assignee_id": "text",
        "received_at": "int",
        "filed_at": "int",
        "respond_by": "int",
        "resolve_by": "int",
        "first_resolve_by": "int",
        "extended": "int",
        "urged": "int",
        "respond_missed": "int",
        "resolve_missed": "int",
        "auto_escalations": "int",
        "accepted_at": "int",
        "first_resolved_at": "int",
        "resolved_at": "int",
        "outcome": "text",
        "rating": "text",
        "solved": "int",
        "feedback_via": "text",
        "feedback_at": "int",
        "reopen_count": "int",
        "ended_at": "int",
        "policy_version": "text",
    },
    indexes=(
        ("community_id", "received_at"),
        ("assignee_id", "status"),
        ("household_id",),
        ("status", "resolve_by"),
        ("last_assignee_id", "received_at"),
        ("respond_by",),
    ),
)


def tag_list(tags: Iterable[str]) -> str:
    """Tags as ``|a|b|``, so one tag is found with ``contains`` on every store."""
    return "|" + "|".join(sorted(tags)) + "|" if tags else ""


def tags_of(text: str | None) -> set[str]:
    return {tag for tag in (text or "").split("|") if tag}


class CaseworkModel:
    name = "casework"
    tables = (HOUSEHOLDS, LIFE_EVENTS, VISITS, GRIEVANCES)

    def __init__(self) -> None:
        self._folds: dict[str, Callable[[Fact, Rows], None]] = {
            "anju:Household.Registered": self._registered,
            "anju:Household.ContactCadreAssigned": self._contact_cadre,
            "anju:Household.Moved": self._moved,
            "anju:Household.TagsChanged": self._tags_changed,
            "anju:Household.EmploymentRecorded": self._employment,
            "anju:Household.LifeEventReported": self._life_event,
            "anju:Household.MandatoryVisitOverdue": self._mandatory_overdue,
            "anju:Household.Erased": self._erased,
            "anju:Visit.Logged": self._visit_logged,
            "anju:Visit.Voided": self._visit_voided,
            "anju:Grievance.Filed": self._filed,
            "anju:Grievance.Assigned": self._assigned,
            "anju:Grievance.Accepted": self._accepted,
            "anju:Grievance.Declined": self._back_to_filed,
            "anju:Grievance.Escalated": self._escalated,
            "anju:Grievance.AutoEscalated": self._auto_escalated,
            "anju:Grievance.DeadlinePassed": self._deadline_passed,
            "anju:Grievance.Extended": self._extended,
            "anju:Grievance.Urged": self._urged,
            "anju:Grievance.Resolved": self._resolved,
            "anju:Grievance.FeedbackGiven": self._feedback,
            "anju:Grievance.Closed": self._ended("closed"),
            "anju:Grievance.Withdrawn": self._ended("withdrawn"),
            "anju:Grievance.Merged": self._ended("merged"),
        }

    def wants(self, topic: str) -> bool:
        return topic in self._folds

    def needs(self, fact: Fact) -> Iterable[tuple[str, str]]:
        topic = fact.topic
        if topic == "anju:Household.MandatoryVisitOverdue":
            yield "life_events", fact.data["life_event_id"]
        elif topic.startswith("anju:Household."):
            yield "households", fact.aggregate_id
        elif topic == "anju:Visit.Logged":
            yield "households", fact.data["household_id"]
        elif topic.startswith("anju:Visit."):
            yield "visits", fact.aggregate_id
        elif topic != "anju:Grievance.Filed":
            yield "grievances", fact.aggregate_id

    def apply(self, fact: Fact, rows: Rows) -> None:
        self._folds[fact.topic](fact, rows)
        if fact.topic.startswith("anju:Grievance."):
            rows.change("grievances", fact.aggregate_id, version=fact.version)

    # -- households -------------------------------------------------------------

    @staticmethod
    def _registered(fact: Fact, rows: Rows) -> None:
        data = fact.data
        rows.put(
            "households",
            {
                "id": fact.aggregate_id,
                "community_id": data["community_id"],
                "grid_id": data["grid_id"],
                "contact_cadre_id": None,
                "tags": tag_list(data["tags"]),
                "labour_force": 0,
                "employed": 0,
                "zero_employment": 0,
                "registered_at": fact.recorded,
                "erased": 0,
            },
        )

    @staticmethod
    def _contact_cadre(fact: Fact, rows: Rows) -> None:
        rows.change("households", fact.aggregate_id, contact_cadre_id=fact.data["cadre_id"])

    @staticmethod
    def _moved(fact: Fact, rows: Rows) -> None:
        rows.change("households", fact.aggregate_id, grid_id=fact.data["grid_id"])

    @staticmethod
    def _tags_changed(fact: Fact, rows: Rows) -> None:
        row = rows.get("households", fact.aggregate_id)
        if row is not None:
            tags = (tags_of(row["tags"]) | set(fact.data["added"])) - set(fact.data["removed"])
            rows.change("households", fact.aggregate_id, tags=tag_list(tags))

    @staticmethod
    def _employment(fact: Fact, rows: Rows) -> None:
        labour, employed = fact.data["labour_force"], fact.data["employed"]
        rows.change(
            "households",
            fact.aggregate_id,
            labour_force=labour,
            employed=employed,
            zero_employment=int(labour > 0 and employed == 0),
        )

    @staticmethod
    def _life_event(fact: Fact, rows: Rows) -> None:
        household = rows.get("households", fact.aggregate_id)
        if household is None:
            return
        data = fact.data
        rows.put(
            "life_events",
            {
                "id": data["life_event_id"],
                "household_id": fact.aggregate_id,
                "community_id": household["community_id"],
                "kind": data["kind"],
                "occurred_on": day_text(data["occurred_on"]),
                "visit_due_by": day_text(data["visit_due_by"]),
                "reported_at": fact.recorded,
                "overdue_recorded_at": None,
            },
        )

    @staticmethod
    def _mandatory_overdue(fact: Fact, rows: Rows) -> None:
        rows.change("life_events", fact.data["life_event_id"], overdue_recorded_at=fact.recorded)

    @staticmethod
    def _erased(fact: Fact, rows: Rows) -> None:
        rows.change("households", fact.aggregate_id, erased=1)

    # -- visits -----------------------------------------------------------------

    @staticmethod
    def _visit_logged(fact: Fact, rows: Rows) -> None:
        data = fact.data
        household = rows.get("households", data["household_id"])
        rows.put(
            "visits",
            {
                "id": fact.aggregate_id,
                "household_id": data["household_id"],
                "community_id": household["community_id"] if household else None,
                "visitor_id": data["visitor_id"],
                "visited_at": micros(data["visited_at"]),
                "recorded_at": fact.recorded,
                "channel": data["channel"],
                "purpose": data["purpose"],
                "life_event_id": data.get("life_event_id"),
                "late_logged": int(data["late_logged"]),
                "voided": 0,
                "voided_at": None,
            },
        )

    @staticmethod
    def _visit_voided(fact: Fact, rows: Rows) -> None:
        rows.change("visits", fact.aggregate_id, voided=1, voided_at=fact.recorded)

    # -- grievances -------------------------------------------------------------

    @staticmethod
    def _filed(fact: Fact, rows: Rows) -> None:
        data = fact.data
        row: Row = {
            "id": fact.aggregate_id,
            "household_id": data["household_id"],
            "community_id": data["community_id"],
            "grid_id": data["grid_id"],
            "category": data["category"],
            "urgency": data["urgency"],
            "channel": data["channel"],
            "summary": data["summary"],
            "version": fact.version,
            "status": "filed",
            "level": "grid",
            "assignee_id": None,
            "last_assignee_id": None,
            "received_at": micros(data["received_at"]),
            "filed_at": fact.recorded,
            "respond_by": micros(data["respond_by"]),
            "resolve_by": micros(data["resolve_by"]),
            "first_resolve_by": micros(data["resolve_by"]),
            "extended": 0,
            "urged": 0,
            "respond_missed": 0,
            "resolve_missed": 0,
            "auto_escalations": 0,
            "accepted_at": None,
            "first_resolved_at": None,
            "resolved_at": None,
            "outcome": None,
            "rating": None,
            "solved": None,
            "feedback_via": None,
            "feedback_at": None,
            "reopen_count": 0,
            "ended_at": None,
            "policy_version": data["policy_version"],
        }
        rows.put("grievances", row)

    @staticmethod
    def _assigned(fact: Fact, rows: Rows) -> None:
        assignee = fact.data["assignee_id"]
        rows.change(
            "grievances",
            fact.aggregate_id,
            status="assigned",
            assignee_id=assignee,
            last_assignee_id=assignee,
        )

    @staticmethod
    def _accepted(fact: Fact, rows: Rows) -> None:
        row = rows.change("grievances", fact.aggregate_id, status="in_progress")
        if row is not None and row["accepted_at"] is None:
            row["accepted_at"] = fact.recorded

    @staticmethod
    def _back_to_filed(fact: Fact, rows: Rows) -> None:
        rows.change("grievances", fact.aggregate_id, status="filed", assignee_id=None)

    @staticmethod
    def _escalated(fact: Fact, rows: Rows) -> None:
        rows.change(
            "grievances",
            fact.aggregate_id,
            status="filed",
            assignee_id=None,
            level=fact.data["to_level"],
        )

    @classmethod
    def _auto_escalated(cls, fact: Fact, rows: Rows) -> None:
        cls._escalated(fact, rows)
        row = rows.get("grievances", fact.aggregate_id)
        if row is not None:
            row["auto_escalations"] += 1

    @staticmethod
    def _deadline_passed(fact: Fact, rows: Rows) -> None:
        row = rows.change("grievances", fact.aggregate_id)
        if row is not None:
            row[f"{fact.data['deadline']}_missed"] += 1

    @staticmethod
    def _extended(fact: Fact, rows: Rows) -> None:
        rows.change(
            "grievances", fact.aggregate_id, resolve_by=micros(fact.data["resolve_by"]), extended=1
        )

    @staticmethod
    def _urged(fact: Fact, rows: Rows) -> None:
        row = rows.change("grievances", fact.aggregate_id)
        if row is not None:
            row["urged"] += 1

    @staticmethod
    def _resolved(fact: Fact, rows: Rows) -> None:
        row = rows.change(
            "grievances",
            fact.aggregate_id,
            status="resolved",
            resolved_at=fact.recorded,
            outcome=fact.data["outcome"],
        )
        if row is not None and row["first_resolved_at"] is None:
            row["first_resolved_at"] = fact.recorded

    @staticmethod
    def _feedback(fact: Fact, rows: Rows) -> None:
        data = fact.data
        changes: dict[str, Any] = {
            "rating": data["rating"],
            "solved": int(data["solved"]),
            # Feedback recorded before the field existed came by callback.
            "feedback_via": data.get("via", "callback"),
            "feedback_at": fact.recorded,
        }
        if data["reopened"]:
            changes.update(status="in_progress", resolved_at=None)
        else:
            changes.update(status="closed", ended_at=fact.recorded)
        row = rows.change("grievances", fact.aggregate_id, **changes)
        if row is not None and data["reopened"]:
            row["reopen_count"] += 1

    @staticmethod
    def _ended(status: str) -> Callable[[Fact, Rows], None]:
        def fold(fact: Fact, rows: Rows) -> None:
            rows.change("grievances", fact.aggregate_id, status=status, ended_at=fact.recorded)

        return fold
