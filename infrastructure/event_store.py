"""The event store's configuration: SQLite files by default, a Postgres schema per county.

The library reads its settings from an environment mapping; this module is the
one place that maps Anju's settings onto it. POSTGRES_ENABLE_DB_FUNCTIONS stays
off: in 9.5.6 its insert path skips the table lock that keeps positions in
commit order, and subscribers could skip events.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql

from infrastructure.sealed_recorders import CHECKPOINTS, SEALS
from infrastructure.settings import Settings

EVENTS_TABLE_SQLITE = "stored_events"
LEDGER_TABLES = (SEALS, CHECKPOINTS)


def events_table_postgres(application_name: str) -> str:
    return f"{application_name.lower()}_events"


def event_store_env(settings: Settings) -> dict[str, str]:
    if settings.database_url:
        return postgres_env(settings.database_url, settings.county)
    settings.county_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.sealed_recorders:SealedSQLiteRecorder",
        "SQLITE_DBNAME": str(settings.county_dir / "events.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(url: str, schema: str) -> dict[str, str]:
    parts = urlparse(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("ANJU_DATABASE_URL must be a postgresql:// URL")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
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
        "POSTGRES_CONNECT_TIMEOUT": "5",
    }


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
