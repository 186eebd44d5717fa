"""Where wrapped household keys live: beside the events, but never in an event."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from psycopg import sql
from psycopg_pool import ConnectionPool


class SQLiteKeyStore:
    """A file of its own, so erasing a key never touches the events file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Erased keys must not linger in free pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS household_keys ("
            " household_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL)"
        )

    def put(self, household_id: UUID, wrapped: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO household_keys (household_id, wrapped) VALUES (?, ?)",
                (household_id.hex, wrapped),
            )

    def get(self, household_id: UUID) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT wrapped FROM household_keys WHERE household_id = ?", (household_id.hex,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, household_id: UUID) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM household_keys WHERE household_id = ?", (household_id.hex,)
            )

    def rewrap(self, transform: Callable[[UUID, bytes], bytes]) -> int:
        """Replace every wrapped key by ``transform`` of it, all in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT household_id, wrapped FROM household_keys"
                ).fetchall()
                for household_id, wrapped in rows:
                    self._db.execute(
                        "UPDATE household_keys SET wrapped = ? WHERE household_id = ?",
                        (transform(UUID(household_id), bytes(wrapped)), household_id),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(rows)

    def close(self) -> None:
        self._db.close()


class PostgresKeyStore:
    """A table in the county's schema."""

    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        self._pool = pool
        self._table = sql.Identifier(schema, "household_keys")
        with pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " household_id uuid PRIMARY KEY, wrapped bytea NOT NULL)"
                ).format(self._table)
            )

    def put(self, household_id: UUID, wrapped: bytes) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("INSERT INTO {} (household_id, wrapped) VALUES (%s, %s)").format(
                    self._table
                ),
                (household_id, wrapped),
            )

    def get(self, household_id: UUID) -> bytes | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT wrapped FROM {} WHERE household_id = %s").format(self._table),
                (household_id,),
            ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, household_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE household_id = %s").format(self._table),
                (household_id,),
            )

    def rewrap(self, transform: Callable[[UUID, bytes], bytes]) -> int:
        """Replace every wrapped key by ``transform`` of it, all in one transaction."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                sql.SQL("SELECT household_id, wrapped FROM {} FOR UPDATE").format(self._table)
            ).fetchall()
            for household_id, wrapped in rows:
                conn.execute(
                    sql.SQL("UPDATE {} SET wrapped = %s WHERE household_id = %s").format(
                        self._table
                    ),
                    (transform(household_id, bytes(wrapped)), household_id),
                )
        return len(rows)
