"""What every benchmark shares: a generated county in a fresh store, timing, the table.

Each benchmark generates the same synthetic county (~105,000 events) into a
fresh PostgreSQL schema or SQLite folder, measures on that data in one run, and
prints each figure against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.bootstrap import County, open_county
from application.synthetic_county import SyntheticCounty, generate_county
from infrastructure.settings import Settings
from infrastructure.signing import write_new_key
from infrastructure.vault import new_master_key_text

URL = os.environ.get("ANJU_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
END = datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
Figures = dict[str, tuple[float, list[float]]]


class FixedClock:
    def now(self) -> datetime:
        return END


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args()


@contextmanager
def generated_county(store: str) -> Iterator[tuple[County, SyntheticCounty, Path]]:
    """A fresh county holding the synthetic history, its scratch folder; dropped afterwards."""
    for name in list(os.environ):
        if name.startswith(("ANJU_", "POSTGRES_", "SQLITE_", "PERSISTENCE_")):
            del os.environ[name]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.mkdtemp())
    write_new_key(scratch / "signing.key")
    settings = Settings(
        data_dir=scratch / "var",
        database_url=URL if store == "postgres" else None,
        county=schema,
        master_key=new_master_key_text(),
        blind_index_key=new_master_key_text(),
        signing_key_file=scratch / "signing.key",
    )
    county = open_county(settings, FixedClock())
    try:
        started = time.perf_counter()
        generated = generate_county(county.book, county.services.vault, end=END)
        print(
            f"store {store}; generated {generated.events:,} events"
            f" in {time.perf_counter() - started:.1f} s"
        )
        yield county, generated, scratch
    finally:
        county.close()
        if settings.database_url:
            with psycopg.connect(URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def rate(events: int, run: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    """Events per second over the median of ``runs`` runs, and each run's seconds."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return events / statistics.median(seconds), seconds


def print_table(figures: Figures, baseline: str, against: str, unit: str = "events/s") -> None:
    base = figures[baseline][0]
    print(f"{'measure':<24}{unit:>12}{against:>13}   runs (s)")
    for label, (per_second, seconds) in figures.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{label:<24}{per_second:>12,.0f}{per_second / base:>12.2f}x   {runs}")
