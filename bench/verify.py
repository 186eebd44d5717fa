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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import END, arguments, generated_county, print_table, rate

from api.bootstrap import County
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


if __name__ == "__main__":
    main()
