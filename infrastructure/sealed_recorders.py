"""The library's event recorders, sealing each event into the hash chain as it is written.

The seal of every new event is computed and stored in the same transaction
that inserts the event, while that transaction holds the log's write lock
(PostgreSQL: the library's EXCLUSIVE table lock; SQLite: the file's write
lock). So seals follow commit order exactly, there is never an unsealed tail,
and an event inserted by any other path than this one has no seal, which
verification reports. Computing seals in a database trigger was rejected for
that reason: a trigger would seal a forged insert as readily as a real one.

Seals live in ``anju_seals(position, hash)`` beside the events, and signed
checkpoints in ``anju_checkpoints``; both are append-only like the log.

The same transaction records the idempotency key a command runs under, if any,
in ``anju_command_keys`` (see ``application.command_keys``): a key already
recorded there aborts the insert, so a command is committed once per key.

A log written before the ledger existed is sealed whole once, when its seals
table is still empty. After that nothing seals an event after the fact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from application.command_keys import (
    CommandAlreadyRecorded,
    CommandKey,
    KeyRecord,
    SavedAggregate,
    current_key,
)
from application.hash_chain import GENESIS, link

SEALS = "anju_seals"
CHECKPOINTS = "anju_checkpoints"
COMMAND_KEYS = "anju_command_keys"
BACKLOG_BATCH = 5000


def saved_aggregates(stored_events: Sequence[StoredEvent]) -> str:
    """Each aggregate's last new version, and the topic of its last event, as JSON."""
    last: dict[str, tuple[int, str]] = {}
    for event in stored_events:
        last[str(event.originator_id)] = (event.originator_version, event.topic)
    return json.dumps([[aid, version, topic] for aid, (version, topic) in last.items()])


def key_record(fingerprint: str, position: int, saved: str) -> KeyRecord:
    return KeyRecord(
        fingerprint,
        int(position),
        tuple(SavedAggregate(str(a), int(v), str(t)) for a, v, t in json.loads(saved)),
    )


def key_to_record() -> CommandKey | None:
    """The key of the command being saved, unless an earlier save of it already recorded it."""
    key = current_key()
    return None if key is None or key.saved else key


def seal_rows(previous: bytes, rows: Iterable[Sequence[Any]]) -> list[tuple[int, bytes]]:
    """Seals for (position, originator id, version, topic, state) rows, chained from ``previous``."""
    seals = []
    for position, originator_id, version, topic, state in rows:
        previous = link(previous, position, originator_id, version, topic, state)
        seals.append((position, previous))
    return seals


def recorded(ids: Sequence[int], events: Sequence[Any]) -> Iterable[tuple[Any, ...]]:
    """Stored events (or notifications) with the positions they were given."""
    for position, event in zip(ids, events, strict=True):
        yield position, event.originator_id, event.originator_version, event.topic, event.state


class SealedPostgresRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, events_table_name: str = "stored_events", **kw: Any
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name, **kw)
        schema = datastore.schema
        self.seals = Identifier(schema, SEALS)
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, hash bytea NOT NULL)"
                ).format(self.seals),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY,"
                    " position bigint NOT NULL, hash bytea NOT NULL,"
                    " signed_at timestamptz NOT NULL, signature bytea NOT NULL,"
                    " key_id text NOT NULL, county text NOT NULL)"
                ).format(Identifier(schema, CHECKPOINTS)),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (scope text, key text, fingerprint text NOT NULL,"
                    " position bigint NOT NULL, saved text NOT NULL, PRIMARY KEY (scope, key))"
                ).format(Identifier(schema, COMMAND_KEYS)),
            ]
        )
        self.command_keys = Identifier(schema, COMMAND_KEYS)
        self.last_seal: Composed = SQL("SELECT hash FROM {} ORDER BY position DESC LIMIT 1").format(
            self.seals
        )
        self.insert_seal: Composed = SQL("INSERT INTO {} (position, hash) VALUES (%s, %s)").format(
            self.seals
        )

    def create_table(self) -> None:
        super().create_table()
        self.seal_backlog()

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # The library replaces its insert function on every start; two processes
        # starting together would collide on it ("tuple concurrently updated").
        curs.execute(
            SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
                Literal(f"{self.datastore.schema}.ddl")
            )
        )
        super()._create_table(curs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        curs.execute(self.last_seal, prepare=True)
        row = curs.fetchone()
        previous = bytes(row["hash"]) if row else GENESIS
        curs.executemany(self.insert_seal, seal_rows(previous, recorded(ids, stored_events)))
        key = key_to_record()
        if key is not None:
            self._record_key(curs, key, ids[-1], stored_events)
        return ids

    def _record_key(
        self,
        curs: Cursor[DictRow],
        key: CommandKey,
        position: int,
        stored_events: Sequence[StoredEvent],
    ) -> None:
        curs.execute(
            SQL("SELECT 1 FROM {} WHERE scope = %s AND key = %s").format(self.command_keys),
            (key.scope, key.key),
        )
        if curs.fetchone() is not None:
            raise CommandAlreadyRecorded(key.key)
        curs.execute(
            SQL(
                "INSERT INTO {} (scope, key, fingerprint, position, saved)"
                " VALUES (%s, %s, %s, %s, %s)"
            ).format(self.command_keys),
            (key.scope, key.key, key.fingerprint, position, saved_aggregates(stored_events)),
        )

    def key_record(self, scope: str, key: str) -> KeyRecord | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT fingerprint, position, saved FROM {} WHERE scope = %s AND key = %s"
                ).format(self.command_keys),
                (scope, key),
            )
            row = curs.fetchone()
        if row is None:
            return None
        return key_record(row["fingerprint"], row["position"], row["saved"])

    def seal_backlog(self) -> None:
        """Seal a log recorded before the ledger existed, once, under the write lock."""
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            curs.execute(SQL("SELECT 1 FROM {} LIMIT 1").format(self.seals))
            if curs.fetchone() is not None:
                return
            # Read on this transaction's own connection: waiting for another one
            # while holding the lock could leave this transaction idle past its timeout.
            select = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            ).format(Identifier(self.datastore.schema, self.events_table_name))
            previous, after = GENESIS, 0
            while True:
                curs.execute(select, (after, BACKLOG_BATCH))
                batch = [tuple(row.values()) for row in curs.fetchall()]
                if not batch:
                    return
                rows = seal_rows(previous, batch)
                curs.executemany(self.insert_seal, rows)
                previous, after = rows[-1][1], rows[-1][0]


class SealedSQLiteRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {SEALS} (position INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " position INTEGER NOT NULL, hash BLOB NOT NULL, signed_at TEXT NOT NULL,"
            " signature BLOB NOT NULL, key_id TEXT NOT NULL, county TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {COMMAND_KEYS} (scope TEXT, key TEXT,"
            " fingerprint TEXT NOT NULL, position INTEGER NOT NULL, saved TEXT NOT NULL,"
            " PRIMARY KEY (scope, key))",
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        c.execute(f"SELECT 1 FROM {SEALS} LIMIT 1")
        if c.fetchone() is None:
            self._insert_seals(c, seal_rows(GENESIS, self._unsealed(c)))

    def _unsealed(self, c: SQLiteCursor) -> list[Any]:
        c.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {self.events_table_name} ORDER BY rowid"
        )
        return list(c.fetchall())

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        assert ids is not None
        c.execute(f"SELECT hash FROM {SEALS} ORDER BY position DESC LIMIT 1")
        row = c.fetchone()
        previous = bytes(row[0]) if row else GENESIS
        self._insert_seals(c, seal_rows(previous, recorded(ids, stored_events)))
        key = key_to_record()
        if key is not None:
            self._record_key(c, key, ids[-1], stored_events)
        return ids

    def _record_key(
        self, c: SQLiteCursor, key: CommandKey, position: int, stored_events: Sequence[StoredEvent]
    ) -> None:
        c.execute(f"SELECT 1 FROM {COMMAND_KEYS} WHERE scope = ? AND key = ?", (key.scope, key.key))
        if c.fetchone() is not None:
            raise CommandAlreadyRecorded(key.key)
        c.execute(
            f"INSERT INTO {COMMAND_KEYS} (scope, key, fingerprint, position, saved)"
            " VALUES (?, ?, ?, ?, ?)",
            (key.scope, key.key, key.fingerprint, position, saved_aggregates(stored_events)),
        )

    def key_record(self, scope: str, key: str) -> KeyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT fingerprint, position, saved FROM {COMMAND_KEYS}"
                " WHERE scope = ? AND key = ?",
                (scope, key),
            )
            row = c.fetchone()
        if row is None:
            return None
        return key_record(row[0], row[1], row[2])

    def _insert_seals(self, c: SQLiteCursor, seals: list[tuple[int, bytes]]) -> None:
        c.executemany(f"INSERT INTO {SEALS} (position, hash) VALUES (?, ?)", seals)
