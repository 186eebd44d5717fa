"""Reads the log with its seals, and keeps the signed checkpoints, on PostgreSQL or SQLite.

Verification reads every event once, so on PostgreSQL the rows come as plain
tuples over the binary protocol, in large keyset pages joined to their seals.
A walk from the last checkpoint reads only the rows above the seal below it,
and finds that seal and the newest checkpoint through their primary keys.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg_pool import ConnectionPool

from application.hash_chain import Checkpoint, Sealed
from infrastructure.sealed_recorders import CHECKPOINTS, SEALS

BATCH = 20000
# Below every position a bigint can hold: the lower bound of a walk over the whole log.
LOWEST = -(2**63)
CHECKPOINT_COLUMNS = "position, hash, signed_at, signature, key_id, county"


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    position, seal, signed_at, signature, key_id, county = row
    if isinstance(signed_at, str):
        signed_at = datetime.fromisoformat(signed_at)
    return Checkpoint(int(position), bytes(seal), signed_at, bytes(signature), key_id, county)


class PostgresLedgerStore:
    def __init__(self, pool: ConnectionPool, schema: str, events_table: str) -> None:
        self.pool = pool
        events, seals = sql.Identifier(schema, events_table), sql.Identifier(schema, SEALS)
        self.checkpoints_table = sql.Identifier(schema, CHECKPOINTS)
        self.seals_table = seals
        joined = sql.SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
            " s.hash FROM {} e LEFT JOIN {} s ON s.position = e.notification_id"
        ).format(events, seals)
        after = sql.SQL(" WHERE e.notification_id > %s")
        order = sql.SQL(" ORDER BY e.notification_id LIMIT %s")
        # One pass of a merge join, streamed through a server-side cursor; no lower
        # bound, so a row forged at position 0 or below is seen too.
        self.sealed_query = joined + sql.SQL(
            " WHERE e.notification_id <= %s ORDER BY e.notification_id"
        )
        self.sealed_after_query = joined + sql.SQL(
            " WHERE e.notification_id > %s AND e.notification_id <= %s ORDER BY e.notification_id"
        )
        self.page_query = joined + after + order
        self.aggregate_page_query = joined + after + sql.SQL(" AND e.originator_id = %s") + order
        self.bounds_query = sql.SQL(
            "SELECT GREATEST((SELECT max(notification_id) FROM {}), (SELECT max(position) FROM {}))"
        ).format(events, seals)
        self.orphan_query = sql.SQL(
            "SELECT min(s.position) FROM {} s WHERE s.position > %s AND s.position <= %s"
            " AND NOT EXISTS (SELECT 1 FROM {} e WHERE e.notification_id = s.position)"
        ).format(seals, events)
        self.seal_below_query = sql.SQL(
            "SELECT position, hash FROM {} WHERE position < %s ORDER BY position DESC LIMIT 1"
        ).format(seals)

    def _rows(self, query: sql.Composed, params: Sequence[Any]) -> list[Any]:
        with self.pool.connection() as conn, conn.cursor(binary=True) as cursor:
            rows: list[Any] = cursor.execute(query, params).fetchall()
        return rows

    def bounds(self) -> int:
        return int(self._rows(self.bounds_query, [])[0][0] or 0)

    def sealed(self, until: int, after: int | None = None) -> Iterator[Sealed]:
        query, params = (
            (self.sealed_query, [until])
            if after is None
            else (self.sealed_after_query, [after, until])
        )
        with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="anju_sealed", binary=True) as cursor,
        ):
            cursor.itersize = BATCH
            cursor.execute(query, params)
            while rows := cursor.fetchmany(BATCH):
                yield from rows

    def orphan_seal(self, until: int, after: int | None = None) -> int | None:
        found = self._rows(self.orphan_query, [LOWEST if after is None else after, until])[0][0]
        return None if found is None else int(found)

    def seal_below(self, position: int) -> tuple[int, bytes] | None:
        rows = self._rows(self.seal_below_query, [position])
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def page(self, after: int, limit: int, aggregate_id: UUID | None) -> Sequence[Sealed]:
        if aggregate_id is None:
            return self._rows(self.page_query, [after, limit])
        return self._rows(self.aggregate_page_query, [after, aggregate_id, limit])

    def head(self) -> tuple[int, bytes] | None:
        rows = self._rows(
            sql.SQL("SELECT position, hash FROM {} ORDER BY position DESC LIMIT 1").format(
                self.seals_table
            ),
            [],
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def checkpoints(self) -> list[Checkpoint]:
        query = sql.SQL("SELECT " + CHECKPOINT_COLUMNS + " FROM {} ORDER BY id").format(
            self.checkpoints_table
        )
        return [_checkpoint(row) for row in self._rows(query, [])]

    def latest_checkpoint(self) -> Checkpoint | None:
        query = sql.SQL(
            "SELECT " + CHECKPOINT_COLUMNS + " FROM {} ORDER BY id DESC LIMIT 1"
        ).format(self.checkpoints_table)
        rows = self._rows(query, [])
        return _checkpoint(rows[0]) if rows else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        query = sql.SQL(
            "INSERT INTO {} (" + CHECKPOINT_COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(self.checkpoints_table)
        with self.pool.connection() as conn:
            conn.execute(query, _values(checkpoint))


def _values(checkpoint: Checkpoint) -> tuple[Any, ...]:
    return (
        checkpoint.position,
        checkpoint.hash,
        checkpoint.signed_at,
        checkpoint.signature,
        checkpoint.key_id,
        checkpoint.county,
    )


class SQLiteLedgerStore:
    """The ledger in the county's events file, through a connection of its own."""

    JOINED = (
        "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, s.hash"
        f" FROM stored_events e LEFT JOIN {SEALS} s ON s.position = e.rowid"
    )

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection per call: requests come from many threads."""
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            yield db
        finally:
            db.close()

    def bounds(self) -> int:
        with self._db() as db:
            row = db.execute(
                "SELECT max((SELECT max(rowid) FROM stored_events),"
                f" (SELECT max(position) FROM {SEALS}))"
            ).fetchone()
        return int(row[0] or 0)

    def sealed(self, until: int, after: int | None = None) -> Iterator[Sealed]:
        query, params = self.JOINED + " WHERE e.rowid <= ?", [until]
        if after is not None:
            query, params = query + " AND e.rowid > ?", [until, after]
        with self._db() as db:
            # Without ``after`` no lower bound: a row forged at position 0 or below is seen too.
            cursor = db.execute(query + " ORDER BY e.rowid", params)
            while rows := cursor.fetchmany(BATCH):
                yield from rows

    def orphan_seal(self, until: int, after: int | None = None) -> int | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT min(s.position) FROM {SEALS} s WHERE s.position > ? AND s.position <= ?"
                " AND NOT EXISTS (SELECT 1 FROM stored_events e WHERE e.rowid = s.position)",
                (LOWEST if after is None else after, until),
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def seal_below(self, position: int) -> tuple[int, bytes] | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT position, hash FROM {SEALS} WHERE position < ?"
                " ORDER BY position DESC LIMIT 1",
                (position,),
            ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def page(self, after: int, limit: int, aggregate_id: UUID | None) -> Sequence[Sealed]:
        query, params = self.JOINED + " WHERE e.rowid > ?", list[Any]([after])
        if aggregate_id is not None:
            query += " AND e.originator_id = ?"
            params.append(aggregate_id.hex)
        params.append(limit)
        with self._db() as db:
            return db.execute(query + " ORDER BY e.rowid LIMIT ?", params).fetchall()

    def head(self) -> tuple[int, bytes] | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT position, hash FROM {SEALS} ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        with self._db() as db:
            rows = db.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} ORDER BY id")
            return [_checkpoint(row) for row in rows.fetchall()]

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return _checkpoint(row) if row else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        values = list(_values(checkpoint))
        values[2] = checkpoint.signed_at.isoformat()
        with self._db() as db:
            db.execute(
                f"INSERT INTO {CHECKPOINTS} ({CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
