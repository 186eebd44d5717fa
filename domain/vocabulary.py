"""The closed word lists of the domain."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from domain.errors import InvalidCommand


class Role(StrEnum):
    CADRE = "cadre"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class HouseholdTag(StrEnum):
    LOW_INCOME = "low_income"
    ELDERLY_ALONE = "elderly_alone"
    LEFT_BEHIND_CHILDREN = "left_behind_children"
    DISABILITY = "disability"
    NO_LABOUR = "no_labour"
    PARTY_MEMBER = "party_member"


class LifeEventKind(StrEnum):
    WEDDING = "wedding"
    FUNERAL = "funeral"
    ILLNESS = "illness"
    FAMILY_CHANGE = "family_change"
    DISPUTE = "dispute"
    DISASTER = "disaster"


class VisitChannel(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    ONLINE = "online"


class VisitPurpose(StrEnum):
    ROUTINE = "routine"
    MANDATORY = "mandatory"
    FOLLOW_UP = "follow_up"


class GrievanceStatus(StrEnum):
    FILED = "filed"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


OPEN_STATUSES = frozenset(
    {GrievanceStatus.FILED, GrievanceStatus.ASSIGNED, GrievanceStatus.IN_PROGRESS}
)


class Level(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    TOWNSHIP = "township"
    COUNTY = "county"

    def next_up(self) -> Level | None:
        order = list(Level)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    NORMAL = "normal"
    COMPLEX = "complex"


class Category(StrEnum):
    EMPLOYMENT = "employment"
    HOUSING = "housing"
    ENVIRONMENT = "environment"
    SAFETY = "safety"
    NEIGHBOUR_DISPUTE = "neighbour_dispute"
    SOCIAL_ASSISTANCE = "social_assistance"
    EDUCATION = "education"
    HEALTH = "health"
    FACILITIES = "facilities"
    POLICY = "policy"
    OTHER = "other"


class IntakeChannel(StrEnum):
    VISIT = "visit"
    WALK_IN = "walk_in"
    HOTLINE = "hotline"
    ONLINE = "online"
    OPINION_BOX = "opinion_box"
    WECHAT = "wechat"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    EXPLAINED = "explained"
    NOT_SUPPORTED = "not_supported"


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class FeedbackVia(StrEnum):
    """Which way a resident's verdict reached the record (回访)."""

    CALLBACK = "callback"  # a supervisor or another cadre called the resident
    RESIDENT_LINK = "resident_link"  # the resident answered a one-time link


E = TypeVar("E", bound=StrEnum)


def one_of(enum: type[E], value: str, field: str) -> E:
    """The enum member named by ``value``, or an ``InvalidCommand`` naming the field."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidCommand(f"{field} must be one of: {allowed}", field=field) from None
