"""Ledger verification throughput, beside a bare read of the same rows.

    .venv/bin/python bench/verify.py [--store postgres|sqlite] [--runs 3]

Generates a synthetic county (~105,000 events) into a fresh store, then, in the
same run and on the same data, measures:

- raw read: every event joined to its seal, read with the driver alone
  (psycopg's binary protocol, or sqlite3) and nothing else done with the rows;
- library read: the eventsourcing recorder's ``select_notifications`` over the
  whole log (no decoding);
- verify: ``Audit.verify()``, what ``anju audit verify`` and
  ``GET /v1/audit/verify`` run: read every event and seal, recompute every
  link of the chain, compare, check the signed checkpoints;
- bundle verify: ``anju log verify`` on the exported bundle (JSON lines).

Machines are noisy, so each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.bootstrap import open_county
from application.synthetic_county import generate_county
from infrastructure.log_bundle import verify_bundle, write_bundle
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from infrastructure.vault import new_master_key_text

URL = os.environ.get("ANJU_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
END = datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class FixedClock:
    def now(self) -> datetime:
        return END


def rate(events: int, run: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return events / statistics.median(seconds), seconds


def library_read(county) -> int:  # type: ignore[no-untyped-def]
    count, start = 0, 0
    while batch := county.book.recorder.select_notifications(
        start=start, limit=20000, inclusive_of_start=False
    ):
        count += len(batch)
        start = batch[-1].id
    return count


def raw_read(county) -> int:  # type: ignore[no-untyped-def]
    ledger = county.audit.ledger
    return sum(1 for _ in ledger.sealed(ledger.bounds()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name in list(os.environ):
        if name.startswith(("ANJU_", "POSTGRES_", "SQLITE_", "PERSISTENCE_")):
            del os.environ[name]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.mkdtemp())
    write_new_key(scratch / "signing.key")
    settings = Settings(
        data_dir=scratch / "var",
        database_url=URL if args.store == "postgres" else None,
        county=schema,
        master_key=new_master_key_text(),
        signing_key_file=scratch / "signing.key",
    )
    county = open_county(settings, FixedClock())
    try:
        started = time.perf_counter()
        generated = generate_county(county.book, county.services.vault, end=END)
        print(
            f"store {args.store}; generated {generated.events:,} events"
            f" in {time.perf_counter() - started:.1f} s"
        )
        audit = county.audit
        checkpoint = audit.checkpoint()
        bundle = scratch / "county.jsonl"
        head = checkpoint.position
        write_bundle(
            bundle,
            {"county": schema, "timezone": "Asia/Shanghai", "exported_at": END.isoformat()},
            audit.known_checkpoints(),
            audit.ledger.sealed(head),
            audit.signer,  # type: ignore[arg-type]
        )
        result = audit.verify()
        assert result.ok and result.events_checked == generated.events, result
        assert verify_bundle(bundle).ok
        events = generated.events
        figures = {
            "raw read (driver)": rate(events, lambda: raw_read(county), args.runs),
            "library read": rate(events, lambda: library_read(county), args.runs),
            "verify": rate(events, audit.verify, args.runs),
            "bundle verify": rate(events, lambda: verify_bundle(bundle), args.runs),
        }
        baseline = figures["raw read (driver)"][0]
        print(f"{'measure':<22}{'events/s':>12}{'vs raw read':>13}   runs (s)")
        for label, (per_second, seconds) in figures.items():
            runs = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{label:<22}{per_second:>12,.0f}{per_second / baseline:>12.2f}x   {runs}")
    finally:
        county.close()
        if settings.database_url:
            with psycopg.connect(URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
