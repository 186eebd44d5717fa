"""Request bodies, named for their use. Output shapes are the application's views.

Input is refused at the door rather than coerced: strings are not made from
numbers, booleans are not counts, moments are ISO strings with an offset, and no
text carries control characters (identifiers carry no whitespace either). The
domain holds the same rules for every other way in.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from domain.national_id import national_id_problem, normalise_national_id
from domain.record import (
    EARLIEST_DAY,
    EARLIEST_HISTORY_DAY,
    FUTURE_SLACK,
    has_control_characters,
)
from domain.vocabulary import (
    Category,
    HouseholdTag,
    IntakeChannel,
    LifeEventKind,
    Outcome,
    Rating,
    Role,
    Urgency,
    VisitChannel,
    VisitPurpose,
)

INT64_MAX = 2**63 - 1
ISO_DAY_LENGTH = len("2026-11-20")


def clean_text(text: str) -> str:
    """Free text: line breaks and tabs are fine, other control characters are not."""
    if has_control_characters(text):
        raise ValueError("must not hold control characters")
    return text


def plain_identifier(text: str) -> str:
    """An ID or code: no control characters, no direction overrides, no whitespace."""
    if has_control_characters(text) or any(char.isspace() or char < " " for char in text):
        raise ValueError("must not hold whitespace or control characters")
    return text


def written_moment(value: Any) -> Any:
    """A moment is written as an ISO 8601 string; a bare number is no moment."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 datetime string with a UTC offset")
    return value


def written_day(value: Any) -> Any:
    """A day is written ``YYYY-MM-DD``; numbers and datetimes are no days."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) != ISO_DAY_LENGTH:
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def plausible_moment(value: datetime) -> datetime:
    """Between 2000-01-01 and a day after now (the domain checks against its own clock)."""
    earliest = datetime(EARLIEST_DAY.year, 1, 1, tzinfo=value.tzinfo)
    if value < earliest or value > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError("must lie between 2000-01-01 and tomorrow")
    return value


def plausible_day(earliest: date) -> Any:
    def check(value: date) -> date:
        if value < earliest or value > datetime.now(UTC).date() + FUTURE_SLACK:
            raise ValueError(f"must lie between {earliest.isoformat()} and tomorrow")
        return value

    return check


def sized(least: int, most: int) -> StringConstraints:
    """A string (never a number), stripped, of ``least`` to ``most`` characters."""
    return StringConstraints(strict=True, strip_whitespace=True, min_length=least, max_length=most)


Clean = AfterValidator(clean_text)


def national_id(text: str) -> str:
    """Blank (no ID number), or a valid national ID number (GB 11643), ``x`` read as ``X``."""
    if not text:
        return text
    problem = national_id_problem(text, datetime.now(UTC).date() + FUTURE_SLACK)
    if problem is not None:
        raise ValueError(problem)
    return normalise_national_id(text)


NationalId = Annotated[str, sized(0, 30), Clean, AfterValidator(national_id)]


Text = Annotated[str, sized(1, 10_000), Clean]
ShortText = Annotated[str, sized(1, 200), Clean]
Code = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=64, pattern=r"^[^\s/]+$"),
    AfterValidator(plain_identifier),
]
Identifier = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=100),
    AfterValidator(plain_identifier),
]
Moment = Annotated[AwareDatetime, BeforeValidator(written_moment), AfterValidator(plausible_moment)]
HistoryDay = Annotated[
    date, BeforeValidator(written_day), AfterValidator(plausible_day(EARLIEST_HISTORY_DAY))
]


# Parties name people: each a name, or a flat record of a person, never anything deeper.
MAX_PARTIES = 50
MAX_PARTY_NAME = 200
MAX_PARTY_FIELDS = 50
MAX_PARTY_KEY = 100
MAX_PARTY_VALUE = 2000


def party_shape(parties: list[Any]) -> list[Any]:
    """Each party a name (a string) or a flat object of string keys to plain values."""
    for index, party in enumerate(parties):
        if isinstance(party, str):
            check_party_text(party, f"parties[{index}]", MAX_PARTY_NAME)
        elif isinstance(party, dict):
            if len(party) > MAX_PARTY_FIELDS:
                raise ValueError(f"parties[{index}] has more than {MAX_PARTY_FIELDS} fields")
            for key, value in party.items():
                check_party_text(key, f"parties[{index}] key", MAX_PARTY_KEY)
                check_party_value(value, f"parties[{index}] value")
        else:
            raise ValueError(f"parties[{index}] must be a string or a flat object")
    return parties


def check_party_text(text: Any, where: str, most: int) -> None:
    if not isinstance(text, str) or not text.strip() or len(text) > most:
        raise ValueError(f"{where} must be a text of 1 to {most} characters")
    if has_control_characters(text):
        raise ValueError(f"{where} must not hold control characters")


def check_party_value(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) <= INT64_MAX:
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    if isinstance(value, str):
        if len(value) > MAX_PARTY_VALUE or has_control_characters(value):
            raise ValueError(f"{where} must be a text of at most {MAX_PARTY_VALUE} characters")
        return
    raise ValueError(f"{where} must be a string, a number, true, false or null")


Parties = Annotated[list[Any], Field(max_length=MAX_PARTIES), AfterValidator(party_shape)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommunityCreate(Body):
    id: Code
    name: ShortText
    township: ShortText
    county: ShortText


class GridCreate(Body):
    id: Code
    name: ShortText


class AccountCreate(Body):
    username: Code
    display_name: ShortText
    role: Role
    community_id: Code | None = None
    grid_id: Code | None = None
    township: ShortText | None = None


class Address(Body):
    building: Annotated[str, sized(1, 50), Clean]
    unit: Annotated[str, sized(1, 50), Clean]
    room: Annotated[str, sized(1, 50), Clean]


class Origin(Body):
    township: Annotated[str, sized(1, 100), Clean]
    village: Annotated[str, sized(1, 100), Clean]


class HouseholdRegister(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "community_id": "xingfu",
                    "grid_id": "g1",
                    "head_name": "王秀英",
                    "member_count": 4,
                    "phone": "13812345678",
                    "id_number": "522601198503150027",
                    "address": {"building": "3", "unit": "2", "room": "501"},
                    "origin": {"township": "雷山镇", "village": "乌东村"},
                    "relocated_on": "2019-06-15",
                    "tags": ["low_income"],
                }
            ]
        },
    )
    community_id: Code
    grid_id: Code
    head_name: Annotated[str, sized(1, 100), Clean]
    member_count: Annotated[int, Field(strict=True, ge=1, le=100)]
    phone: Annotated[str, sized(0, 30), Clean] | None = None
    id_number: NationalId | None = None
    address: Address
    origin: Origin
    relocated_on: HistoryDay
    tags: list[HouseholdTag] = []


class Erasure(Body):
    legal_basis: Text


class ContactCadreAssign(Body):
    cadre_id: Identifier


class HouseholdMove(Body):
    grid_id: Code
    address: Address


class TagsChange(Body):
    add: list[HouseholdTag] = []
    remove: list[HouseholdTag] = []


class EmploymentRecord(Body):
    labour_force: Annotated[int, Field(strict=True, ge=0, le=100)]
    employed: Annotated[int, Field(strict=True, ge=0, le=100)]
    note: Text | None = None


class LifeEventReport(Body):
    kind: LifeEventKind
    occurred_on: HistoryDay
    note: Text | None = None


class VisitLog(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "household_id": "0b7f1c8e-3f7a-4a53-9a51-0c2f3c1d9a10",
                    "visited_at": "2026-11-20T09:30:00+08:00",
                    "channel": "in_person",
                    "purpose": "routine",
                    "notes": "老人身体尚好，反映楼道灯坏了",
                }
            ]
        },
    )
    household_id: Identifier
    visited_at: Moment
    channel: VisitChannel
    purpose: VisitPurpose
    notes: Annotated[str, sized(0, 10_000), Clean]
    life_event_id: Identifier | None = None
    grievance_id: Identifier | None = None


class VisitAmend(Body):
    notes: Text
    reason: Text


class Reason(Body):
    reason: Text


class GrievanceFile(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "household_id": "0b7f1c8e-3f7a-4a53-9a51-0c2f3c1d9a10",
                    "category": "facilities",
                    "urgency": "urgent",
                    "channel": "visit",
                    "summary": "3栋2单元电梯停运两天",
                    "received_at": "2026-11-20T09:30:00+08:00",
                }
            ]
        },
    )
    household_id: Identifier
    category: Category
    urgency: Urgency
    channel: IntakeChannel
    summary: Annotated[str, sized(1, 500), Clean]
    description: Text | None = None
    received_at: Moment | None = None
    visit_id: Identifier | None = None
    parties: Parties | None = None


class GrievanceAssign(Body):
    assignee_id: Identifier
    note: Text | None = None


class Empty(Body):
    pass


class NoteText(Body):
    text: Text


class Extension(Body):
    days: Annotated[int, Field(strict=True, ge=1, le=30)]
    reason: Text


class Urge(Body):
    note: Text


class Resolution(Body):
    resolution: Text
    outcome: Outcome


class Feedback(Body):
    rating: Rating
    solved: Annotated[bool, Field(strict=True)]
    comment: Text | None = None


class CloseNote(Body):
    note: Text


class MergeInto(Body):
    into: Identifier
