"""The tail is watched: checkpoints every round the head moves, each verified from the last one.

A running county signs a checkpoint of its head on a short schedule, each time
after recomputing the chain from the last checkpoint only. A database
superuser then deletes the newest events together with their seals (plain SQL,
append-only triggers off for that connection: PostgreSQL
``session_replication_role = replica``; SQLite the triggers dropped). The next
round reports it at the checkpoint's position, /metrics says
``anju_ledger_ok 0``, and ``anju audit verify`` and ``GET /v1/audit/verify``
answer not ok.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from api.bootstrap import County
from application.actors import SYSTEM
from application.audit import LedgerBroken
from application.hash_chain import Checkpoint
from infrastructure.event_store import EVENTS_TABLE_SQLITE
from infrastructure.sealed_recorders import CHECKPOINTS, SEALS
from infrastructure.settings import Settings
from infrastructure.signing import Signer, checkpoint_record
from tests.e2e.conftest import running

SECONDS = 0.2
EVENTS_PG = "casebook_events"
ANJU = Path(sys.executable).with_name("anju")
ENDS_BEFORE = "the log ends before a checkpoint"
# After a cut, new events either land on the freed positions (SQLite reuses rowids) or
# above them (PostgreSQL's sequence goes on): the checkpoint's event differs, or is gone.
CUT_AND_GROWN = {
    ENDS_BEFORE,
    "log differs from a signed checkpoint",
    "checkpointed event is missing",
}


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def grow(county: County, how_many: int) -> None:
    """More events through the application, as the county keeps working."""
    for _ in range(how_many):
        county.services.organisation.found_community(
            SYSTEM,
            code=f"c_{uuid.uuid4().hex[:8]}",
            name="幸福社区",
            township="城关镇",
            county="示范县",
        )


def head(county: County) -> int:
    found = county.audit.ledger.head()
    assert found is not None
    return found[0]


def newest_checkpoint(county: County) -> Checkpoint | None:
    return county.audit.ledger.latest_checkpoint()


def signed_up_to(county: County, position: int) -> Callable[[], bool]:
    def reached() -> bool:
        checkpoint = newest_checkpoint(county)
        return checkpoint is not None and checkpoint.position == position

    return reached


# == tampering as a database superuser ======================================================


@contextmanager
def superuser(settings: Settings) -> Iterator[Callable[[str, list[Any]], int]]:
    """Runs SQL in one transaction that the append-only triggers do not stop.

    Statements name ``{events}``, ``{seals}`` and ``{checkpoints}``; each returns its row count.
    """
    if settings.database_url:
        names = {
            "events": sql.Identifier(settings.county, EVENTS_PG),
            "seals": sql.Identifier(settings.county, SEALS),
            "checkpoints": sql.Identifier(settings.county, CHECKPOINTS),
        }
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")

            def run(text: str, params: list[Any]) -> int:
                statement = sql.SQL(text.replace("%", "%%").replace("?", "%s")).format(**names)
                return conn.execute(statement, params).rowcount

            with conn.transaction():
                yield run
        return
    with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db:
        for operation in ("update", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS anju_append_only_{operation}")
            for ledger_table in (SEALS, CHECKPOINTS):
                db.execute(f"DROP TRIGGER IF EXISTS {ledger_table}_append_only_{operation}")
        tables = {"events": EVENTS_TABLE_SQLITE, "seals": SEALS, "checkpoints": CHECKPOINTS}
        yield lambda text, params: db.execute(text.format(**tables), params).rowcount
        db.commit()


def position_column(settings: Settings) -> str:
    return "notification_id" if settings.database_url else "rowid"


def cut_the_tail(settings: Settings, how_many: int) -> list[int]:
    """The newest events deleted together with their seals, in one transaction."""
    column = position_column(settings)
    with superuser(settings) as run:
        positions = newest_positions(settings, how_many)
        for position in positions:
            assert run(f"DELETE FROM {{events}} WHERE {column} = ?", [position]) == 1
            assert run("DELETE FROM {seals} WHERE position = ?", [position]) == 1
    return positions


def newest_positions(settings: Settings, how_many: int) -> list[int]:
    column = position_column(settings)
    if settings.database_url:
        query = sql.SQL("SELECT {} FROM {} ORDER BY 1 DESC LIMIT %s").format(
            sql.Identifier(column), sql.Identifier(settings.county, EVENTS_PG)
        )
        with psycopg.connect(settings.database_url) as conn:
            return [int(row[0]) for row in conn.execute(query, [how_many]).fetchall()]
    with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db:
        rows = db.execute(
            f"SELECT {column} FROM {EVENTS_TABLE_SQLITE} ORDER BY 1 DESC LIMIT ?", (how_many,)
        ).fetchall()
    return [int(row[0]) for row in rows]


def delete_checkpoint_rows(settings: Settings) -> None:
    with superuser(settings) as run:
        run("DELETE FROM {checkpoints}", [])


def edit_payload(settings: Settings, position: int) -> None:
    """The event's stored state one byte longer; its seal left as it was."""
    column = position_column(settings)
    state = stored_state(settings, position) + b" "
    with superuser(settings) as run:
        assert run(f"UPDATE {{events}} SET state = ? WHERE {column} = ?", [state, position]) == 1


def stored_state(settings: Settings, position: int) -> bytes:
    if settings.database_url:
        query = sql.SQL("SELECT state FROM {} WHERE notification_id = %s").format(
            sql.Identifier(settings.county, EVENTS_PG)
        )
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(query, [position]).fetchone()
    else:
        with closing(sqlite3.connect(settings.county_dir / "events.sqlite")) as db:
            row = db.execute(
                f"SELECT state FROM {EVENTS_TABLE_SQLITE} WHERE rowid = ?", (position,)
            ).fetchone()
    assert row is not None
    return bytes(row[0])


# == an untouched log =======================================================================


def test_a_running_county_signs_a_checkpoint_each_round_the_head_moves(county: County) -> None:
    grow(county, 2)
    county.start_checkpoints(SECONDS / 60)
    wait_for(signed_up_to(county, head(county)))

    for _ in range(3):
        grow(county, 2)
        wait_for(signed_up_to(county, head(county)))

    assert county.audit.ledger_ok
    assert county.audit.last_round is not None and county.audit.last_round.ok
    signed = county.audit.known_checkpoints()
    assert len(signed) >= 4
    full = county.audit.verify()
    assert full.ok and full.checkpoints_checked == len(signed)


def test_an_untouched_growing_log_keeps_verifying_round_after_round(county: County) -> None:
    audit = county.audit
    assert audit.checkpoint_round() is None  # an empty log: nothing to sign

    signed = []
    for _ in range(4):
        grow(county, 3)
        checkpoint = audit.checkpoint_round()
        assert checkpoint is not None and checkpoint.position == head(county)
        signed.append(checkpoint)
        assert audit.checkpoint_round() is None  # the head stood still
        assert audit.last_round is not None and audit.last_round.ok

    assert audit.ledger_ok
    assert [c.position for c in audit.known_checkpoints()] == [c.position for c in signed]
    assert audit.verify().checkpoints_checked == len(signed)


def test_verifying_from_the_last_checkpoint_reads_no_event_below_it(
    county: County, county_settings: Settings
) -> None:
    audit = county.audit
    grow(county, 20)
    checkpoint = audit.checkpoint()
    grow(county, 3)
    events = len(newest_positions(county_settings, 10_000))

    tail = audit.verify_tail()
    full = audit.verify()

    assert tail.ok and full.ok
    assert tail.head_position == full.head_position == head(county)
    # The checkpoint's own event (its link must equal the signed seal) and the 3 above it.
    assert tail.events_checked == 4
    assert full.events_checked == events > 20
    assert tail.checkpoints_checked == 1

    # An event below the checkpoint edited: only the whole walk reads that far down.
    edit_payload(county_settings, 2)
    assert audit.verify_tail().ok
    below = audit.verify()
    assert (below.ok, below.first_bad_position) == (False, 2)
    assert checkpoint.position > 2


def test_an_edit_of_the_checkpoints_own_event_is_reported_there(
    county: County, county_settings: Settings
) -> None:
    grow(county, 5)
    checkpoint = county.audit.checkpoint()
    grow(county, 2)

    edit_payload(county_settings, checkpoint.position)
    result = county.audit.verify_tail()

    assert (result.ok, result.first_bad_position) == (False, checkpoint.position)
    assert result.problem == "seal does not match event"


# == the newest events deleted with their seals =============================================


def test_the_newest_events_deleted_with_their_seals_are_caught_by_the_next_round(
    county: County, county_settings: Settings
) -> None:
    grow(county, 6)
    county.start_checkpoints(SECONDS / 60)
    checkpointed = head(county)
    wait_for(signed_up_to(county, checkpointed))

    cut = cut_the_tail(county_settings, 3)
    wait_for(lambda: not county.audit.ledger_ok)

    assert cut == [checkpointed, checkpointed - 1, checkpointed - 2]
    found = county.audit.last_round
    assert found is not None
    assert (found.first_bad_position, found.problem) == (checkpointed, ENDS_BEFORE)
    assert found.head_position == checkpointed - 3
    full = county.audit.verify()
    assert (full.ok, full.first_bad_position, full.problem) == (False, checkpointed, ENDS_BEFORE)
    time.sleep(SECONDS * 3)
    assert newest_checkpoint(county).position == checkpointed  # type: ignore[union-attr]
    assert not county.audit.ledger_ok


@pytest.mark.parametrize("rows", ["kept", "deleted"], ids=["checkpoint rows kept", "deleted"])
def test_a_cut_tail_stays_caught_as_the_log_grows_past_the_checkpoint_again(
    county: County, county_settings: Settings, rows: str
) -> None:
    """New events after the cut do not hide it; nor does deleting the checkpoint rows.

    The checkpoint is still in the journal beside the signing key.
    """
    audit = county.audit
    grow(county, 6)
    checkpoint = audit.checkpoint_round()
    assert checkpoint is not None

    cut_the_tail(county_settings, 4)
    if rows == "deleted":
        delete_checkpoint_rows(county_settings)
        assert newest_checkpoint(county) is None
    grow(county, 6)
    assert head(county) > checkpoint.position

    with pytest.raises(LedgerBroken, match=f"at position {checkpoint.position} "):
        audit.checkpoint_round()
    found = audit.last_round
    assert found is not None and found.problem in CUT_AND_GROWN
    assert found.first_bad_position == checkpoint.position
    assert not audit.ledger_ok
    full = audit.verify()
    assert (full.ok, full.first_bad_position) == (False, checkpoint.position)


# == the command line and HTTP ==============================================================


def run_anju(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    assert settings.master_key and settings.signing_key_file
    env = {
        **os.environ,
        "ANJU_COUNTY": settings.county,
        "ANJU_DATA_DIR": str(settings.data_dir),
        "ANJU_MASTER_KEY": settings.master_key,
        "ANJU_BLIND_INDEX_KEY": str(settings.blind_index_key),
        "ANJU_SIGNING_KEY_FILE": str(settings.signing_key_file),
    }
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [str(ANJU), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def verified_by_the_cli(settings: Settings, *options: str) -> tuple[int, dict[str, Any]]:
    done = run_anju(settings, "audit", "verify", *options)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_anju_audit_verify_exits_1_at_the_checkpoint_of_a_cut_tail(
    county: County, county_settings: Settings, tmp_path: Path
) -> None:
    grow(county, 5)
    signed = run_anju(county_settings, "audit", "checkpoint")
    assert signed.returncode == 0, signed.stderr
    checkpoint = json.loads(signed.stdout)
    assert checkpoint["position"] == head(county)
    grow(county, 2)
    assert verified_by_the_cli(county_settings, "--tail")[1]["events_checked"] == 3

    cut_the_tail(county_settings, 4)
    # Every copy inside the county gone too: the database rows and the journal.
    delete_checkpoint_rows(county_settings)
    assert isinstance(county.audit.signer, Signer)
    county.audit.signer.journal.unlink()
    held_outside = tmp_path / "held-by-the-county.jsonl"
    held_outside.write_text(signed.stdout, "utf-8")

    assert county.audit.verify().ok  # nothing inside the county remembers the checkpoint
    code, record = verified_by_the_cli(county_settings, "--checkpoints", str(held_outside))
    assert code == 1
    assert (record["ok"], record["first_bad_position"]) == (False, checkpoint["position"])
    assert record["problem"] == ENDS_BEFORE


def test_over_http_a_cut_tail_turns_the_ledger_metric_to_0_and_verify_to_not_ok(
    county_settings: Settings,
) -> None:
    settings = county_settings.model_copy(update={"checkpoint_minutes": SECONDS / 60})
    with running(settings) as (url, app):
        county: County = app.state.county
        auditor = auditor_token(county)
        grow(county, 5)
        checkpointed = head(county)
        wait_for(signed_up_to(county, checkpointed))
        with httpx.Client(base_url=url, timeout=30) as client:
            assert ledger_metric(client) == 1
            cut_the_tail(settings, 2)
            wait_for(lambda: ledger_metric(client) == 0)
            answer = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {auditor}"})

    assert answer.status_code == 200
    verified = answer.json()
    assert (verified["ok"], verified["first_bad_position"]) == (False, checkpointed)
    assert verified["problem"] == ENDS_BEFORE


def auditor_token(county: County) -> str:
    organisation = county.services.organisation
    account, _ = organisation.open_account(
        SYSTEM, username="audit1", display_name="审计员", role="auditor"
    )
    issued, _ = organisation.issue_token(SYSTEM, account.id)
    return issued.token


def ledger_metric(client: httpx.Client) -> int:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    found = re.search(r"^anju_ledger_ok (\d)$", answer.text, re.MULTILINE)
    assert found, answer.text
    return int(found.group(1))


# == the journal beside the key =============================================================


def test_the_newest_checkpoint_of_a_county_is_read_from_the_end_of_the_journal(
    county: County,
) -> None:
    """One key may sign for several counties, and a crash may cut the last line short."""
    signer = county.audit.signer
    assert isinstance(signer, Signer)
    grow(county, 2)
    ours = county.audit.checkpoint()
    with signer.journal.open("a", encoding="utf-8") as journal:
        for position in range(1, 3000):
            other = {**checkpoint_record(ours), "county": "another", "position": position}
            journal.write(json.dumps(other) + "\n")
        journal.write('{"county": "' + county.settings.county + '", "posit')

    assert signer.last_remembered(county.settings.county) == ours
    assert signer.last_remembered("another").position == 2999  # type: ignore[union-attr]
    assert signer.last_remembered("nowhere") is None
