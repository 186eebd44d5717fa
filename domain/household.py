"""The household (户): who lives where, what needs attention, who is responsible.

Personal fields (head name, phone, ID number) arrive already sealed by the
application under the household's own key: the domain only ever holds
ciphertext, so events and snapshots never contain them in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.deadlines import mandatory_visit_due_by
from domain.errors import InvalidCommand, StateConflict
from domain.record import (
    EARLIEST_HISTORY_DAY,
    CaseRecord,
    optional_text,
    require_aware,
    require_count,
    require_plausible_day,
    require_text,
)
from domain.vocabulary import HouseholdTag, LifeEventKind, one_of


@dataclass(frozen=True)
class Sealed:
    """Personal data as ciphertext tokens; ``None`` where none was given."""

    head_name: str
    phone: str | None
    id_number: str | None


def address_of(address: dict[str, Any]) -> dict[str, str]:
    """A complete address in the community: building, unit and room."""
    return {
        part: require_text(str(address.get(part) or ""), f"address.{part}", 50)
        for part in ("building", "unit", "room")
    }


def origin_of(origin: dict[str, Any]) -> dict[str, str]:
    """Where the household came from (迁出地): township and village."""
    return {
        part: require_text(str(origin.get(part) or ""), f"origin.{part}", 100)
        for part in ("township", "village")
    }


def tags_of(tags: list[str], field: str = "tags") -> list[str]:
    return sorted({one_of(HouseholdTag, tag, field).value for tag in tags})


class Household(CaseRecord):
    TOPIC = "anju:Household"

    class Event(CaseRecord.Event):
        pass

    class Registered(Event, Aggregate.Created):
        TOPIC = "anju:Household.Registered"
        community_id: str
        grid_id: str
        head_name: str
        phone: str | None
        id_number: str | None
        member_count: int
        address: dict[str, str]
        origin: dict[str, str]
        relocated_on: date
        tags: list[str]

        def apply(self, household: Household) -> None:
            household.community_id = self.community_id
            household.grid_id = self.grid_id
            household.head_name = self.head_name
            household.phone = self.phone
            household.id_number = self.id_number
            household.member_count = self.member_count
            household.address = dict(self.address)
            household.origin = dict(self.origin)
            household.relocated_on = self.relocated_on
            household.tags = sorted(self.tags)
            household.labour_force = 0
            household.employed = 0
            household.contact_cadre_id = None
            household.life_events = {}
            household.erased = False

    Created = Registered

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    class ContactCadreAssigned(Event):
        TOPIC = "anju:Household.ContactCadreAssigned"
        cadre_id: str
        previous_cadre_id: str | None

        def apply(self, household: Household) -> None:
            household.contact_cadre_id = self.cadre_id

    class Moved(Event):
        TOPIC = "anju:Household.Moved"
        grid_id: str
        address: dict[str, str]
        from_grid_id: str

        def apply(self, household: Household) -> None:
            household.grid_id = self.grid_id
            household.address = dict(self.address)

    class TagsChanged(Event):
        TOPIC = "anju:Household.TagsChanged"
        added: list[str]
        removed: list[str]

        def apply(self, household: Household) -> None:
            household.tags = sorted((set(household.tags) | set(self.added)) - set(self.removed))

    class EmploymentRecorded(Event):
        TOPIC = "anju:Household.EmploymentRecorded"
        labour_force: int
        employed: int
        note: str | None

        def apply(self, household: Household) -> None:
            household.labour_force = self.labour_force
            household.employed = self.employed

    class LifeEventReported(Event):
        TOPIC = "anju:Household.LifeEventReported"
        life_event_id: str
        kind: str
        occurred_on: date
        note: str | None
        visit_due_by: date

        def apply(self, household: Household) -> None:
            household.life_events[self.life_event_id] = {
                "kind": self.kind,
                "occurred_on": self.occurred_on,
                "visit_due_by": self.visit_due_by,
            }

    class MandatoryVisitOverdue(Event):
        """No in-person visit answered a life event by its due moment (recorded once)."""

        TOPIC = "anju:Household.MandatoryVisitOverdue"
        life_event_id: str
        due_at: datetime

        def apply(self, household: Household) -> None:
            household.life_events[self.life_event_id]["overdue_recorded"] = True

    class Erased(Event):
        """The household's key was destroyed: its personal data is unreadable everywhere."""

        TOPIC = "anju:Household.Erased"
        legal_basis: str

        def apply(self, household: Household) -> None:
            household.erased = True

    community_id: str
    grid_id: str
    head_name: str  # ciphertext, like phone and id_number
    phone: str | None
    id_number: str | None
    member_count: int
    address: dict[str, str]
    origin: dict[str, str]
    relocated_on: date
    tags: list[str]
    labour_force: int
    employed: int
    contact_cadre_id: str | None
    life_events: dict[str, dict[str, Any]]
    erased: bool

    @classmethod
    def register(
        cls,
        *,
        household_id: UUID,
        community_id: str,
        grid_id: str,
        sealed: Sealed,
        member_count: int,
        address: dict[str, Any],
        origin: dict[str, Any],
        relocated_on: date,
        tags: list[str],
        actor: str,
        now: datetime,
    ) -> Household:
        require_aware(now, "now")
        require_count(member_count, "member_count", 1, 100)
        require_plausible_day(relocated_on, "relocated_on", now.date(), EARLIEST_HISTORY_DAY)
        if relocated_on > now.date():
            raise InvalidCommand("relocated_on cannot be in the future", field="relocated_on")
        return cls._create(
            cls.Registered,
            id=household_id,
            community_id=community_id,
            grid_id=grid_id,
            head_name=sealed.head_name,
            phone=sealed.phone,
            id_number=sealed.id_number,
            member_count=member_count,
            address=address_of(address),
            origin=origin_of(origin),
            relocated_on=relocated_on,
            tags=tags_of(tags),
            actor=actor,
            timestamp=now,
        )

    @property
    def zero_employment(self) -> bool:
        """零就业家庭: labour force but nobody employed."""
        return self.labour_force > 0 and self.employed == 0

    def assign_contact_cadre(self, *, cadre_id: str, actor: str, now: datetime) -> None:
        if cadre_id == self.contact_cadre_id:
            raise StateConflict("that cadre is already the contact cadre", state="unchanged")
        self.record(
            self.ContactCadreAssigned,
            cadre_id=cadre_id,
            previous_cadre_id=self.contact_cadre_id,
            actor=actor,
            now=now,
        )

    def move(self, *, grid_id: str, address: dict[str, Any], actor: str, now: datetime) -> None:
        new_address = address_of(address)
        if grid_id == self.grid_id and new_address == self.address:
            raise StateConflict("the household already lives there", state="unchanged")
        self.record(
            self.Moved,
            grid_id=grid_id,
            address=new_address,
            from_grid_id=self.grid_id,
            actor=actor,
            now=now,
        )

    def change_tags(self, *, add: list[str], remove: list[str], actor: str, now: datetime) -> None:
        added = tags_of(add, "add")
        removed = tags_of(remove, "remove")
        if set(added) & set(removed):
            raise InvalidCommand("a tag cannot be both added and removed", field="add")
        added = [tag for tag in added if tag not in self.tags]
        removed = [tag for tag in removed if tag in self.tags]
        if not added and not removed:
            raise StateConflict("the tags are already so", state="unchanged")
        self.record(self.TagsChanged, added=added, removed=removed, actor=actor, now=now)

    def record_employment(
        self, *, labour_force: int, employed: int, note: str | None, actor: str, now: datetime
    ) -> None:
        require_count(labour_force, "labour_force", 0, 100)
        require_count(employed, "employed", 0, 100)
        if labour_force < 0 or labour_force > self.member_count:
            raise InvalidCommand(
                "labour_force must be between 0 and the member count", field="labour_force"
            )
        if employed < 0 or employed > labour_force:
            raise InvalidCommand("employed must be between 0 and labour_force", field="employed")
        self.record(
            self.EmploymentRecorded,
            labour_force=labour_force,
            employed=employed,
            note=optional_text(note, "note"),
            actor=actor,
            now=now,
        )

    def report_life_event(
        self,
        *,
        life_event_id: str,
        kind: str,
        occurred_on: date,
        note: str | None,
        actor: str,
        now: datetime,
    ) -> date:
        """Record a life event; it creates a mandatory visit (五访) with its due date."""
        the_kind = one_of(LifeEventKind, kind, "kind")
        require_plausible_day(occurred_on, "occurred_on", now.date(), EARLIEST_HISTORY_DAY)
        if occurred_on > now.date():
            raise InvalidCommand("occurred_on cannot be in the future", field="occurred_on")
        self.record(
            self.LifeEventReported,
            life_event_id=life_event_id,
            kind=the_kind.value,
            occurred_on=occurred_on,
            note=optional_text(note, "note"),
            visit_due_by=mandatory_visit_due_by(the_kind, occurred_on),
            actor=actor,
            now=now,
        )
        return self.life_events[life_event_id]["visit_due_by"]  # type: ignore[no-any-return]

    def record_mandatory_visit_overdue(
        self, *, life_event_id: str, due_at: datetime, actor: str, now: datetime
    ) -> bool:
        """Record that a mandatory visit fell overdue; once per life event. Whether it was new."""
        life_event = self.check_has_life_event(life_event_id)
        if life_event.get("overdue_recorded"):
            return False
        self.record(
            self.MandatoryVisitOverdue,
            life_event_id=life_event_id,
            due_at=due_at,
            actor=actor,
            now=now,
        )
        return True

    def erase(self, *, legal_basis: str, actor: str, now: datetime) -> None:
        """Record a lawful erasure (crypto-shredding happens outside, in the key store)."""
        if self.erased:
            raise StateConflict("the household's personal data is already erased", state="erased")
        self.record(
            self.Erased,
            legal_basis=require_text(legal_basis, "legal_basis", 2000),
            actor=actor,
            now=now,
        )

    def check_has_life_event(self, life_event_id: str) -> dict[str, Any]:
        try:
            return self.life_events[life_event_id]
        except KeyError:
            raise InvalidCommand(
                "life_event_id: the household has no life event with this id",
                field="life_event_id",
            ) from None
