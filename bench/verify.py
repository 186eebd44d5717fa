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
- bundle verify: ``anju log verify`` on the exported bundle (JSON lines);
- checkpoint rounds on that large log (what ``anju serve`` runs every minute:
  verify from the last checkpoint to the head, sign the head if it moved),
  with the head still and after 100 new events, in milliseconds per round.

Machines are noisy, so each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import END, arguments, generated_county, print_table, rate

from api.bootstrap import County
from application.actors import SYSTEM
from infrastructure.log_bundle import verify_bundle, write_bundle


def library_read(county: County) -> int:
    count, start = 0, 0
    while batch := county.book.recorder.select_notifications(
        start=start, limit=20000, inclusive_of_start=False
    ):
        count += len(batch)
        start = batch[-1].id
    return count


def raw_read(county: County) -> int:
    ledger = county.audit.ledger
    return sum(1 for _ in ledger.sealed(ledger.bounds()))


def grow(county: County, events: int) -> None:
    for _ in range(events):
        county.services.organisation.found_community(
            SYSTEM,
            code=f"b_{uuid.uuid4().hex[:8]}",
            name="新社区",
            township="城关镇",
            county="示范县",
        )


def round_seconds(county: County, new_events: int, runs: int) -> list[float]:
    """Each run: ``new_events`` appended (not timed), then one timed checkpoint round."""
    seconds = []
    for _ in range(runs):
        grow(county, new_events)
        started = time.perf_counter()
        county.audit.checkpoint_round()
        seconds.append(time.perf_counter() - started)
        assert county.audit.ledger_ok
    return seconds


def print_rounds(county: County, runs: int) -> None:
    county.audit.checkpoint_round()
    rows = {
        "round, head still": round_seconds(county, 0, runs),
        "round, 100 new events": round_seconds(county, 100, runs),
    }
    print(f"{'checkpoint round':<24}{'ms':>12}   runs (ms)")
    for label, seconds in rows.items():
        runs_ms = ", ".join(f"{s * 1000:.1f}" for s in seconds)
        print(f"{label:<24}{statistics.median(seconds) * 1000:>12.1f}   {runs_ms}")


def main() -> None:
    args = arguments()
    with generated_county(args.store) as (county, generated, scratch):
        audit = county.audit
        checkpoint = audit.checkpoint()
        bundle = scratch / "county.jsonl"
        write_bundle(
            bundle,
            {
                "county": county.settings.county,
                "timezone": "Asia/Shanghai",
                "exported_at": END.isoformat(),
            },
            audit.known_checkpoints(),
            audit.ledger.sealed(checkpoint.position),
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
        print_table(figures, "raw read (driver)", "vs raw read")
        print_rounds(county, args.runs)


if __name__ == "__main__":
    main()
