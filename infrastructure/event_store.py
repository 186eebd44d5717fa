"""The event store's configuration: SQLite files by default, a Postgres schema per county.

The library reads its settings from an environment mapping; this module is the
one place that maps Anju's settings onto it. POSTGRES_ENABLE_DB_FUNCTIONS stays
off: in 9.5.6 its insert path skips the table lock that keeps positions in
commit order, and subscribers could skip events.

Every PostgreSQL pool of a county fails fast and heals by itself: a request
waits at most ``database_wait_seconds`` for a connection, then gets
``DatabaseUnavailable`` (the API answers 503); each connection is checked as it
leaves the pool, and one broken by a restart of the server has the pool
replace them all; and a lost connection is retried for a couple of seconds only.
psycopg_pool would otherwise retry it with a backoff growing to minutes, and
count it as open all that while, so a county could stay unable to connect long
after its database was back.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
from eventsourcing.postgres import ConnectionPool as LibraryPool
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from infrastructure.sealed_recorders import CHECKPOINTS, SEALS
from infrastructure.settings import DATABASE_WAIT_SECONDS, Settings

EVENTS_TABLE_SQLITE = "stored_events"
LEDGER_TABLES = (SEALS, CHECKPOINTS)
# libpq's shortest connect timeout: a host that drops packets fails this fast.
CONNECT_TIMEOUT_SECONDS = 2
# How long the pool retries a lost connection before it gives the place up; the
# next request then opens a new one at once.
RECONNECT_SECONDS = 2.0
# How long a request waits for a connection while the database is taken for down.
DOWN_WAIT_SECONDS = 0.25
# The pool wait, handed to the factory below through the library's environment.
POOL_WAIT = "POSTGRES_POOL_WAIT_SECONDS"


def events_table_postgres(application_name: str) -> str:
    return f"{application_name.lower()}_events"


def event_store_env(settings: Settings) -> dict[str, str]:
    if settings.database_url:
        return postgres_env(settings.database_url, settings.county, settings.database_wait_seconds)
    settings.county_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.sealed_recorders:SealedSQLiteRecorder",
        "SQLITE_DBNAME": str(settings.county_dir / "events.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(
    url: str, schema: str, wait_seconds: float = DATABASE_WAIT_SECONDS
) -> dict[str, str]:
    parts = urlparse(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("ANJU_DATABASE_URL must be a postgresql:// URL")
    return {
        "PERSISTENCE_MODULE": "infrastructure.event_store:FailFastPostgresFactory",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.sealed_recorders:SealedPostgresRecorder",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        POOL_WAIT: str(wait_seconds),
    }


class DatabaseUnavailable(Exception):
    """No connection to PostgreSQL within the pool wait: the database is down or saturated.

    Deliberately not a psycopg error: the library retries its own OperationalError
    ten times (0.2 s apart), which would turn a one-second wait into twelve.
    """


class FailFastPool(ConnectionPool[Any]):
    """A pool that waits a bounded time, hands out only live connections, and heals.

    Each connection is pinged as it leaves the pool. One that fails was opened
    before the server went away, and so were the others: the pool is drained
    (every idle connection closed, those out closed when they come back) and
    refilled as the server allows. psycopg_pool's own check would instead sleep
    a growing backoff after each broken connection, so after a restart each
    stale connection would cost a request its whole wait.

    Once a wait has run out, the pool takes the database for down and waits
    only ``DOWN_WAIT_SECONDS`` until a connection is handed out again: a request
    that touches the database several times (a command, then its idempotency
    record) pays the full wait once, not once per touch.
    """

    _down = False

    def getconn(self, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + (min(wait, DOWN_WAIT_SECONDS) if self._down else wait)
        while True:
            try:
                conn = super().getconn(deadline - time.monotonic())
            except PoolTimeout as error:
                self._down = True
                raise DatabaseUnavailable(str(error)) from error
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self.putconn(conn)
                self.drain()
            else:
                self._down = False
                return conn


class FailFastLibraryPool(LibraryPool[Any], FailFastPool):
    """The library's pool (it sets the password per connection), failing fast too."""


class FailFastPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with a pool that fails fast and heals by itself."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        datastore = self.datastore
        built = datastore.pool  # not opened yet: the library opens it on first use
        if not isinstance(built.kwargs, dict):
            raise TypeError("the library's pool was built without connection arguments")
        datastore.pool = FailFastLibraryPool(
            get_password_func=built.get_password_func,
            connection_class=built.connection_class,
            kwargs={**built.kwargs, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            min_size=built.min_size,
            max_size=built.max_size,
            open=False,
            configure=datastore.after_connect_func(),
            timeout=float(self.env.get(POOL_WAIT) or DATABASE_WAIT_SECONDS),
            max_waiting=built.max_waiting,
            max_lifetime=built.max_lifetime,
            reconnect_timeout=RECONNECT_SECONDS,
        )


def open_pool(url: str, wait_seconds: float = DATABASE_WAIT_SECONDS) -> FailFastPool:
    """The county's own pool (keys, read models, idempotency, ledger), failing fast."""
    return FailFastPool(
        url,
        min_size=1,
        max_size=8,
        open=True,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
        timeout=wait_seconds,
        reconnect_timeout=RECONNECT_SECONDS,
    )


def create_postgres_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def make_postgres_append_only(url: str, schema: str, table: str) -> None:
    """A table of the log or its ledger refuses UPDATE, DELETE and TRUNCATE, whoever asks."""
    statements = [
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'the event log is append-only: % refused on %',"
            " TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$"
        ).format(sql.Identifier(schema, "anju_refuse_change")),
        sql.SQL("DROP TRIGGER IF EXISTS anju_append_only ON {}").format(
            sql.Identifier(schema, table)
        ),
        sql.SQL(
            "CREATE TRIGGER anju_append_only BEFORE UPDATE OR DELETE ON {}"
            " FOR EACH ROW EXECUTE FUNCTION {}()"
        ).format(sql.Identifier(schema, table), sql.Identifier(schema, "anju_refuse_change")),
        sql.SQL("DROP TRIGGER IF EXISTS anju_no_truncate ON {}").format(
            sql.Identifier(schema, table)
        ),
        sql.SQL(
            "CREATE TRIGGER anju_no_truncate BEFORE TRUNCATE ON {}"
            " FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(sql.Identifier(schema, table), sql.Identifier(schema, "anju_refuse_change")),
    ]
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        # Processes starting together would otherwise race on the same trigger.
        conn.execute(
            sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(schema))
        )
        for statement in statements:
            conn.execute(statement)


# REPLACE would delete the event it collides with, by position or by version.
REFUSE_COLLIDING_INSERT_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS anju_append_only_replace"
    " BEFORE INSERT ON stored_events"
    " WHEN EXISTS (SELECT 1 FROM stored_events WHERE rowid = NEW.rowid"
    " OR (originator_id = NEW.originator_id AND originator_version = NEW.originator_version))"
    " BEGIN SELECT RAISE(ABORT, 'the event log is append-only: that event is already recorded');"
    " END"
)


def make_sqlite_append_only(path: str) -> None:
    """The same refusal inside the SQLite file, for anyone writing through SQL.

    ``REPLACE`` (``INSERT OR REPLACE``) deletes the row it collides with without
    firing DELETE triggers (unless ``recursive_triggers`` is on), so an insert that
    collides with a recorded event, by position (rowid) or by (originator_id,
    originator_version), is refused too. The library sees this as the usual
    ``IntegrityError`` of a lost race.
    """
    with sqlite3.connect(path) as db:
        for operation in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS anju_append_only_{operation.lower()}"
                f" BEFORE {operation} ON {EVENTS_TABLE_SQLITE}"
                f" BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )
            for table in LEDGER_TABLES:
                db.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{operation.lower()}"
                    f" BEFORE {operation} ON {table}"
                    f" BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"
                )
        db.execute(REFUSE_COLLIDING_INSERT_SQLITE)
    db.close()


def notify_channel(schema: str) -> str:
    return f"anju_log_{schema}"


def make_postgres_notify(url: str, schema: str, table: str) -> None:
    """Each insert into the log wakes the projections listening on the county's channel."""
    function = sql.Identifier(schema, "anju_notify_log")
    statements = [
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN PERFORM pg_notify({}, ''); RETURN NULL; END $$"
        ).format(function, sql.Literal(notify_channel(schema))),
        sql.SQL("DROP TRIGGER IF EXISTS anju_notify_log ON {}").format(
            sql.Identifier(schema, table)
        ),
        sql.SQL(
            "CREATE TRIGGER anju_notify_log AFTER INSERT ON {}"
            " FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(sql.Identifier(schema, table), function),
    ]
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(schema))
        )
        for statement in statements:
            conn.execute(statement)
