"""A rebuild killed with SIGKILL at random moments, again and again, still ends exact.

A generated county big enough that `anju projections rebuild` takes seconds is
caught up once; then the rebuild runs as a process of its own and is killed at
random moments (after its code has loaded, so each kill lands in opening the
county, starting the rebuild, a batch, or the switch), at least ten times while
a generation is still building. After every kill the bookkeeping must show at
most one generation building per model, no stray tables, and an event count
that matches its position exactly (a batch is all or nothing). A last rebuild
runs to the end; its tables must equal a clean, uninterrupted rebuild's.
"""

from __future__ import annotations

import bisect
import random
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from api.bootstrap import County, open_county
from application.synthetic_county import generate_county
from infrastructure.settings import Settings
from tests.integration.projection_processes import (
    LOADED,
    Bookkeeping,
    bookkeeping,
    notification_ids,
    run_anju,
    start_anju,
    stop,
    wait_for_text,
)

END = datetime(2026, 6, 30, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
# About 93,000 events: a rebuild takes some 4 s on SQLite, 5 s on PostgreSQL.
COUNTY_SHAPE: dict[str, Any] = {
    "communities": 1,
    "households_per_community": 3000,
    "cadres_per_community": 100,
    "days": 90,
    "visits_per_cadre_day": 12,
}
KILLS_MID_REBUILD = 10
MAX_ATTEMPTS = 40
# A kill comes this long after the child has loaded its code (uniform, seconds).
KILL_AFTER = (0.0, 1.5)

Dump = dict[tuple[str, str], list[dict[str, Any]]]


def dump(county: County) -> Dump:
    """Every row of every live read-model table, ordered by id."""
    projections = county.services.projections
    return {
        (model.name, table.name): projections.store.select(model, table.name, order_by=("id",))
        for model in projections.models.values()
        for table in model.tables
    }


def check_bookkeeping(found: Bookkeeping, ids: list[int], models: dict[str, set[str]]) -> None:
    """At most one generation building per model, no stray tables, and exact counts."""
    for model, tables in models.items():
        live, building = found.generations[model]
        expected = {live} if building is None else {live, building}
        assert building != live
        assert {g for m, g in found.tracking if m == model} == expected, found.tracking
        assert found.generation_tables(model) == dict.fromkeys(expected, tables), found.tables
        for generation in expected:
            position, events = found.tracking[model, generation]
            # Events passed are counted in the batch's own transaction: never twice, never lost.
            assert events == bisect.bisect_right(ids, position), (model, generation, position)


def test_a_rebuild_killed_at_random_moments_ends_equal_to_a_clean_rebuild(
    county_settings: Settings, store: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    county = open_county(county_settings)
    try:
        generate_county(county.book, county.services.vault, end=END, seed=11, **COUNTY_SHAPE)
        county.services.projections.catch_up()
        ids = notification_ids(county.book)
        head = county.services.projections.head()
        models = {
            model.name: {table.name for table in model.tables}
            for model in county.services.projections.models.values()
        }
        caught_up = dump(county)
    finally:
        county.close()
    assert ids[-1] == head
    assert len(ids) >= 80_000, "a rebuild should take seconds"
    first = bookkeeping(county_settings)
    check_bookkeeping(first, ids, models)
    assert not first.building()
    live_before = {model: live for model, (live, _) in first.generations.items()}

    rng = random.Random(f"crashes-{store}")
    kills: list[tuple[float, dict[str, int], dict[str, int]]] = []  # delay, building, positions
    completed = 0
    last_building: dict[str, int] = {}
    for attempt in range(MAX_ATTEMPTS):
        if len(kills) >= KILLS_MID_REBUILD:
            break
        output = tmp_path / f"rebuild-{attempt}.out"
        with output.open("wb") as out:
            child = start_anju(
                county_settings, "projections", "rebuild", stdout=out, stderr=out, announce=True
            )
            try:
                wait_for_text(output, LOADED, child, seconds=30)
                delay = rng.uniform(*KILL_AFTER)
                time.sleep(delay)
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                code = child.wait(timeout=30)
            finally:
                stop(child)
        found = bookkeeping(county_settings)
        check_bookkeeping(found, ids, models)
        last_building = found.building()
        if code == 0:
            completed += 1  # it finished first; the next one begins a new generation
            assert not found.building(), output.read_text("utf-8")
            continue
        assert code == -signal.SIGKILL, output.read_text("utf-8")
        if found.building():
            positions = {
                model: found.tracking[model, generation][0]
                for model, generation in found.building().items()
            }
            kills.append((delay, found.building(), positions))
    assert len(kills) >= KILLS_MID_REBUILD, f"only {len(kills)} kills mid-rebuild: {kills}"
    assert any(0 < p < head for _, _, positions in kills for p in positions.values()), (
        f"no kill landed between batches of a rebuild: {kills}"
    )

    finished = run_anju(county_settings, "projections", "rebuild", timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"rebuilt to position {head}" in finished.stdout, finished.stdout
    after = bookkeeping(county_settings)
    check_bookkeeping(after, ids, models)
    assert not after.building()
    for model, (live, _) in after.generations.items():
        assert live > live_before[model]
        # The last run went on with the generation the killed one left, not a new one.
        assert live == last_building.get(model, live)
        assert after.tracking[model, live] == (head, len(ids))

    county = open_county(county_settings)
    try:
        projections = county.services.projections
        status = projections.status(county.services.clock.now())
        assert {row.model for row in status} == set(models)
        for row in status:
            assert row.live
            assert (row.position, row.events_processed, row.lag_events) == (head, len(ids), 0)
        survived = dump(county)
        projections.rebuild()
        clean = dump(county)
        clean_state = bookkeeping(county_settings)
    finally:
        county.close()
    check_bookkeeping(clean_state, ids, models)
    for model, (live, building) in clean_state.generations.items():
        assert building is None
        assert live == after.generations[model][0] + 1
        assert clean_state.tracking[model, live] == (head, len(ids))
    assert sum(len(rows) for rows in clean.values()) > len(ids) // 2
    for key, rows in clean.items():
        assert survived[key] == rows, f"{key} differs from a clean rebuild"
        assert caught_up[key] == rows, f"{key} as caught up differs from a clean rebuild"
    print(
        f"{store}: {len(ids)} events, {len(kills)} kills mid-rebuild"
        f" ({completed} rebuilds finished before their kill) in {time.monotonic() - started:.1f} s;"
        f" kills (delay, building, positions): {kills}"
    )
