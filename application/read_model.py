"""What a read model is: tables, the events it wants, and a fold over batches of them.

A read model never sees SQL. It declares its tables as data, says which rows a
batch of events needs (so they are fetched in one query per table), and folds
each event into plain row dicts. The engine (``application.projections``) and
a store (``infrastructure.read_store``) do the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol
from uuid import UUID

import orjson

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
LOW, HIGH = -(2**63), 2**63 - 1  # what a BIGINT holds
FIRST_FOLDABLE_DAY = date.min + timedelta(days=366)
LAST_FOLDABLE_DAY = date.max - timedelta(days=366)


@dataclass(frozen=True)
class Table:
    """A read-model table: a text key ``id`` and typed columns (``text`` or ``int``)."""

    name: str
    columns: dict[str, str]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return ["id", *self.columns]

    @cached_property
    def _kinds(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        texts = tuple(c for c, kind in self.columns.items() if kind == "text")
        return texts, tuple(c for c, kind in self.columns.items() if kind != "text")

    def refusal(self, row: Row) -> str | None:
        """Why a store could not hold this row (named as PostgreSQL would), or ``None``.

        Both stores refuse alike, so a county folds the same events on either.
        """
        key = row.get("id")
        if key.__class__ is not str or "\x00" in key:
            return "InvalidKey"
        texts, numbers = self._kinds
        for column in texts:
            text = row.get(column)
            if text is not None and (text.__class__ is not str or "\x00" in text):
                return (
                    "DatatypeMismatch" if text.__class__ is not str else "CharacterNotInRepertoire"
                )
        for column in numbers:
            number = row.get(column)
            if number is not None and (number.__class__ is not int or not LOW <= number <= HIGH):
                if number.__class__ is bool:
                    continue
                return (
                    "DatatypeMismatch" if number.__class__ is not int else "NumericValueOutOfRange"
                )
        return None


@dataclass(slots=True)
class Fact:
    """One event as a read model sees it: decoded JSON, times still as transcoded."""

    position: int
    topic: str
    aggregate_id: str
    version: int
    data: dict[str, Any]
    # Why the stored event could not be decoded at all (its data is then empty).
    error: str | None = None

    @property
    def recorded(self) -> int:
        return micros(self.data["timestamp"])

    @classmethod
    def decode(
        cls, position: int, topic: str, aggregate_id: Any, version: int, state: bytes
    ) -> Fact:
        # SQLite gives the ID as hex text, PostgreSQL as a UUID: rows use the hyphenated form.
        key = str(aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id))
        return cls(position, topic, key, version, orjson.loads(state))

    @classmethod
    def read(cls, position: int, topic: str, aggregate_id: Any, version: int, state: bytes) -> Fact:
        """Decode an entry; one that cannot be decoded comes back empty, with the error's type."""
        try:
            fact = cls.decode(position, topic, aggregate_id, version, state)
        except Exception as error:  # any stored bytes at all: an older version wrote them
            return cls(position, topic, str(aggregate_id), version, {}, type(error).__name__)
        if not isinstance(fact.data, dict):
            return cls(position, topic, fact.aggregate_id, version, {}, "DatatypeMismatch")
        return fact


def micros(value: Any) -> int:
    """Microseconds since the epoch of a transcoded datetime (``{"_data_": iso}``) or a datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value["_data_"])
    return (moment - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + value * MICROSECOND


def day_text(value: Any) -> str:
    """A transcoded date (``{"_data_": "2026-11-20"}``) as its ISO text.

    Reports add days to it and turn it into moments: a text that is no date, or a
    day within a year of the calendar's ends, cannot be folded (ValueError).
    """
    day = date.fromisoformat(value if isinstance(value, str) else str(value["_data_"]))
    if not FIRST_FOLDABLE_DAY <= day <= LAST_FOLDABLE_DAY:
        raise ValueError("a day at the edge of the calendar")
    return day.isoformat()


class Rows:
    """The rows one batch reads and writes, per table: fetched once, written once."""

    def __init__(self, fetched: dict[str, dict[str, Row]]) -> None:
        self._rows = fetched
        self._stored = {name: set(rows) for name, rows in fetched.items()}
        self.dirty: dict[str, dict[str, Row]] = {name: {} for name in fetched}

    def get(self, table: str, key: str) -> Row | None:
        return self._rows[table].get(key)

    def put(self, table: str, row: Row) -> None:
        self._rows[table][row["id"]] = row
        self.dirty[table][row["id"]] = row

    def seen(self) -> dict[str, dict[str, Row]]:
        """Every row the batch read or wrote, as it now stands."""
        return self._rows

    def is_new(self, table: str, key: str) -> bool:
        """Whether the row was made in this batch (so it is inserted, not updated)."""
        return key not in self._stored[table]

    def change(self, table: str, key: str, **values: Any) -> Row | None:
        """Update some columns of a row; an event for a row never seen is ignored."""
        row = self.get(table, key)
        if row is None:
            return None
        row.update(values)
        self.dirty[table][key] = row
        return row

    def refusal(self, tables: Sequence[Table]) -> str | None:
        """Why a store could not hold a row this batch writes, or ``None``."""
        for table in tables:
            for row in self.dirty[table.name].values():
                reason = table.refusal(row)
                if reason is not None:
                    return reason
        return None

    def trial(self) -> Trial:
        """Rows over these for one event: kept only if that event folds (``Trial.keep``)."""
        return Trial(self)

    @classmethod
    def empty(cls, tables: Sequence[Table]) -> Rows:
        return cls({table.name: {} for table in tables})


class Trial(Rows):
    """One event's changes over a batch's rows: rows it reads are copied in, so an
    event that fails to fold, or writes a row no store can hold, leaves no trace."""

    def __init__(self, under: Rows) -> None:
        super().__init__({name: {} for name in under.dirty})
        self._under = under

    def get(self, table: str, key: str) -> Row | None:
        mine = self._rows[table]
        if key not in mine:
            found = self._under.get(table, key)
            if found is None:
                return None
            mine[key] = dict(found)
        return mine[key]

    def is_new(self, table: str, key: str) -> bool:
        return self._under.is_new(table, key)

    def keep(self) -> None:
        """Write this event's changes into the rows beneath."""
        for table, rows in self.dirty.items():
            for row in rows.values():
                self._under.put(table, row)


class RowsRefused(Exception):
    """The store could not hold a row of the batch (the batch wrote nothing)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the store refused a row: {reason}")
        self.reason = reason


# One entry of the log as projections read it: position, topic, aggregate ID, version, state.
Entry = tuple[int, str, Any, int, bytes]


class LogReader(Protocol):
    def __call__(self, after: int, limit: int) -> Sequence[Entry]:
        """Up to ``limit`` entries after position ``after``, in log order."""
        ...


class ReadModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[Table]: ...

    def wants(self, topic: str) -> bool: ...

    def needs(self, fact: Fact) -> Iterable[tuple[str, str]]:
        """The (table, key) rows this event reads or updates."""
        ...

    def apply(self, fact: Fact, rows: Rows) -> None: ...


@dataclass(frozen=True)
class Condition:
    """``column op value``; ops: = != in not_in >= < contains (a ``|tag|`` list column)."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class AnyOf:
    """True when every condition of any one group holds."""

    groups: tuple[tuple[Condition | AnyOf | KeyIn, ...], ...]


@dataclass(frozen=True)
class KeyIn:
    """``column`` is the key of a row of ``table`` (same model) meeting ``where``."""

    column: str
    table: str
    where: tuple[Condition, ...]


Where = Sequence[Condition | AnyOf | KeyIn]


def eq(column: str, value: Any) -> Condition:
    return Condition(column, "=", value)


@dataclass
class Tracking:
    """Where a read model's generation stands."""

    model: str
    generation: int
    position: int
    events: int
    live: bool
    layout: str = ""


class ReadStore(Protocol):
    """Tables and tracking positions of read models, in one store (see infrastructure)."""

    def prepare(self, model: ReadModel) -> None:
        """Create the model's bookkeeping and live tables when missing."""
        ...

    def layout(self, model: ReadModel) -> str:
        """The digest of the model's tables as this code declares them."""
        ...

    def tracking(self, model: ReadModel) -> list[Tracking]:
        """The live generation, and the one being rebuilt if any."""
        ...

    def fetch(
        self, model: ReadModel, generation: int, wanted: dict[str, set[str]]
    ) -> dict[str, dict[str, Row]]: ...

    def commit(
        self,
        model: ReadModel,
        generation: int,
        after: int,
        position: int,
        events: int,
        rows: Rows,
        quarantine: Sequence[tuple[int, str]] = (),
    ) -> bool:
        """Write the rows and move the position from ``after`` in one transaction.

        ``quarantine`` lists the events (position, error type) this batch could not
        fold; they are recorded in the same transaction. ``False`` (and nothing
        written) when the position was no longer ``after``: another runner got there
        first. ``RowsRefused`` (and nothing written) when the store cannot hold a row.
        """
        ...

    def quarantined(self, model: ReadModel) -> list[tuple[int, str]]:
        """The events (position, error type) the live generation could not fold."""
        ...

    def begin_rebuild(self, model: ReadModel) -> int:
        """Fresh, empty tables for a new generation at position 0 (or the one under way)."""
        ...

    def switch(self, model: ReadModel, generation: int) -> None:
        """Make a rebuilt generation live and drop the old one's tables."""
        ...

    def select(
        self,
        model: ReadModel,
        table: str,
        where: Where = (),
        order_by: Sequence[str] = ("id",),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]: ...

    def latest(
        self, model: ReadModel, table: str, group: str, value: str, where: Where = ()
    ) -> dict[str, Any]:
        """``max(value)`` per ``group`` over the rows meeting ``where``."""
        ...

    def close(self) -> None: ...
