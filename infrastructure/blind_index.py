"""The keyed blind index of national ID numbers: who holds a number, without the number.

Each entry is HMAC-SHA256 of the normalised ID number under the blind-index key
(``ANJU_BLIND_INDEX_KEY``, or else a random key kept in the key store wrapped by
the master key; never the master key itself, never in clear). Without that key the digests cannot be tested against guessed
numbers, as a plain hash of an 18-character ID could be. The digest is the
primary key, so two households can never hold one number; erasing a household
deletes its entry, after which the number matches nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
from pathlib import Path
from uuid import UUID

from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.national_id import normalise_national_id
from infrastructure.vault import load_key

# Where the blind-index key is kept in the key store when no setting names one.
BLIND_INDEX_KEY_ID = UUID("6e1d6f1c-8a8b-5b1e-9c43-0b1a2d5e7f10")


class BlindIndexKeyError(Exception):
    pass


def load_blind_index_key(value: str | None, path: Path | None) -> bytes:
    """The blind-index key (base64 of 32 bytes) from text or a file holding it."""
    return load_key(
        value, path, name="blind-index key", setting="ANJU_BLIND_INDEX_KEY", error=BlindIndexKeyError
    )


def blind_digest(key: bytes, id_number: str) -> str:
    """HMAC-SHA256 of the normalised ID number, as hex."""
    message = b"anju-id-number:" + normalise_national_id(id_number).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class SQLiteIdNumberIndex:
    """Implements ``application.ports.IdNumberIndex`` in a file of its own."""

    def __init__(self, path: Path, key: bytes) -> None:
        self._key = key
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # A released entry must not linger in free pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS id_number_index ("
            " digest TEXT PRIMARY KEY, household_id TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS id_number_index_household ON id_number_index (household_id)"
        )

    def claim(self, id_number: str, household_id: UUID) -> UUID | None:
        digest = blind_digest(self._key, id_number)
        with self._lock:
            while True:
                cursor = self._db.execute(
                    "INSERT INTO id_number_index (digest, household_id) VALUES (?, ?)"
                    " ON CONFLICT (digest) DO NOTHING",
                    (digest, household_id.hex),
                )
                if cursor.rowcount == 1:
                    return None
                row = self._db.execute(
                    "SELECT household_id FROM id_number_index WHERE digest = ?", (digest,)
                ).fetchone()
                if row is not None:  # else released in between: claim again
                    return UUID(row[0])

    def transfer(self, id_number: str, holder: UUID, household_id: UUID) -> bool:
        digest = blind_digest(self._key, id_number)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE id_number_index SET household_id = ? WHERE digest = ? AND household_id = ?",
                (household_id.hex, digest, holder.hex),
            )
        return cursor.rowcount == 1

    def release(self, household_id: UUID) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM id_number_index WHERE household_id = ?", (household_id.hex,)
            )

    def close(self) -> None:
        self._db.close()


class PostgresIdNumberIndex:
    """Implements ``application.ports.IdNumberIndex`` as a table in the county's schema."""

    def __init__(self, pool: ConnectionPool, schema: str, key: bytes) -> None:
        self._pool = pool
        self._key = key
        self._table = sql.Identifier(schema, "id_number_index")
        with pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " digest text PRIMARY KEY, household_id uuid NOT NULL)"
                ).format(self._table)
            )
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (household_id)").format(
                    sql.Identifier("id_number_index_household"), self._table
                )
            )

    def claim(self, id_number: str, household_id: UUID) -> UUID | None:
        digest = blind_digest(self._key, id_number)
        with self._pool.connection() as conn:
            while True:
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (digest, household_id) VALUES (%s, %s)"
                        " ON CONFLICT (digest) DO NOTHING RETURNING digest"
                    ).format(self._table),
                    (digest, household_id),
                ).fetchone()
                if inserted is not None:
                    return None
                row = conn.execute(
                    sql.SQL("SELECT household_id FROM {} WHERE digest = %s").format(self._table),
                    (digest,),
                ).fetchone()
                if row is not None:  # else released in between: claim again
                    holder: UUID = row[0]
                    return holder

    def transfer(self, id_number: str, holder: UUID, household_id: UUID) -> bool:
        digest = blind_digest(self._key, id_number)
        with self._pool.connection() as conn:
            cursor = conn.execute(
                sql.SQL(
                    "UPDATE {} SET household_id = %s WHERE digest = %s AND household_id = %s"
                ).format(self._table),
                (household_id, digest, holder),
            )
            return cursor.rowcount == 1

    def release(self, household_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE household_id = %s").format(self._table),
                (household_id,),
            )
