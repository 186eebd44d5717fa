"""Read-model tables and tracking positions, in SQLite or in the county's Postgres schema.

Both stores share the SQL below; they differ in placeholders, in how a list is
passed (``IN (?, ?)`` against ``= ANY(%s)``) and in how a batch is written
(``executemany`` against one ``unnest`` statement per table). A model's tables
are named by generation (``rm_casework_2_visits``), so a rebuild fills new
tables beside the live ones and a switch is one row changed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from application.read_model import (
    AnyOf,
    Condition,
    KeyIn,
    ReadModel,
    Row,
    Rows,
    RowsRefused,
    Table,
    Tracking,
    Where,
)

BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS {generations} ("
    " model TEXT PRIMARY KEY, live INTEGER NOT NULL, building INTEGER)",
    "CREATE TABLE IF NOT EXISTS {tracking} ("
    " model TEXT NOT NULL, generation INTEGER NOT NULL, position BIGINT NOT NULL,"
    " events BIGINT NOT NULL, layout TEXT NOT NULL,"
    " PRIMARY KEY (model, generation))",
    # Events a generation could not fold: where and why, never what they held.
    "CREATE TABLE IF NOT EXISTS {quarantine} ("
    " model TEXT NOT NULL, generation INTEGER NOT NULL, position BIGINT NOT NULL,"
    " error TEXT NOT NULL, PRIMARY KEY (model, generation, position))",
)
# What a driver raises for a value its store cannot hold (a batch whose rows passed
# ``Table.refusal`` should never meet one): the batch is then folded event by event.
DATA_ERRORS = (
    psycopg.DataError,
    sqlite3.DataError,
    OverflowError,
    ValueError,
    TypeError,
)
SQL_TYPES = {"text": "TEXT", "int": "BIGINT"}
OPERATORS = {"=": "=", "!=": "<>", ">=": ">=", "<": "<", "<=": "<=", ">": ">"}


class Rollback(Exception):
    """The batch lost its race: nothing of it is written."""


class SQLReadStore:
    """What both stores share; subclasses supply connections and dialect."""

    placeholder = "?"

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix  # "" for SQLite, '"schema".' for Postgres
        self._generations = self.qualified("rm_generations")
        self._tracking = self.qualified("rm_tracking")
        self._quarantine = self.qualified("rm_quarantine")

    def qualified(self, name: str) -> str:
        return f'{self._prefix}"{name}"'

    def table_name(self, model: ReadModel, generation: int, table: str) -> str:
        return self.qualified(f"rm_{model.name}_{generation}_{table}")

    # -- dialect --------------------------------------------------------------------

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def lock_bookkeeping(self, cursor: Any) -> None:
        """Serialise schema changes between processes (Postgres only)."""

    def member_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        marks = ", ".join(self.placeholder for _ in values)
        return f"{column} IN ({marks})", list(values)

    def contains(self, column: str) -> str:
        return f"instr({column}, {self.placeholder}) > 0"

    def write_rows(
        self, cursor: Any, name: str, table: Table, new: list[Row], changed: list[Row]
    ) -> None:
        columns = table.column_names
        names = ", ".join(columns)
        marks = ", ".join(self.placeholder for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        cursor.executemany(
            f"INSERT INTO {name} ({names}) VALUES ({marks})"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            [[row.get(c) for c in columns] for row in [*new, *changed]],
        )

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    # -- bookkeeping ----------------------------------------------------------------

    def prepare(self, model: ReadModel) -> None:
        with self.transaction() as cursor:
            self.lock_bookkeeping(cursor)
            for statement in BOOKKEEPING:
                cursor.execute(
                    statement.format(
                        generations=self._generations,
                        tracking=self._tracking,
                        quarantine=self._quarantine,
                    )
                )
            cursor.execute(
                self.sql(f"SELECT live FROM {self._generations} WHERE model = ?"), [model.name]
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    self.sql(f"INSERT INTO {self._generations} (model, live) VALUES (?, 1)"),
                    [model.name],
                )
                self._create_generation(cursor, model, 1)
                self._create_indexes(cursor, model, 1)

    def layout(self, model: ReadModel) -> str:
        return layout_of(model)

    def _create_generation(self, cursor: Any, model: ReadModel, generation: int) -> None:
        for table in model.tables:
            name = self.table_name(model, generation, table.name)
            columns = ", ".join(f"{c} {SQL_TYPES[t]}" for c, t in table.columns.items())
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(f"CREATE TABLE {name} (id TEXT PRIMARY KEY, {columns})")
        self._forget_quarantine(cursor, model, generation)
        cursor.execute(
            self.sql(
                f"INSERT INTO {self._tracking}"
                " (model, generation, position, events, layout)"
                " VALUES (?, ?, 0, 0, ?)"
            ),
            [model.name, generation, layout_of(model)],
        )

    def _create_indexes(self, cursor: Any, model: ReadModel, generation: int) -> None:
        """Query indexes; a rebuild adds them only when it is done, as bulk loads go faster."""
        for table in model.tables:
            name = self.table_name(model, generation, table.name)
            for number, index in enumerate(table.indexes):
                index_name = f"rm_{model.name}_{generation}_{table.name}_{number}"
                cursor.execute(
                    f'CREATE INDEX IF NOT EXISTS "{index_name}" ON {name} ({", ".join(index)})'
                )

    def tracking(self, model: ReadModel) -> list[Tracking]:
        with self.transaction(write=False) as cursor:
            cursor.execute(
                self.sql(
                    f"SELECT t.generation, t.position, t.events, g.live, t.layout"
                    f" FROM {self._tracking} t JOIN {self._generations} g ON g.model = t.model"
                    f" WHERE t.model = ? AND (t.generation = g.live OR t.generation = g.building)"
                    f" ORDER BY t.generation"
                ),
                [model.name],
            )
            return [
                Tracking(model.name, gen, pos, events, gen == live, layout)
                for gen, pos, events, live, layout in cursor.fetchall()
            ]

    def begin_rebuild(self, model: ReadModel) -> int:
        with self.transaction() as cursor:
            self.lock_bookkeeping(cursor)
            cursor.execute(
                self.sql(f"SELECT live, building FROM {self._generations} WHERE model = ?"),
                [model.name],
            )
            live, building = cursor.fetchone()
            if building is not None:
                cursor.execute(
                    self.sql(
                        f"SELECT layout FROM {self._tracking} WHERE model = ? AND generation = ?"
                    ),
                    [model.name, building],
                )
                if cursor.fetchone()[0] == layout_of(model):
                    return int(building)  # a rebuild under way (perhaps interrupted) goes on
            generation = int(building or live) + 1
            if building is not None:  # begun by code with other tables: start again
                self._drop_generation(cursor, model, int(building))
            cursor.execute(
                self.sql(f"DELETE FROM {self._tracking} WHERE model = ? AND generation = ?"),
                [model.name, generation],
            )
            self._create_generation(cursor, model, generation)
            cursor.execute(
                self.sql(f"UPDATE {self._generations} SET building = ? WHERE model = ?"),
                [generation, model.name],
            )
            return generation

    def switch(self, model: ReadModel, generation: int) -> None:
        with self.transaction() as cursor:
            self.lock_bookkeeping(cursor)
            cursor.execute(
                self.sql(f"SELECT live, building FROM {self._generations} WHERE model = ?"),
                [model.name],
            )
            live, building = cursor.fetchone()
            if building != generation:
                return
            self._create_indexes(cursor, model, generation)
            cursor.execute(
                self.sql(
                    f"UPDATE {self._generations} SET live = ?, building = NULL WHERE model = ?"
                ),
                [generation, model.name],
            )
            self._drop_generation(cursor, model, int(live))

    def _forget_quarantine(self, cursor: Any, model: ReadModel, generation: int) -> None:
        cursor.execute(
            self.sql(f"DELETE FROM {self._quarantine} WHERE model = ? AND generation = ?"),
            [model.name, generation],
        )

    def _drop_generation(self, cursor: Any, model: ReadModel, generation: int) -> None:
        self._forget_quarantine(cursor, model, generation)
        cursor.execute(
            self.sql(f"DELETE FROM {self._tracking} WHERE model = ? AND generation = ?"),
            [model.name, generation],
        )
        for table in model.tables:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table_name(model, generation, table.name)}")

    def live_generation(self, cursor: Any, model: ReadModel) -> int:
        cursor.execute(
            self.sql(f"SELECT live FROM {self._generations} WHERE model = ?"), [model.name]
        )
        return int(cursor.fetchone()[0])

    # -- batches --------------------------------------------------------------------

    def fetch(
        self, model: ReadModel, generation: int, wanted: dict[str, set[str]]
    ) -> dict[str, dict[str, Row]]:
        found: dict[str, dict[str, Row]] = {table.name: {} for table in model.tables}
        with self.transaction(write=False) as cursor:
            for table in model.tables:
                keys = sorted(wanted.get(table.name, ()))
                for chunk in chunks(keys, 5000):
                    condition, params = self.member_of("id", chunk)
                    name = self.table_name(model, generation, table.name)
                    columns = table.column_names
                    cursor.execute(
                        f"SELECT {', '.join(columns)} FROM {name} WHERE {condition}", params
                    )
                    for values in cursor.fetchall():
                        found[table.name][values[0]] = dict(zip(columns, values, strict=True))
        return found

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
        try:
            with self.transaction() as cursor:
                cursor.execute(
                    self.sql(
                        f"UPDATE {self._tracking} SET position = ?, events = events + ?"
                        f" WHERE model = ? AND generation = ? AND position = ?"
                    ),
                    [position, events, model.name, generation, after],
                )
                if cursor.rowcount != 1:
                    raise Rollback
                for table in model.tables:
                    dirty = rows.dirty[table.name]
                    if dirty:
                        name = self.table_name(model, generation, table.name)
                        new = [row for key, row in dirty.items() if rows.is_new(table.name, key)]
                        changed = [
                            row for key, row in dirty.items() if not rows.is_new(table.name, key)
                        ]
                        self.write_rows(cursor, name, table, new, changed)
                if quarantine:
                    cursor.executemany(
                        self.sql(
                            f"INSERT INTO {self._quarantine} (model, generation, position, error)"
                            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
                        ),
                        [[model.name, generation, at, error] for at, error in quarantine],
                    )
        except Rollback:
            return False
        except DATA_ERRORS as error:
            raise RowsRefused(type(error).__name__) from error
        return True

    def quarantined(self, model: ReadModel) -> list[tuple[int, str]]:
        with self.transaction(write=False) as cursor:
            generation = self.live_generation(cursor, model)
            cursor.execute(
                self.sql(
                    f"SELECT position, error FROM {self._quarantine}"
                    " WHERE model = ? AND generation = ? ORDER BY position"
                ),
                [model.name, generation],
            )
            return [(int(position), str(error)) for position, error in cursor.fetchall()]

    # -- queries --------------------------------------------------------------------

    def select(
        self,
        model: ReadModel,
        table: str,
        where: Where = (),
        order_by: Sequence[str] = ("id",),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]:
        spec = table_of(model, table)
        columns = spec.column_names
        with self.transaction(write=False) as cursor:
            generation = self.live_generation(cursor, model)
            clause, params = self.where(model, generation, spec, where)
            order = ", ".join(order_term(spec, term) for term in order_by)
            text = (
                f"SELECT {', '.join(columns)} FROM {self.table_name(model, generation, table)}"
                f" WHERE {clause} ORDER BY {order}"
            )
            if limit is not None:
                text += f" LIMIT {int(limit)} OFFSET {int(offset)}"
            cursor.execute(text, params)
            return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]

    def latest(
        self, model: ReadModel, table: str, group: str, value: str, where: Where = ()
    ) -> dict[str, Any]:
        spec = table_of(model, table)
        check_columns(spec, [group, value])
        with self.transaction(write=False) as cursor:
            generation = self.live_generation(cursor, model)
            clause, params = self.where(model, generation, spec, where)
            cursor.execute(
                f"SELECT {group}, MAX({value}) FROM {self.table_name(model, generation, table)}"
                f" WHERE {clause} GROUP BY {group}",
                params,
            )
            return dict(cursor.fetchall())

    def where(
        self, model: ReadModel, generation: int, table: Table, where: Where
    ) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for condition in where:
            text, values = self.condition(model, generation, table, condition)
            parts.append(text)
            params.extend(values)
        return (" AND ".join(parts) or "1 = 1"), params

    def condition(
        self, model: ReadModel, generation: int, table: Table, condition: Condition | AnyOf | KeyIn
    ) -> tuple[str, list[Any]]:
        if isinstance(condition, AnyOf):
            texts, params = [], []
            for group in condition.groups:
                text, values = self.where(model, generation, table, group)
                texts.append(f"({text})")
                params.extend(values)
            return "(" + (" OR ".join(texts) or "1 = 0") + ")", params
        if isinstance(condition, KeyIn):
            check_columns(table, [condition.column])
            inner = table_of(model, condition.table)
            text, params = self.where(model, generation, inner, condition.where)
            name = self.table_name(model, generation, condition.table)
            return f"{condition.column} IN (SELECT id FROM {name} WHERE {text})", params
        return self.compare(table, condition)

    def compare(self, table: Table, condition: Condition) -> tuple[str, list[Any]]:
        column, op, value = condition.column, condition.op, condition.value
        check_columns(table, [column])
        if op in ("in", "not_in"):
            values = list(value)
            if not values:
                return ("1 = 0" if op == "in" else "1 = 1"), []
            text, params = self.member_of(column, values)
            return (text if op == "in" else f"NOT ({text})"), params
        if op == "contains":
            return self.contains(column), [value]
        if value is None and op in ("=", "!="):
            return f"{column} IS {'NOT ' if op == '!=' else ''}NULL", []
        return f"{column} {OPERATORS[op]} {self.placeholder}", [value]


class SQLiteReadStore(SQLReadStore):
    """Read models in a file of their own beside the events file."""

    def __init__(self, path: Path | str) -> None:
        super().__init__("")
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._db.cursor()
            # Writers take the file's write lock up front; readers never block them.
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def close(self) -> None:
        self._db.close()


class PostgresReadStore(SQLReadStore):
    """Read models in the county's schema, beside its events."""

    placeholder = "%s"

    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        super().__init__(f'"{schema}".')
        self._pool = pool
        self._schema = schema

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield cursor

    def lock_bookkeeping(self, cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{self._schema}.rm"])

    def member_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%b)", [list(values)]

    def contains(self, column: str) -> str:
        return f"strpos({column}, %s) > 0"

    def write_rows(
        self, cursor: Any, name: str, table: Table, new: list[Row], changed: list[Row]
    ) -> None:
        """New rows by COPY; changed rows in one UPDATE with the columns as arrays."""
        columns = table.column_names
        types = ["text", *(SQL_TYPES[t].lower() for t in table.columns.values())]
        if new:
            statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.set_types(types)
                for row in new:
                    copy.write_row([row.get(c) for c in columns])
        if changed:
            arrays = ", ".join(f"%b::{t}[]" for t in types)  # binary: no quoting of each value
            updates = ", ".join(f"{c} = v.{c}" for c in columns[1:])
            cursor.execute(
                f"UPDATE {name} AS t SET {updates}"
                f" FROM unnest({arrays}) AS v({', '.join(columns)}) WHERE t.id = v.id",
                [[row.get(c) for row in changed] for c in columns],
            )

    def close(self) -> None:
        """The pool belongs to the county and is closed with it."""


def layout_of(model: ReadModel) -> str:
    """A digest of the model's tables, columns and indexes: tables built to another
    layout are rebuilt before use."""
    text = repr([(t.name, sorted(t.columns.items()), t.indexes) for t in model.tables])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_of(model: ReadModel, name: str) -> Table:
    for table in model.tables:
        if table.name == name:
            return table
    raise KeyError(f"read model {model.name} has no table {name}")


def check_columns(table: Table, columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c != "id" and c not in table.columns]
    if unknown:
        raise KeyError(f"table {table.name} has no column {unknown[0]}")


def order_term(table: Table, term: str) -> str:
    column = term.lstrip("-")
    check_columns(table, [column])
    return f"{column} DESC" if term.startswith("-") else column


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
