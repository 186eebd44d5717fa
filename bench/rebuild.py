"""Full read-model rebuild throughput, beside the library's own read-and-decode rate.

    .venv/bin/python bench/rebuild.py [--store postgres|sqlite] [--runs 3]

Generates a synthetic county (~105,000 events) into a fresh store, then, in the
same run and on the same data, measures:

- library: the eventsourcing recorder's ``select_notifications`` plus
  ``mapper.to_domain_event`` over the whole log (what any library-based
  projection pays before doing any work);
- library read: the recorder's ``select_notifications`` alone;
- projection read: the projections' own log reader (on PostgreSQL, five
  columns as tuples over psycopg's binary protocol; on SQLite, the library's);
- rebuild: ``Projections.rebuild()`` — new tables for every read model, fold
  every event, write rows and tracking per batch, build indexes, switch.

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
from application.casebook import Casebook
from application.read_model import LogReader
from application.synthetic_county import generate_county
from infrastructure.settings import Settings
from infrastructure.vault import new_master_key_text

URL = os.environ.get("ANJU_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
END = datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class FixedClock:
    def now(self) -> datetime:
        return END


def read_all(book: Casebook, decode: bool) -> int:
    count, start = 0, 0
    while True:
        batch = book.recorder.select_notifications(
            start=start, limit=10000, inclusive_of_start=False
        )
        if not batch:
            return count
        if decode:
            for notification in batch:
                book.mapper.to_domain_event(notification)
        count += len(batch)
        start = batch[-1].id


def read_with(read_log: LogReader) -> int:
    count, start = 0, 0
    while batch := read_log(start, 10000):
        count += len(batch)
        start = batch[-1][0]
    return count


def rate(events: int, run: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return events / statistics.median(seconds), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name in list(os.environ):
        if name.startswith(("ANJU_", "POSTGRES_", "SQLITE_", "PERSISTENCE_")):
            del os.environ[name]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        database_url=URL if args.store == "postgres" else None,
        county=schema,
        master_key=new_master_key_text(),
    )
    county = open_county(settings, FixedClock())
    try:
        started = time.perf_counter()
        generated = generate_county(county.book, county.services.vault, end=END)
        print(
            f"store {args.store}; generated {generated.events:,} events in {time.perf_counter() - started:.1f} s"
        )
        projections = county.services.projections
        projections.catch_up()
        events = generated.events
        figures = {
            "library read+decode": rate(events, lambda: read_all(county.book, True), args.runs),
            "library read (no decode)": rate(
                events, lambda: read_all(county.book, False), args.runs
            ),
            "projection read": rate(events, lambda: read_with(projections.read_log), args.runs),
            "full rebuild": rate(events, projections.rebuild, args.runs),
        }
        baseline = figures["library read+decode"][0]
        print(f"{'measure':<24}{'events/s':>12}{'vs library':>12}   runs (s)")
        for label, (per_second, seconds) in figures.items():
            runs = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{label:<24}{per_second:>12,.0f}{per_second / baseline:>11.2f}x   {runs}")
    finally:
        county.close()
        if settings.database_url:
            with psycopg.connect(URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
