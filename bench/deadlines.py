"""The deadline watcher's rounds, beside the library loading the same aggregates.

    .venv/bin/python bench/deadlines.py [--store postgres|sqlite] [--runs 3]

Generates the synthetic county (~105,000 events, ~3,000 grievances, ~4,000 life
events) into a fresh store, with no watcher records yet, then measures on that
data in the same run, in cases looked at per second:

- library: ``repository.get`` of every grievance with a deadline behind it
  (the least any watcher that decides on the aggregates pays);
- first round: the round that records every missed deadline, escalation and
  overdue mandatory visit of the whole history (once; it cannot be repeated);
- cold round: a round by a freshly started watcher once everything is
  recorded (what a restart pays: every case looked at once);
- warm round: the next round of a running watcher (what every minute costs).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import END, arguments, generated_county, print_table, rate

from application.deadline_watch import DeadlineWatch
from application.read_model import Condition, micros


def main() -> None:
    args = arguments()
    with generated_county(args.store) as (county, _, _):
        services = county.services
        services.projections.catch_up()
        rows = services.projections.store.select(
            services.reports.casework, "grievances", [Condition("respond_by", "<", micros(END))]
        )
        ids = [row["id"] for row in rows]
        print(f"{len(ids):,} grievances with a deadline behind them")

        def fresh_watch() -> DeadlineWatch:
            old = services.deadlines
            return DeadlineWatch(
                old.book,
                old.projections,
                old.store,
                old.casework,
                old.policies,
                old.clock,
                old.zone,
            )

        started = time.perf_counter()
        first = services.deadlines.run_once()
        first_seconds = time.perf_counter() - started
        print(
            f"first round: {first.deadlines_missed:,} missed deadlines, {first.escalated:,}"
            f" escalations, {first.mandatory_overdue:,} overdue mandatory visits recorded"
            f" in {first_seconds:.1f} s"
        )
        warm = fresh_watch()
        warm.run_once()
        figures = {
            "library get": rate(
                len(ids), lambda: [county.book.repository.get(UUID(i)) for i in ids], args.runs
            ),
            "first round": (len(ids) / first_seconds, [first_seconds]),
            "cold round": rate(len(ids), lambda: fresh_watch().run_once(), args.runs),
            "warm round": rate(len(ids), warm.run_once, args.runs),
        }
        print_table(figures, "library get", "vs library", unit="cases/s")


if __name__ == "__main__":
    main()
