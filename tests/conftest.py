"""Fixtures shared by every tier.

The library reads ``os.environ``; the autouse fixture below keeps every test
independent of the shell it runs in. Stores: ``county`` runs a test once on
SQLite and once on a fresh PostgreSQL schema. PostgreSQL tests skip when no
server answers, unless ``ANJU_REQUIRE_POSTGRES`` is set (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from infrastructure.vault import new_master_key_text
from tests.fakes import SteppingClock

TEST_DATABASE_URL = os.environ.get(
    "ANJU_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ANJU_REQUIRE_POSTGRES", "").lower() in ("1", "true", "yes")
ENV_PREFIXES = ("ANJU_", "POSTGRES_", "SQLITE_", "PERSISTENCE_", "EVENTSOURCING_")
ENV_NAMES = ("CREATE_TABLE", "IS_SNAPSHOTTING_ENABLED", "TZINFO_TOPIC", "CIPHER_TOPIC")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name in ENV_NAMES:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    return TEST_DATABASE_URL


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def county_settings(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    write_new_key(tmp_path / "signing.key")
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=url,
        county=schema,
        master_key=new_master_key_text(),
        blind_index_key=new_master_key_text(),
        signing_key_file=tmp_path / "signing.key",
        # The watcher writes on its own schedule; a test that wants it starts it.
        deadline_watch_seconds=0,
    )
    yield settings
    if url:
        drop_schema(url, schema)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def county(county_settings: Settings, clock: SteppingClock) -> Iterator[County]:
    opened = open_county(county_settings, clock)
    yield opened
    opened.close()


@dataclass
class Cast:
    """A small community with one account of each role."""

    community_id: str
    grids: list[str]
    admin: Actor
    cadre: Actor
    other_cadre: Actor
    supervisor: Actor
    auditor: Actor
    outsider: Actor  # a cadre of another community


@pytest.fixture
def cast(county: County) -> Cast:
    org = county.services.organisation
    org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
    org.found_community(SYSTEM, code="anle", name="安乐社区", township="城关镇", county="示范县")
    for grid in ("g1", "g2"):
        org.add_grid(SYSTEM, "xingfu", code=grid, name=f"第{grid[-1]}网格")
    org.add_grid(SYSTEM, "anle", code="g1", name="第一网格")

    def account(username: str, role: str, community: str | None = None) -> Actor:
        view, _ = org.open_account(
            SYSTEM, username=username, display_name=username, role=role, community_id=community
        )
        return actor_of(org.account(view.id))

    return Cast(
        community_id="xingfu",
        grids=["g1", "g2"],
        admin=account("admin1", "admin"),
        cadre=account("cadre1", "cadre", "xingfu"),
        other_cadre=account("cadre2", "cadre", "xingfu"),
        supervisor=account("super1", "supervisor", "xingfu"),
        auditor=account("audit1", "auditor"),
        outsider=account("cadre9", "cadre", "anle"),
    )
