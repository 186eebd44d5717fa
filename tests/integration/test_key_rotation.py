"""Key rotation: every household stays readable, except erased ones, and no event changes.

`anju keys rotate` runs as a real subprocess against the county's stores (SQLite
files, or a fresh PostgreSQL schema), with the service stopped, as the README
tells an operator to run it. The whole log is recorded before and after, row by
row and byte by byte, and so is the hash chain's head.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from infrastructure.settings import Settings
from infrastructure.vault import MasterKeyError, new_master_key_text
from tests.fakes import SteppingClock

ANJU = Path(sys.executable).parent / "anju"

# Households registered before the rotation: (grid, head_name, phone, id_number).
PEOPLE = [
    ("g1", "龙小妹", "13912345678", "522601199001080027"),
    ("g1", "杨阿福", "13800001111", None),
    ("g2", "吴金花", None, "52260119780308002X"),
    ("g2", "潘老四", None, None),
]
ERASED = ("g1", "石秀兰", "15999998888", "522601196512160041")


@dataclass
class Registered:
    settings: Settings
    cadre: Actor
    supervisor: Actor
    households: dict[str, tuple[str, str | None, str | None]]  # id: (name, phone, id_number)
    erased_id: str


def found_county(county: County) -> tuple[Actor, Actor, Actor]:
    org = county.services.organisation
    org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
    for grid in ("g1", "g2"):
        org.add_grid(SYSTEM, "xingfu", code=grid, name=f"第{grid[-1]}网格")

    def account(username: str, role: str, community: str | None = None) -> Actor:
        view, _ = org.open_account(
            SYSTEM, username=username, display_name=username, role=role, community_id=community
        )
        return actor_of(org.account(view.id))

    return (
        account("admin1", "admin"),
        account("cadre1", "cadre", "xingfu"),
        account("super1", "supervisor", "xingfu"),
    )


def register(
    county: County, cadre: Actor, grid: str, name: str, phone: str | None, id_number: str | None
) -> str:
    view, _ = county.services.households.register(
        cadre,
        community_id="xingfu",
        grid_id=grid,
        head_name=name,
        member_count=3,
        phone=phone,
        id_number=id_number,
        address={"building": "2", "unit": "1", "room": "402"},
        origin={"township": "雷山镇", "village": "乌东村"},
        relocated_on=date(2019, 5, 1),
    )
    return view.id


@pytest.fixture
def registered(county_settings: Settings, clock: SteppingClock) -> Registered:
    """A county with several households and one erased, closed again (the service stopped)."""
    county = open_county(county_settings, clock)
    try:
        admin, cadre, supervisor = found_county(county)
        households = {
            register(county, cadre, grid, name, phone, id_number): (name, phone, id_number)
            for grid, name, phone, id_number in PEOPLE
        }
        erased_id = register(county, cadre, *ERASED)
        county.services.households.erase(admin, erased_id, legal_basis="本人依法申请删除")
    finally:
        county.close()
    return Registered(county_settings, cadre, supervisor, households, erased_id)


# -- what is recorded before and after ------------------------------------------------


def event_log(settings: Settings) -> tuple[list[tuple[Any, ...]], int, str | None]:
    """Every event of the log as stored (position, id, version, topic, state bytes), and
    the hash chain's verified head (position, hash)."""
    county = open_county(settings)
    try:
        notifications = county.book.recorder.select_notifications(start=1, limit=10**6)
        rows = [
            (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in notifications
        ]
        verified = county.audit.verify()
        assert verified.ok, verified
        return rows, verified.head_position, verified.head_hash
    finally:
        county.close()


def wrapped_keys(settings: Settings) -> dict[str, bytes]:
    """The key store read from outside: household ID -> wrapped key."""
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(
                sql.SQL("SELECT household_id, wrapped FROM {}").format(
                    sql.Identifier(settings.county, "household_keys")
                )
            ).fetchall()
        return {str(key): bytes(wrapped) for key, wrapped in rows}
    db = sqlite3.connect(settings.county_dir / "keys.sqlite")
    try:
        rows = db.execute("SELECT household_id, wrapped FROM household_keys").fetchall()
    finally:
        db.close()
    return {str(UUID(key)): bytes(wrapped) for key, wrapped in rows}


def rotate(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`anju keys rotate ARGS` in a process of its own, configured by the environment only."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ANJU_")  # the autouse fixture has cleared them already
    }
    env.update(ANJU_DATA_DIR=str(settings.data_dir), ANJU_COUNTY=settings.county)
    if settings.master_key:
        env["ANJU_MASTER_KEY"] = settings.master_key
    if settings.blind_index_key:
        env["ANJU_BLIND_INDEX_KEY"] = settings.blind_index_key
    if settings.demo:
        env["ANJU_DEMO"] = "1"
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [str(ANJU), "keys", "rotate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_every_household(settings: Settings, world: Registered) -> None:
    """Each household as its cadre and supervisor see it: clear data, or erased and null."""
    county = open_county(settings)
    try:
        households = county.services.households
        for reader in (world.cadre, world.supervisor):
            for household_id, (name, phone, id_number) in world.households.items():
                seen = households.get(reader, household_id)
                assert not seen.erased
                assert (seen.head_name, seen.phone, seen.id_number) == (name, phone, id_number)
                history = households.events(reader, household_id)
                assert history[0].data["head_name"] == name
                assert history[0].data["phone"] == phone
                assert history[0].data["id_number"] == id_number
            gone = households.get(reader, world.erased_id)
            assert gone.erased is True
            assert (gone.head_name, gone.phone, gone.id_number) == (None, None, None)
            history = households.events(reader, world.erased_id)
            assert [entry.event_type for entry in history] == [
                "Household.Registered",
                "Household.Erased",
            ]
            assert history[0].data["head_name"] is None
            assert history[0].data["phone"] is None
            assert history[0].data["id_number"] is None
    finally:
        county.close()


# -- the tests ---------------------------------------------------------------------------


def test_rotation_keeps_every_household_readable_except_the_erased_and_changes_no_event(
    registered: Registered, tmp_path: Path
):
    old = registered.settings
    log_before = event_log(old)
    keys_before = wrapped_keys(old)
    assert set(keys_before) == set(registered.households)  # the erased key is gone already
    new_key = new_master_key_text()
    new_file = tmp_path / "new-master.key"
    new_file.write_text(new_key + "\n", "ascii")

    done = rotate(old, "--new-key-file", str(new_file))

    assert done.returncode == 0, done.stderr
    assert f"re-wrapped {len(registered.households)} household keys" in done.stdout
    keys_after = wrapped_keys(old)
    assert set(keys_after) == set(keys_before)
    assert all(keys_after[key] != keys_before[key] for key in keys_before)

    by_file = old.model_copy(update={"master_key": None, "master_key_file": new_file})
    by_text = old.model_copy(update={"master_key": new_key})
    # Not one event changed, not one byte; the chain verifies to the same head.
    assert event_log(by_file) == log_before
    read_every_household(by_file, registered)
    read_every_household(by_text, registered)
    assert event_log(by_file) == log_before


def test_the_old_master_key_no_longer_opens_any_household(registered: Registered, tmp_path: Path):
    old = registered.settings
    new_file = tmp_path / "new-master.key"
    new_file.write_text(new_master_key_text(), "ascii")
    assert rotate(old, "--new-key-file", str(new_file)).returncode == 0

    county = open_county(old)
    try:
        households = county.services.households
        for household_id in registered.households:
            with pytest.raises(MasterKeyError):
                households.get(registered.cadre, household_id)
        # The erased household needs no key: it still reads, erased, under either key.
        assert households.get(registered.cadre, registered.erased_id).erased is True
    finally:
        county.close()


def unchanged_by(
    settings: Settings,
    world: Registered,
    *args: str,
    run_with: Settings | None = None,
    code: int = 2,
) -> str:
    """Runs `anju keys rotate ARGS` (with ``run_with``'s environment), expects exit ``code``,
    and checks nothing changed; its stderr."""
    log_before = event_log(settings)
    keys_before = wrapped_keys(settings)

    done = rotate(run_with or settings, *args)

    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "re-wrapped" not in done.stdout
    assert wrapped_keys(settings) == keys_before
    assert event_log(settings) == log_before
    read_every_household(settings, world)  # still under the old key
    assert not (settings.data_dir / "demo-master.key").exists()
    return done.stderr


def test_rotate_without_a_new_key_file_outside_demo_mode_exits_2_and_changes_nothing(
    registered: Registered,
):
    stderr = unchanged_by(registered.settings, registered)
    assert "--new-key-file" in stderr


@pytest.mark.parametrize(
    "content",
    [
        "not a key at all",  # not base64
        "c2hvcnQ=",  # base64 of 5 bytes
        "",  # empty
    ],
    ids=["not-base64", "short", "empty"],
)
def test_rotate_with_a_bad_new_key_file_exits_2_and_changes_nothing(
    registered: Registered, tmp_path: Path, content: str
):
    bad = tmp_path / "bad.key"
    bad.write_text(content, "ascii")
    stderr = unchanged_by(registered.settings, registered, "--new-key-file", str(bad))
    assert "master key" in stderr.lower().replace("_", " ")


def test_rotate_with_a_missing_new_key_file_exits_2_and_changes_nothing(
    registered: Registered, tmp_path: Path
):
    stderr = unchanged_by(
        registered.settings, registered, "--new-key-file", str(tmp_path / "absent.key")
    )
    assert "master key" in stderr


def test_rotate_under_a_wrong_current_master_key_exits_1_and_changes_nothing(
    registered: Registered, tmp_path: Path
):
    new_file = tmp_path / "new-master.key"
    new_file.write_text(new_master_key_text(), "ascii")
    wrong = registered.settings.model_copy(update={"master_key": new_master_key_text()})
    stderr = unchanged_by(
        registered.settings,
        registered,
        "--new-key-file",
        str(new_file),
        run_with=wrong,
        code=1,
    )
    assert "nothing changed" in stderr


def test_demo_mode_rotates_its_own_key_file_in_place(registered: Registered):
    """In demo mode, without --new-key-file, the demo key file is replaced by a new key."""
    settings = registered.settings
    demo = settings.model_copy(update={"master_key": None, "demo": True})
    demo_file = settings.data_dir / "demo-master.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    demo_file.write_text(str(settings.master_key), "ascii")
    log_before = event_log(demo)

    done = rotate(demo)

    assert done.returncode == 0, done.stderr
    new_key = demo_file.read_text("ascii").strip()
    assert new_key != settings.master_key
    assert not demo_file.with_name("demo-master.key.new").exists()
    assert event_log(demo) == log_before
    read_every_household(demo, registered)
    read_every_household(settings.model_copy(update={"master_key": new_key}), registered)
