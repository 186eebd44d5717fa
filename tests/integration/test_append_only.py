"""The events table refuses to change what it holds, whoever asks through SQL.

These tests go around the application: raw statements on the events table, as an
operator with a database client would send them. Each must be refused by the
database itself and leave every row as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from api.bootstrap import County
from infrastructure.event_store import EVENTS_TABLE_SQLITE
from infrastructure.settings import Settings
from tests.conftest import Cast


def record_some_history(county: County, cast: Cast) -> None:
    household, _ = county.services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="孙七",
        member_count=3,
        address={"building": "2", "unit": "3", "room": "404"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2022, 2, 2),
    )
    county.services.grievances.file(
        cast.cadre,
        household_id=household.id,
        category="environment",
        urgency="urgent",
        channel="walk_in",
        summary="垃圾清运不及时",
    )


def refusal(tamper: Callable[[], object], error: type[Exception]) -> str:
    """'refused' when the database refuses as the append-only triggers do, else what happened."""
    try:
        tamper()
    except error as refused:
        return "refused" if "append-only" in str(refused) else f"other error: {refused}"
    return "done: the statement went through"


# -- PostgreSQL -------------------------------------------------------------------


def postgres_rows(settings: Settings) -> list[tuple[Any, ...]]:
    assert settings.database_url
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state"
        " FROM {} ORDER BY notification_id"
    ).format(sql.Identifier(settings.county, "casebook_events"))
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(query).fetchall()


POSTGRES_TAMPERING = {
    "update one": "UPDATE {table} SET topic = 'anju:Forged' WHERE originator_version = 1",
    "update all": "UPDATE {table} SET state = state || '\\x00'::bytea",
    "upsert": (
        "INSERT INTO {table} (originator_id, originator_version, topic, state)"
        " SELECT originator_id, originator_version, topic, state FROM {table}"
        " ON CONFLICT (originator_id, originator_version) DO UPDATE SET topic = 'anju:Forged'"
    ),
    "delete one": "DELETE FROM {table} WHERE notification_id = (SELECT max(notification_id)"
    " FROM {table})",
    "delete all": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
    "truncate cascade": "TRUNCATE {table} RESTART IDENTITY CASCADE",
}


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgres"])
def test_postgres_refuses_to_change_or_remove_events(
    county: County, cast: Cast, county_settings: Settings
):
    record_some_history(county, cast)
    before = postgres_rows(county_settings)
    assert len(before) > 10
    url = county_settings.database_url
    assert url
    table = sql.Identifier(county_settings.county, "casebook_events")

    outcomes = {}
    for name, statement in POSTGRES_TAMPERING.items():
        with psycopg.connect(url, autocommit=True) as conn:
            outcomes[name] = refusal(
                lambda conn=conn, s=statement: conn.execute(sql.SQL(s).format(table=table)),
                errors.InsufficientPrivilege,
            )
        assert postgres_rows(county_settings) == before, name
    assert outcomes == dict.fromkeys(POSTGRES_TAMPERING, "refused")

    # The application still reads and appends as before.
    record_some_history(county, cast)
    assert postgres_rows(county_settings)[: len(before)] == before


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgres"])
def test_postgres_refuses_tampering_inside_a_transaction_too(
    county: County, cast: Cast, county_settings: Settings
):
    """The refusal aborts the transaction: nothing of it commits."""
    record_some_history(county, cast)
    before = postgres_rows(county_settings)
    assert county_settings.database_url
    table = sql.Identifier(county_settings.county, "casebook_events")
    with psycopg.connect(county_settings.database_url) as conn:
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {} WHERE originator_version > 1").format(table))
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute(sql.SQL("UPDATE {} SET topic = topic").format(table))
    assert postgres_rows(county_settings) == before


# -- SQLite -----------------------------------------------------------------------


def sqlite_rows(settings: Settings) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(settings.county_dir / "events.sqlite")
    try:
        return db.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {EVENTS_TABLE_SQLITE} ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()


SQLITE_TAMPERING = {
    "update one": "UPDATE {table} SET topic = 'anju:Forged' WHERE originator_version = 1",
    "update all": "UPDATE {table} SET state = x'00'",
    "update or replace": "UPDATE OR REPLACE {table} SET originator_version = 1",
    "upsert": (
        "INSERT INTO {table} (originator_id, originator_version, topic, state)"
        " SELECT originator_id, originator_version, topic, state FROM {table} WHERE true"
        " ON CONFLICT (originator_id, originator_version) DO UPDATE SET topic = 'anju:Forged'"
    ),
    # REPLACE deletes the row it collides with, and DELETE triggers do not see it.
    "replace by version": (
        "REPLACE INTO {table} (originator_id, originator_version, topic, state)"
        " SELECT originator_id, originator_version, 'anju:Forged', x'00' FROM {table}"
        " WHERE originator_version = 1"
    ),
    "replace by position": (
        "INSERT OR REPLACE INTO {table} (rowid, originator_id, originator_version, topic, state)"
        " VALUES (1, 'forged', 1, 'anju:Forged', x'00')"
    ),
    "delete one": "DELETE FROM {table} WHERE rowid = (SELECT max(rowid) FROM {table})",
    "delete all": "DELETE FROM {table}",
}


@pytest.mark.parametrize("store", ["sqlite"])
def test_sqlite_refuses_to_change_or_remove_events(
    county: County, cast: Cast, county_settings: Settings
):
    record_some_history(county, cast)
    before = sqlite_rows(county_settings)
    assert len(before) > 10

    outcomes = {}
    for name, statement in SQLITE_TAMPERING.items():
        db = sqlite3.connect(county_settings.county_dir / "events.sqlite", isolation_level=None)
        try:
            outcomes[name] = refusal(
                lambda db=db, s=statement: db.execute(s.format(table=EVENTS_TABLE_SQLITE)),
                sqlite3.IntegrityError,
            )
        finally:
            db.close()
        assert sqlite_rows(county_settings) == before, name
    assert outcomes == dict.fromkeys(SQLITE_TAMPERING, "refused")

    record_some_history(county, cast)
    assert sqlite_rows(county_settings)[: len(before)] == before
