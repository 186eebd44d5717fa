"""The base of every Anju aggregate: each event names the account that caused it.

The library's own event ``timestamp`` is the recorded time (when the system
learned the fact); the time a fact describes, where there is one, is a field of
its own (``visited_at``, ``occurred_on``, ``received_at``). Command methods take
``now`` from the caller and pass it on as the event's timestamp, so deciding and
recording share one reading of the clock and applying an event never reads it.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta
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


# The earliest day a record may describe; relocations and life events may go back to 1990.
EARLIEST_DAY = date(2000, 1, 1)
EARLIEST_HISTORY_DAY = date(1990, 1, 1)
# How far ahead of the clock a described moment may lie (clocks on phones drift).
FUTURE_SLACK = timedelta(days=1)
# Line breaks and tabs belong in free text; no other control character does.
ALLOWED_CONTROLS = frozenset("\t\n\r")
# Characters that reorder what a reader sees, so that a text can pretend to be another.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def has_control_characters(text: str) -> bool:
    """Whether free text holds a character no person typed: NUL, escapes, bidi overrides."""
    return any(
        (unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS)
        or char in BIDI_CONTROLS
        for char in text
    )


def require_clean_text(text: str, field: str) -> str:
    if has_control_characters(text):
        raise InvalidCommand(f"{field} holds control characters", field=field)
    return text


def require_plausible_moment(value: datetime, field: str, now: datetime) -> datetime:
    """A described moment between 2000-01-01 and a day after ``now``."""
    require_aware(value, field)
    earliest = datetime(2000, 1, 1, tzinfo=value.tzinfo)
    if value < earliest or value > now + FUTURE_SLACK:
        raise InvalidCommand(f"{field} must lie between 2000-01-01 and tomorrow", field=field)
    return value


def require_plausible_day(
    value: date, field: str, today: date, earliest: date = EARLIEST_DAY
) -> date:
    """A described day between ``earliest`` and a day after ``today``."""
    if value < earliest or value > today + FUTURE_SLACK:
        raise InvalidCommand(
            f"{field} must lie between {earliest.isoformat()} and tomorrow", field=field
        )
    return value


class SealedText(str):
    """Free text the application checked in clear, then sealed under a household's key.

    The checks below ran on the clear text before sealing; on the ciphertext they
    would refuse long notes (it is longer than its clear text), so it passes as is.
    """


def require_text(value: str | None, field: str, max_length: int = 10_000) -> str:
    """A non-blank text of bounded length, stripped, without control characters."""
    if isinstance(value, SealedText):
        return value
    text = require_clean_text((value or "").strip(), field)
    if not text:
        raise InvalidCommand(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise InvalidCommand(f"{field} is longer than {max_length} characters", field=field)
    return text


def optional_text(value: str | None, field: str, max_length: int = 10_000) -> str | None:
    if value is None or not value.strip():
        return None
    return require_text(value, field, max_length)


def require_count(value: int, field: str, least: int, most: int) -> int:
    """A whole number in ``least..most``; a boolean is not a number here."""
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise InvalidCommand(f"{field} must be a whole number from {least} to {most}", field=field)
    return value
