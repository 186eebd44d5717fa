"""Remembered answers to POSTs sent with an Idempotency-Key.

A key is claimed by inserting its row before the command runs (the primary key
lets only one request win); the winner stores its answer, and every repeat
either waits for that answer or gets it at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql
from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """``mine``: run the command; ``answer``: repeat it; ``pending``; ``mismatch``."""

    outcome: str
    answer: StoredAnswer | None = None


def _claim_from(row: tuple[str, int | None, str | None, bytes | None] | None, fp: str) -> Claim:
    if row is None:
        return Claim("pending")
    fingerprint, status, headers, body = row
    if fingerprint != fp:
        return Claim("mismatch")
    if status is None:
        return Claim("pending")
    pairs = [(str(name), str(value)) for name, value in json.loads(headers or "[]")]
    return Claim("answer", StoredAnswer(status, pairs, bytes(body or b"")))


def scrubbed(body: bytes, values: list[str]) -> bytes:
    """The answer with each value gone: a JSON string of it becomes null, any other trace ***."""
    for value in values:
        for quoted in {json.dumps(value, ensure_ascii=False), json.dumps(value)}:
            body = body.replace(quoted.encode(), b"null")
        for bare in {value, json.dumps(value)[1:-1]}:
            body = body.replace(bare.encode(), b"***")
    return body


class SQLiteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Scrubbed answers must not linger in free pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency (scope TEXT, key TEXT, fingerprint TEXT,"
            " status INTEGER, headers TEXT, body BLOB, PRIMARY KEY (scope, key))"
        )

    def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        with self._lock:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO idempotency (scope, key, fingerprint) VALUES (?, ?, ?)",
                (scope, key, fingerprint),
            ).rowcount
            if inserted:
                return Claim("mine")
            row = self._db.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency"
                " WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
        return _claim_from(row, fingerprint)

    def complete(self, scope: str, key: str, answer: StoredAnswer) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency SET status = ?, headers = ?, body = ?"
                " WHERE scope = ? AND key = ?",
                (answer.status, json.dumps(answer.headers), answer.body, scope, key),
            )

    def release(self, scope: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE scope = ? AND key = ?", (scope, key))

    def scrub(self, mention: str, values: list[str]) -> int:
        with self._lock:
            rows = self._db.execute(
                "SELECT scope, key, body FROM idempotency WHERE instr(body, ?) > 0",
                (mention.encode(),),
            ).fetchall()
            for scope, key, body in rows:
                self._db.execute(
                    "UPDATE idempotency SET body = ? WHERE scope = ? AND key = ?",
                    (scrubbed(bytes(body), values), scope, key),
                )
            # Old page images in the write-ahead log go too.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(rows)

    def close(self) -> None:
        self._db.close()


class PostgresIdempotencyStore:
    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        self._pool = pool
        self._table = sql.Identifier(schema, "idempotency")
        with pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (scope text, key text, fingerprint text,"
                    " status integer, headers text, body bytea, PRIMARY KEY (scope, key))"
                ).format(self._table)
            )

    def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        with self._pool.connection() as conn:
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (scope, key, fingerprint) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING"
                ).format(self._table),
                (scope, key, fingerprint),
            ).rowcount
            if inserted:
                return Claim("mine")
            row = conn.execute(
                sql.SQL(
                    "SELECT fingerprint, status, headers, body FROM {} WHERE scope = %s AND key = %s"
                ).format(self._table),
                (scope, key),
            ).fetchone()
        return _claim_from(row, fingerprint)

    def complete(self, scope: str, key: str, answer: StoredAnswer) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET status = %s, headers = %s, body = %s"
                    " WHERE scope = %s AND key = %s"
                ).format(self._table),
                (answer.status, json.dumps(answer.headers), answer.body, scope, key),
            )

    def release(self, scope: str, key: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE scope = %s AND key = %s").format(self._table),
                (scope, key),
            )

    def scrub(self, mention: str, values: list[str]) -> int:
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                sql.SQL(
                    "SELECT scope, key, body FROM {} WHERE position(%s::bytea in body) > 0"
                    " FOR UPDATE"
                ).format(self._table),
                (mention.encode(),),
            ).fetchall()
            for scope, key, body in rows:
                conn.execute(
                    sql.SQL("UPDATE {} SET body = %s WHERE scope = %s AND key = %s").format(
                        self._table
                    ),
                    (scrubbed(bytes(body), values), scope, key),
                )
        return len(rows)
