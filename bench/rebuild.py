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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import arguments, generated_county, print_table, rate

from application.casebook import Casebook
from application.read_model import LogReader


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


def main() -> None:
    args = arguments()
    with generated_county(args.store) as (county, generated, _):
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
        print_table(figures, "library read+decode", "vs library")


if __name__ == "__main__":
    main()
