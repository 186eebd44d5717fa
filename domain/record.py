"""The base of every Anju aggregate: each event names the account that caused it.

The library's own event ``timestamp`` is the recorded time (when the system
learned the fact); the time a fact describes, where there is one, is a field of
its own (``visited_at``, ``occurred_on``, ``received_at``). Command methods take
``now`` from the caller and pass it on as the event's timestamp, so deciding and
recording share one reading of the clock and applying an event never reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand

# Names deterministic IDs (uuid5) so that a natural key can exist only once.
ANJU_NAMESPACE = uuid5(NAMESPACE_URL, "https://anju.example/ids")


def natural_id(kind: str, key: str) -> UUID:
    """The one aggregate ID for a natural key (a community code, a username)."""
    return uuid5(ANJU_NAMESPACE, f"{kind}:{key}")


class CaseRecord(Aggregate):
    """An aggregate whose events record their actor."""

    class Event(Aggregate.Event):
        actor: str

    def record(self, event_class: type[Any], *, actor: str, now: datetime, **fields: Any) -> None:
        """Trigger ``event_class`` with its actor, recorded at ``now``."""
        require_aware(now, "now")
        self.trigger_event(event_class, actor=actor, timestamp=now, **fields)


def require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidCommand(f"{field} must carry a UTC offset", field=field)


def require_text(value: str | None, field: str, max_length: int = 10_000) -> str:
    """A non-blank text of bounded length, stripped."""
    text = (value or "").strip()
    if not text:
        raise InvalidCommand(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise InvalidCommand(f"{field} is longer than {max_length} characters", field=field)
    return text


def optional_text(value: str | None, field: str, max_length: int = 10_000) -> str | None:
    if value is None or not value.strip():
        return None
    return require_text(value, field, max_length)
