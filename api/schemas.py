"""Request bodies, named for their use. Output shapes are the application's views."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

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

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\s/]+$")
]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


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
    building: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    room: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Origin(Body):
    township: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    village: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


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
                    "id_number": "522601198503120027",
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
    head_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    member_count: Annotated[int, Field(ge=1, le=100)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)] | None = None
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)] | None = None
    address: Address
    origin: Origin
    relocated_on: date
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
    labour_force: Annotated[int, Field(ge=0, le=100)]
    employed: Annotated[int, Field(ge=0, le=100)]
    note: Text | None = None


class LifeEventReport(Body):
    kind: LifeEventKind
    occurred_on: date
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
    visited_at: AwareDatetime
    channel: VisitChannel
    purpose: VisitPurpose
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
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
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    description: Text | None = None
    received_at: AwareDatetime | None = None
    visit_id: Identifier | None = None
    parties: Annotated[list[Any], Field(max_length=50)] | None = None


class GrievanceAssign(Body):
    assignee_id: Identifier
    note: Text | None = None


class Empty(Body):
    pass


class NoteText(Body):
    text: Text


class Extension(Body):
    days: Annotated[int, Field(ge=1, le=30)]
    reason: Text


class Urge(Body):
    note: Text


class Resolution(Body):
    resolution: Text
    outcome: Outcome


class Feedback(Body):
    rating: Rating
    solved: bool
    comment: Text | None = None


class CloseNote(Body):
    note: Text


class MergeInto(Body):
    into: Identifier
