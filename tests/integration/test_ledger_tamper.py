"""The ledger names the first position where someone changed the log behind Anju's back.

A real history of about a thousand events is generated through the application,
then tampered with the way an operator with superuser access to the database
would: plain SQL, with the append-only triggers switched off for the tampering
connection (PostgreSQL: ``session_replication_role = replica``; SQLite: the
triggers dropped). Each kind of tampering must be reported at exactly the
first position it touched:

* an edited payload, at that event;
* a deleted event, where it was (or at the next event when its seal went too);
* a forged event inserted at the head, into a gap or below position 1, where it
  was put (or at the next event when the forger sealed it too);
* two swapped events, at the lower of the two;
* a log rewritten from some event on and fully re-sealed, so the chain holds
  together again, at the position of the signed checkpoint taken before, found
  in the database, in the journal beside the signing key, or handed in from
  outside.

The command line is run once as an auditor would run it. PostgreSQL carries
the whole matrix; SQLite the edited and the deleted event.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from api.bootstrap import County, open_county
from application.actors import SYSTEM
from application.hash_chain import GENESIS, ChainWalk, Checkpoint, Verification, link
from application.synthetic_county import generate_county
from infrastructure.event_store import EVENTS_TABLE_SQLITE
from infrastructure.sealed_recorders import CHECKPOINTS, SEALS
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from tests.fakes import SteppingClock

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres, id="postgres")
SQLITE = pytest.param("sqlite", id="sqlite")

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 10, 31, 18, 0, tzinfo=SHANGHAI)  # before the test clock's first reading
SHAPE: dict[str, Any] = {
    "communities": 1,
    "households_per_community": 30,
    "cadres_per_community": 3,
    "days": 10,
}
SEED = 20261101
ANJU = Path(sys.executable).with_name("anju")

# (position, originator_id, originator_version, topic, state)
Row = tuple[int, Any, int, str, bytes]


@dataclass
class Ledger:
    county: County
    settings: Settings
    events: int

    @property
    def middle(self) -> int:
        return self.events // 2

    def at(self, where: str) -> int:
        return {"first": 1, "middle": self.middle, "last": self.events}[where]

    def verify(self, also: list[Checkpoint] | None = None) -> Verification:
        return self.county.audit.verify(also or ())

    def append_real_events(self, how_many: int) -> list[int]:
        """More events through the application, as the county keeps working."""
        organisation = self.county.services.organisation
        return [
            organisation.found_community(
                SYSTEM,
                code=f"later_{uuid.uuid4().hex[:8]}",
                name="后来社区",
                township="城关镇",
                county="示范县",
            )[1]
            for _ in range(how_many)
        ]


@pytest.fixture
def ledger(county_settings: Settings, tmp_path: Path, clock: SteppingClock) -> Iterator[Ledger]:
    """A generated county on a fresh store, with a signing key kept outside the database."""
    key = tmp_path / "keys" / "county.key"
    write_new_key(key)
    settings = county_settings.model_copy(update={"signing_key_file": key})
    county = open_county(settings, clock)
    try:
        summary = generate_county(county.book, county.services.vault, end=END, seed=SEED, **SHAPE)
        events = len(stored_rows(settings))
        assert events == summary.events > 300
        yield Ledger(county, settings, events)
    finally:
        county.close()


# == tampering as a database superuser ======================================================


def table(settings: Settings, name: str) -> sql.Identifier:
    return sql.Identifier(settings.county, name)


EVENTS_PG = "casebook_events"


@contextmanager
def superuser(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A connection that the append-only triggers do not stop."""
    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@contextmanager
def sqlite_superuser(settings: Settings) -> Iterator[sqlite3.Connection]:
    """The events file, with its append-only triggers dropped."""
    with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db:
        for operation in ("update", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS anju_append_only_{operation}")
        yield db
        db.commit()


def stored_rows(settings: Settings) -> list[Row]:
    if settings.database_url:
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} ORDER BY notification_id"
        ).format(table(settings, EVENTS_PG))
        with psycopg.connect(settings.database_url) as conn:
            return [(*row[:4], bytes(row[4])) for row in conn.execute(query).fetchall()]
    with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db:
        return db.execute(
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {EVENTS_TABLE_SQLITE} ORDER BY rowid"
        ).fetchall()


def state_at(settings: Settings, position: int) -> bytes:
    (state,) = [row[4] for row in stored_rows(settings) if row[0] == position]
    return state


def backdated(state: bytes) -> bytes:
    """The event's recorded time moved a year earlier."""
    changed = state.replace(b'"2026-', b'"2025-', 1)
    assert changed != state
    return changed


def one_bit_flipped(state: bytes) -> bytes:
    middle = len(state) // 2
    return state[:middle] + bytes([state[middle] ^ 1]) + state[middle + 1 :]


def edit_state(settings: Settings, position: int, change: Callable[[bytes], bytes]) -> None:
    state = change(state_at(settings, position))
    if settings.database_url:
        with superuser(settings) as conn:
            done = conn.execute(
                sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(
                    table(settings, EVENTS_PG)
                ),
                [state, position],
            )
            assert done.rowcount == 1
    else:
        with sqlite_superuser(settings) as db:
            changed = db.execute(
                f"UPDATE {EVENTS_TABLE_SQLITE} SET state = ? WHERE rowid = ?", (state, position)
            )
            assert changed.rowcount == 1
    assert state_at(settings, position) == state


def delete_event(settings: Settings, position: int) -> None:
    if settings.database_url:
        with superuser(settings) as conn:
            done = conn.execute(
                sql.SQL("DELETE FROM {} WHERE notification_id = %s").format(
                    table(settings, EVENTS_PG)
                ),
                [position],
            )
            assert done.rowcount == 1
    else:
        with sqlite_superuser(settings) as db:
            deleted = db.execute(f"DELETE FROM {EVENTS_TABLE_SQLITE} WHERE rowid = ?", (position,))
            assert deleted.rowcount == 1
    assert position not in [row[0] for row in stored_rows(settings)]


def forge_event(settings: Settings, copied_from: int, position: int | None = None) -> int:
    """A copy of a real event under a new aggregate id, at ``position`` or the next free one."""
    _, _, version, topic, state = next(r for r in stored_rows(settings) if r[0] == copied_from)
    columns = "originator_id, originator_version, topic, state"
    values: list[Any] = [uuid.uuid4(), version, topic, state]
    if position is not None:
        columns, values = "notification_id, " + columns, [position, *values]
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(values))
    with superuser(settings) as conn:
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (" + columns + ") VALUES ({}) RETURNING notification_id"
            ).format(table(settings, EVENTS_PG), placeholders),
            values,
        ).fetchone()
    assert row is not None
    return int(row[0])


def forge_next_version(settings: Settings, position: int) -> tuple[uuid.UUID, int]:
    """The busiest aggregate's last event again, as its next version, at ``position``.

    A plain INSERT: the append-only triggers let it through on either store.
    """
    rows = stored_rows(settings)
    versions: dict[Any, int] = {}
    for row in rows:
        versions[row[1]] = max(versions.get(row[1], 0), row[2])
    aggregate = max(versions, key=lambda key: versions[key])
    last = next(row for row in rows if (row[1], row[2]) == (aggregate, versions[aggregate]))
    values = (position, aggregate, last[2] + 1, last[3], last[4])
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (notification_id, originator_id, originator_version, topic,"
                    " state) VALUES (%s, %s, %s, %s, %s)"
                ).format(table(settings, EVENTS_PG)),
                values,
            )
    else:
        with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db, db:
            db.execute(
                f"INSERT INTO {EVENTS_TABLE_SQLITE}"
                " (rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                values,
            )
    return uuid.UUID(str(aggregate)), last[2] + 1


def delete_seal(settings: Settings, position: int) -> None:
    with superuser(settings) as conn:
        done = conn.execute(
            sql.SQL("DELETE FROM {} WHERE position = %s").format(table(settings, SEALS)),
            [position],
        )
        assert done.rowcount == 1


def swap_events(settings: Settings, lower: int, higher: int) -> None:
    events = table(settings, EVENTS_PG)
    move = sql.SQL("UPDATE {} SET notification_id = %s WHERE notification_id = %s").format(events)
    with superuser(settings) as conn, conn.transaction():
        for new, old in ((-higher, lower), (lower, higher), (higher, -higher)):
            assert conn.execute(move, [new, old]).rowcount == 1


def seal_of(settings: Settings, position: int) -> bytes:
    with superuser(settings) as conn:
        row = conn.execute(
            sql.SQL("SELECT hash FROM {} WHERE position = %s").format(table(settings, SEALS)),
            [position],
        ).fetchone()
    assert row is not None
    return bytes(row[0])


def reseal_from(settings: Settings, position: int) -> None:
    """Recompute every seal from ``position`` on, so the chain over the log holds together."""
    rows = [row for row in stored_rows(settings) if row[0] >= position]
    earlier = [row[0] for row in stored_rows(settings) if row[0] < position]
    previous = seal_of(settings, earlier[-1]) if earlier else GENESIS
    seals = []
    for row in rows:
        previous = link(previous, *row)
        seals.append((previous, row[0]))
    with superuser(settings) as conn, conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL("UPDATE {} SET hash = %s WHERE position = %s").format(table(settings, SEALS)),
            seals,
        )
    assert seal_of(settings, rows[-1][0]) == previous


def delete_checkpoint_rows(settings: Settings) -> None:
    with superuser(settings) as conn:
        conn.execute(sql.SQL("DELETE FROM {}").format(table(settings, CHECKPOINTS)))


def chain_holds_by_itself(ledger: Ledger) -> bool:
    """Whether the seals agree with the log, ignoring every checkpoint."""
    store = ledger.county.audit.ledger
    until = store.bounds()
    return ChainWalk([], lambda _: True, store.orphan_seal(until)).walk(store.sealed(until)).ok


def assert_reported_at(result: Verification, position: int, problem: str) -> None:
    assert not result.ok
    assert (result.first_bad_position, result.problem) == (position, problem)


# == the untouched log ======================================================================


@pytest.mark.parametrize("store", [POSTGRES, SQLITE])
def test_an_untouched_log_verifies_to_its_head(ledger: Ledger) -> None:
    result = ledger.verify()

    assert result.ok
    assert result.first_bad_position is None
    assert result.problem is None
    assert result.events_checked == ledger.events
    assert result.head_position == ledger.events
    assert ledger.county.audit.ledger.head() == (ledger.events, result.head_hash)
    assert result.checkpoints_checked == 0


@pytest.mark.parametrize("store", [POSTGRES, SQLITE])
def test_an_untouched_log_still_verifies_against_its_checkpoint_as_it_grows(ledger: Ledger) -> None:
    checkpoint = ledger.county.audit.checkpoint()
    later = ledger.append_real_events(3)

    result = ledger.verify()

    assert checkpoint.position == ledger.events
    assert later == [ledger.events + 1, ledger.events + 2, ledger.events + 3]
    assert result.ok
    assert result.events_checked == ledger.events + 3
    # Kept in the database and in the journal beside the key: one checkpoint.
    assert result.checkpoints_checked == 1


# == an edited payload ======================================================================


@pytest.mark.parametrize("change", [backdated, one_bit_flipped], ids=["backdated", "bit"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("store", [POSTGRES, SQLITE])
def test_an_edited_payload_is_reported_at_that_event(
    ledger: Ledger, where: str, change: Callable[[bytes], bytes]
) -> None:
    position = ledger.at(where)
    edit_state(ledger.settings, position, change)

    result = ledger.verify()

    assert_reported_at(result, position, "seal does not match event")
    assert result.events_checked == position - 1
    assert result.head_position == position - 1


# == a deleted event ========================================================================


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("store", [POSTGRES, SQLITE])
def test_a_deleted_event_is_reported_where_it_was(ledger: Ledger, where: str) -> None:
    position = ledger.at(where)
    delete_event(ledger.settings, position)

    result = ledger.verify()

    assert_reported_at(result, position, "sealed event is missing")
    assert result.events_checked == position - 1


@pytest.mark.parametrize("store", [POSTGRES])
def test_a_deleted_event_taken_with_its_seal_is_caught_at_the_next_event(ledger: Ledger) -> None:
    """Nothing is left at the deleted position: the chain breaks at the event after it."""
    position = ledger.middle
    delete_event(ledger.settings, position)
    delete_seal(ledger.settings, position)

    result = ledger.verify()

    assert_reported_at(result, position + 1, "seal does not match event")
    assert result.events_checked == position - 1


# == an inserted forged event ===============================================================


@pytest.mark.parametrize("store", [POSTGRES])
def test_a_forged_event_inserted_at_the_head_is_reported_at_its_position(ledger: Ledger) -> None:
    forged = forge_event(ledger.settings, copied_from=ledger.middle)

    assert forged == ledger.events + 1
    assert_reported_at(ledger.verify(), forged, "event has no seal")


@pytest.mark.parametrize("store", [POSTGRES])
def test_a_forged_event_stays_reported_at_its_position_as_real_events_follow(
    ledger: Ledger,
) -> None:
    forged = forge_event(ledger.settings, copied_from=ledger.middle)
    later = ledger.append_real_events(3)

    result = ledger.verify()

    assert later == [forged + 1, forged + 2, forged + 3]
    assert_reported_at(result, forged, "event has no seal")
    assert result.events_checked == ledger.events


def leave_a_gap(settings: Settings) -> int:
    """A failed write: it draws the next position, then rolls back, as a lost race does."""
    assert settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " VALUES (%s, 1, 'anju:Nothing', '') RETURNING notification_id"
            ).format(table(settings, EVENTS_PG)),
            [uuid.uuid4()],
        ).fetchone()
        conn.rollback()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("store", [POSTGRES])
def test_a_forged_event_inserted_into_a_gap_mid_log_is_reported_at_that_gap(ledger: Ledger) -> None:
    gap = leave_a_gap(ledger.settings)
    later = ledger.append_real_events(3)
    assert ledger.verify().ok  # a gap is no damage

    forge_event(ledger.settings, copied_from=ledger.middle, position=gap)
    result = ledger.verify()

    assert gap == ledger.events + 1
    assert later == [gap + 1, gap + 2, gap + 3]
    assert_reported_at(result, gap, "event has no seal")
    assert result.events_checked == ledger.events


@pytest.mark.parametrize("position", [0, -7], ids=["zero", "negative"])
@pytest.mark.parametrize("store", [POSTGRES, "sqlite"])
def test_a_forged_event_put_before_the_first_position_is_reported_there(
    ledger: Ledger, position: int
) -> None:
    """An aggregate's next version, slipped in below position 1, where nothing is sealed."""
    aggregate, version = forge_next_version(ledger.settings, position)
    # The application believes it: the aggregate now loads at the forged version.
    assert ledger.county.book.repository.get(aggregate).version == version

    result = ledger.verify()

    assert_reported_at(result, position, "event has no seal")
    assert result.events_checked == 0


@pytest.mark.parametrize("store", [POSTGRES])
def test_a_forged_event_given_a_seal_of_its_own_in_a_gap_is_caught_by_the_next_real_event(
    ledger: Ledger,
) -> None:
    """The forger also inserts a seal chained to the event before the gap.

    That seal holds, so the chain breaks at the first real event after the gap,
    whose seal was chained to the event before the gap: the forgery is caught,
    one position after where it lies (the forged event itself counts as checked).
    """
    gap = leave_a_gap(ledger.settings)
    ledger.append_real_events(2)
    forge_event(ledger.settings, copied_from=ledger.middle, position=gap)
    forged_row = next(row for row in stored_rows(ledger.settings) if row[0] == gap)
    with superuser(ledger.settings) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (position, hash) VALUES (%s, %s)").format(
                table(ledger.settings, SEALS)
            ),
            [gap, link(seal_of(ledger.settings, gap - 1), *forged_row)],
        )

    result = ledger.verify()

    assert_reported_at(result, gap + 1, "seal does not match event")
    assert result.events_checked == ledger.events + 1


# == two swapped events =====================================================================


@pytest.mark.parametrize("pair", ["adjacent", "far apart", "first and last"])
@pytest.mark.parametrize("store", [POSTGRES])
def test_two_swapped_events_are_reported_at_the_lower_position(ledger: Ledger, pair: str) -> None:
    lower, higher = {
        "adjacent": (ledger.middle, ledger.middle + 1),
        "far apart": (ledger.middle // 2, ledger.middle + ledger.middle // 2),
        "first and last": (1, ledger.events),
    }[pair]
    before = {row[0]: row[1:] for row in stored_rows(ledger.settings)}
    swap_events(ledger.settings, lower, higher)
    after = {row[0]: row[1:] for row in stored_rows(ledger.settings)}
    assert (after[lower], after[higher]) == (before[higher], before[lower])

    result = ledger.verify()

    assert_reported_at(result, lower, "seal does not match event")
    assert result.events_checked == lower - 1


# == a log rewritten and fully re-sealed ====================================================


DIFFERS = "log differs from a signed checkpoint"
FORGED_SIGNATURE = "a checkpoint's signature does not hold"
# What the attacker does to the checkpoints besides re-sealing: (checkpoint rows in the
# database, journal beside the key, checkpoint handed in from outside) -> the problem found.
REWRITES = {
    "checkpoint in the database and the journal": (("kept", "kept", False), DIFFERS),
    "checkpoint rows deleted": (("deleted", "kept", False), DIFFERS),
    "checkpoint rows forged, journal kept": (("forged", "kept", False), DIFFERS),
    "checkpoint rows forged, journal deleted": (("forged", "deleted", False), FORGED_SIGNATURE),
    "checkpoint held only outside": (("deleted", "deleted", True), DIFFERS),
}


def forge_checkpoint(ledger: Ledger, genuine: Checkpoint) -> None:
    """The re-sealed head at the checkpoint's position, under the old signature."""
    new_seal = seal_of(ledger.settings, genuine.position)
    assert new_seal != genuine.hash
    ledger.county.audit.ledger.add_checkpoint(replace(genuine, hash=new_seal))


@pytest.mark.parametrize("attack", list(REWRITES))
@pytest.mark.parametrize("store", [POSTGRES])
def test_a_rewritten_and_resealed_log_is_caught_at_an_earlier_signed_checkpoint(
    ledger: Ledger, attack: str
) -> None:
    (rows, journal, outside), problem = REWRITES[attack]
    checkpoint = ledger.county.audit.checkpoint()
    ledger.append_real_events(3)
    edited = ledger.middle
    assert checkpoint.position == ledger.events > edited

    edit_state(ledger.settings, edited, backdated)
    assert_reported_at(ledger.verify(), edited, "seal does not match event")
    reseal_from(ledger.settings, edited)
    assert chain_holds_by_itself(ledger)
    if rows != "kept":
        delete_checkpoint_rows(ledger.settings)
        assert ledger.county.audit.ledger.checkpoints() == []
    if rows == "forged":
        forge_checkpoint(ledger, checkpoint)
    if journal == "deleted":
        ledger.county.audit.signer.journal.unlink()  # type: ignore[union-attr]
    if outside:
        # Nothing inside the county remembers the checkpoint: the chain alone holds.
        assert ledger.verify().ok

    result = ledger.verify([checkpoint] if outside else None)

    assert_reported_at(result, checkpoint.position, problem)


# == the command line =======================================================================


def run_anju(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    assert settings.database_url and settings.master_key and settings.signing_key_file
    env = {
        **os.environ,
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_COUNTY": settings.county,
        "ANJU_DATA_DIR": str(settings.data_dir),
        "ANJU_MASTER_KEY": settings.master_key,
        "ANJU_BLIND_INDEX_KEY": str(settings.blind_index_key),
        "ANJU_SIGNING_KEY_FILE": str(settings.signing_key_file),
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(ANJU), *args],
        env=env,
        cwd=settings.data_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("store", [POSTGRES])
def test_anju_audit_verify_exits_1_at_the_first_bad_position(
    ledger: Ledger, tmp_path: Path
) -> None:
    settings = ledger.settings

    untouched = run_anju(settings, "audit", "verify")
    assert untouched.returncode == 0, untouched.stderr
    record = json.loads(untouched.stdout)
    assert record["ok"] is True
    assert record["events_checked"] == ledger.events
    assert record["head"]["position"] == ledger.events
    assert record["first_bad_position"] is None

    signed = run_anju(settings, "audit", "checkpoint")
    assert signed.returncode == 0, signed.stderr
    held_outside = tmp_path / "held-by-the-auditor.jsonl"
    held_outside.write_text(signed.stdout, "utf-8")
    checkpoint = json.loads(signed.stdout)
    assert checkpoint["position"] == ledger.events

    edited = ledger.middle
    edit_state(settings, edited, backdated)
    tampered = run_anju(settings, "audit", "verify")
    assert tampered.returncode == 1, tampered.stderr
    record = json.loads(tampered.stdout)
    assert (record["ok"], record["first_bad_position"]) == (False, edited)
    assert record["problem"] == "seal does not match event"

    # Re-sealed, with every copy of the checkpoint inside the county gone.
    reseal_from(settings, edited)
    delete_checkpoint_rows(settings)
    ledger.county.audit.signer.journal.unlink()  # type: ignore[union-attr]
    caught = run_anju(settings, "audit", "verify", "--checkpoints", str(held_outside))
    assert caught.returncode == 1, caught.stderr
    record = json.loads(caught.stdout)
    assert (record["ok"], record["first_bad_position"]) == (False, checkpoint["position"])
    assert "checkpoint" in record["problem"]
