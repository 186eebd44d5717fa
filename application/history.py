"""Every event of one aggregate, and the aggregate as it stood at a past moment.

History shows each fact with its actor, recorded time and data. Personal data
in it is revealed, masked or hidden by the same rule as everywhere else; free
text written about a household is shown to whoever may read the history, and
is null once the household is erased.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from application.access import Disclosure
from application.casebook import Casebook, parse_id
from application.errors import NotFound
from application.free_text import FreeText, free_text_fields
from application.masking import mask_id_number, mask_name, mask_phone
from application.ports import PersonalDataVault
from domain.errors import InvalidCommand

A = TypeVar("A", bound=Aggregate)

ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
MASKS: dict[str, Callable[[str], str]] = {
    "head_name": mask_name,
    "phone": mask_phone,
    "id_number": mask_id_number,
    "parties": lambda _: "***",
}


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    event_type: str
    recorded_at: datetime
    actor: str
    data: dict[str, Any]


class History:
    def __init__(self, book: Casebook, vault: PersonalDataVault) -> None:
        self.book = book
        self.vault = vault
        self.texts = FreeText(vault)
        self._households_of_cases: dict[UUID, UUID] = {}

    def events(self, aggregate_id: str, kind: str) -> list[Any]:
        key = parse_id(aggregate_id)
        events = list(self.book.events.get(key)) if key else []
        if not events:
            raise NotFound(kind, aggregate_id)
        return events

    def as_of(self, cls: type[A], aggregate_id: str, kind: str, moment: datetime) -> A:
        """The aggregate from only the events recorded at or before ``moment``."""
        if moment.tzinfo is None:
            raise InvalidCommand("as_of must carry a UTC offset", field="as_of")
        aggregate: Any = None
        for event in self.events(aggregate_id, kind):
            if event.timestamp > moment:
                break
            aggregate = event.mutate(aggregate)
        if not isinstance(aggregate, cls):
            raise NotFound(kind, f"{aggregate_id} as of {moment.isoformat()}")
        return aggregate

    def entries(
        self, events: list[Any], household_id: UUID | None, disclosure: Disclosure
    ) -> list[HistoryEntry]:
        return [
            HistoryEntry(
                version=event.originator_version,
                event_type=type(event).TOPIC.removeprefix("anju:"),
                recorded_at=event.timestamp,
                actor=event.actor,
                data=self.data(event, household_id, disclosure),
            )
            for event in events
        ]

    def data(self, event: Any, household_id: UUID | None, disclosure: Disclosure) -> dict[str, Any]:
        texts = free_text_fields(event)
        if texts and household_id is None:
            household_id = self.household_of(event)
        data = {}
        for name, value in vars(event).items():
            if name in ENVELOPE:
                continue
            if name in MASKS and isinstance(value, str) and household_id is not None:
                value = self.reveal(household_id, name, value, disclosure)
            elif name in texts:
                # A text whose household cannot be told is shown as nothing, never as stored.
                value = self.texts.reveal(household_id, value) if household_id else None
            data[name] = plain(value)
        return data

    def household_of(self, event: Any) -> UUID | None:
        """The household an event of a household, visit or case is about (whose key seals it)."""
        if type(event).TOPIC.startswith("anju:Household."):
            return UUID(str(event.originator_id))
        if getattr(event, "household_id", None):
            return UUID(str(event.household_id))
        key = event.originator_id
        if key not in self._households_of_cases:
            try:
                aggregate: Any = self.book.repository.get(key)
            except AggregateNotFoundError:
                return None
            self._households_of_cases[key] = UUID(str(aggregate.household_id))
        return self._households_of_cases[key]

    def reveal(self, household_id: UUID, field: str, token: str, disclosure: Disclosure) -> Any:
        if disclosure is Disclosure.HIDDEN:
            return None
        clear = self.vault.unseal(household_id, token)
        if clear is None:
            return None
        if disclosure is Disclosure.CLEAR:
            return parties_from(clear) if field == "parties" else clear
        return MASKS[field](clear)


def parties_from(text: str | None) -> list[Any] | None:
    """Parties as a list of names or flat records; what nests deeper is shown as null.

    Older versions accepted parties of any shape (even nested hundreds of levels),
    so what the log holds is rendered within the shape accepted today, never refused.
    """
    if text is None:
        return None
    try:
        parties = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parties, list):
        return None
    return [party_of(item) for item in parties]


def party_of(item: Any) -> Any:
    if isinstance(item, dict):
        return {str(key): value if is_scalar(value) else None for key, value in item.items()}
    return item if is_scalar(item) else None


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
