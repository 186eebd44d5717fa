"""A deadline watcher killed at random moments, and raced, still records each fact once.

A generated county with months of casework and no watcher events yet is caught
up; then `anju deadlines run --once --now T` runs as a process of its own and
is killed with SIGKILL at seeded random moments: some early (while it opens the
county or catches the read models up), most mid-round once it has recorded
some events (seen by polling the size of the log), at least eight of those,
the last among the mandatory visits a round judges after every case; at least
once two watchers run at the same time and race. A last pair of racing
watchers runs to the end, and one more round must find nothing left to record.

The log must then hold no duplicate (case, deadline, due_at), no duplicate
escalation per (case, resolve_by) and no duplicate overdue mandatory visit per
life event; and nothing missed: the records, as facts (the round's time left
out), equal those one uninterrupted round at T records in process on a fresh
copy of the same history (same seed, same IDs).

``--now`` starts a clock that then runs with real time, and each restart starts
it at T again. What a round records depends on its time only where a deadline,
an escalation threshold or a settled mandatory visit falls between T and the
round's time, so T is chosen (from the copy) with nothing of the kind within
WINDOW after it; every watcher of the test lives well within that window.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import County, open_county
from application import synthetic_county
from application.actors import SYSTEM
from application.deadline_watch import SETTLE
from application.mandatory_visits import falls_due_at
from application.read_model import Condition, from_micros
from application.synthetic_county import generate_county
from domain.grievance import Grievance
from domain.vocabulary import OPEN_STATUSES
from infrastructure.settings import Settings
from tests.conftest import drop_schema
from tests.fakes import SHANGHAI, SteppingClock
from tests.integration.deadline_processes import (
    WatcherRecords,
    log_size,
    recorded_counts,
    seeded_uuid4,
    watcher_records,
)
from tests.integration.projection_processes import (
    LOADED,
    eventually,
    notification_ids,
    run_anju,
    start_anju,
    stop,
    wait_for_text,
)

END = datetime(2026, 6, 30, 18, 0, tzinfo=SHANGHAI)
SEED = 23
# About 6,700 events; one round records some 750 facts (~1 s on SQLite, ~4 s on PostgreSQL).
COUNTY_SHAPE: dict[str, Any] = {
    "communities": 1,
    "households_per_community": 250,
    "cadres_per_community": 10,
    "days": 60,
    "visits_per_cadre_day": 3,
}
# The watchers' clock starts here, or a little later if something falls due too near it:
# four days past the history, at 03:00 local, so cases open at the end have had time to
# pass their resolve deadlines and escalation thresholds, and more visits have fallen due.
FIRST_NOW = END + timedelta(days=4, hours=9)
WINDOW = timedelta(minutes=10)
KILLS_MID_ROUND = 8
MAX_ATTEMPTS = 40
RACE_ATTEMPT = 1  # this attempt starts two watchers at once (the last run is a pair too)
EARLY_EVERY = 3  # every third attempt kills at a random moment soon after loading
EARLY_KILL_AFTER = (0.0, 0.3)  # seconds after the child has loaded its code


def generate(county: County) -> None:
    """The county's history; the same events, IDs included, for the same seed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synthetic_county, "uuid4", seeded_uuid4(SEED))
        generate_county(county.book, county.services.vault, end=END, seed=SEED, **COUNTY_SHAPE)


def moments_that_change_a_round(county: County) -> list[datetime]:
    """Every moment at which what a round records could change with no new event.

    For each open case: its respond and resolve deadlines and when it could be
    escalated (``Grievance.wakes_at``'s moments); for each life event: when its
    mandatory visit has settled. A superset: some of these change nothing.
    """
    watch = county.services.deadlines
    moments = []
    open_cases = [Condition("status", "in", [status.value for status in OPEN_STATUSES])]
    for row in watch.store.select(watch.casework, "grievances", open_cases):
        case = county.book.load(Grievance, row["id"], "grievance")
        if case.is_open:
            after = watch.policies.governing(case.policy_version, case.received_at).escalate_after
            escalation = max(case.resolve_by, case.open_since) + after
            moments += [case.respond_by, case.resolve_by, escalation]
    for row in watch.store.select(watch.casework, "life_events"):
        moments.append(from_micros(falls_due_at(row, watch.zone)) + SETTLE)
    return moments


def quiet_moment(moments: list[datetime], first: datetime) -> datetime:
    """The first of ``first``, ``first + WINDOW``, ... with no moment within WINDOW after it."""
    now = first
    while any(now - timedelta(seconds=1) <= moment <= now + WINDOW for moment in moments):
        now += WINDOW
    return now


def reference_round(settings: Settings, tmp_path: Path) -> tuple[datetime, WatcherRecords]:
    """A fresh copy of the history and one uninterrupted round at the chosen T: (T, records)."""
    schema = f"{settings.county}_ref"
    copy = settings.model_copy(update={"county": schema, "data_dir": tmp_path / "reference"})
    clock = SteppingClock()
    county = open_county(copy, clock)
    try:
        generate(county)
        county.services.projections.catch_up()
        assert not watcher_records(county.book).total, "the history must hold no watcher events"
        now = quiet_moment(moments_that_change_a_round(county), FIRST_NOW)
        clock.set(now)
        done = county.services.deadlines.run_once()
        assert done.failures == []
        records = watcher_records(county.book)
        assert (done.deadlines_missed, done.escalated, done.mandatory_overdue) == (
            len(records.missed),
            len(records.escalated),
            len(records.overdue),
        )
        assert clock.now() < now + timedelta(minutes=1), "the stepping clock ran far"
        return now, records
    finally:
        county.close()
        if copy.database_url:
            drop_schema(copy.database_url, schema)


def start_watchers(
    stack: ExitStack, settings: Settings, now: str, outputs: list[Path], *, announce: bool
) -> list[subprocess.Popen[bytes]]:
    """``anju deadlines run --once --now NOW``, once per output file, all at once."""
    children = []
    for output in outputs:
        out = stack.enter_context(output.open("wb"))
        child = start_anju(
            settings,
            *("deadlines", "run", "--once", "--now", now),
            stdout=out,
            stderr=out,
            announce=announce,
        )
        stack.callback(stop, child)
        children.append(child)
    return children


def recorded_or_ended(
    recorded: Callable[[], int], target: int, children: list[subprocess.Popen[bytes]]
) -> Callable[[], bool]:
    return lambda: recorded() >= target or any(child.poll() is not None for child in children)


def test_watchers_killed_at_random_moments_and_racing_record_every_overdue_fact_exactly_once(
    county_settings: Settings, store: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    county = open_county(county_settings)
    try:
        generate(county)
        county.services.projections.catch_up()
        history = len(notification_ids(county.book))
        assert not watcher_records(county.book).total, "the history must hold no watcher events"
    finally:
        county.close()
    assert log_size(county_settings) == history

    now, reference = reference_round(county_settings, tmp_path)
    # Enough of every kind to show something, and enough facts for many kills mid-round.
    assert len(reference.missed) >= 500, len(reference.missed)
    assert len(reference.escalated) >= 5, len(reference.escalated)
    assert len(reference.overdue) >= 10, len(reference.overdue)
    assert not any(reference.duplicates().values()), reference.duplicates()
    expected = reference.total
    case_facts = len(reference.missed) + len(reference.escalated)  # a round's first part
    now_text = now.isoformat()
    assert now_text.endswith("+08:00"), now_text

    def recorded() -> int:
        return log_size(county_settings) - history

    rng = random.Random(f"deadline-crashes-{store}")
    watchers_started = 0
    # attempt, watchers killed, events they recorded, the part of the round the kill landed in
    mid_round: list[tuple[int, int, int, str]] = []
    early: list[tuple[int, float, int]] = []  # attempt, seconds after loading, events recorded
    finished_before_kill = 0
    raced = False
    for attempt in range(MAX_ATTEMPTS):
        if len(mid_round) >= KILLS_MID_ROUND and early and raced:
            break
        pair = attempt == RACE_ATTEMPT
        kill_early = attempt % EARLY_EVERY == EARLY_EVERY - 1
        before = recorded()
        assert before < expected, "every fact was recorded before enough kills landed"
        with ExitStack() as stack:
            outputs = [tmp_path / f"watch-{attempt}-{n}.out" for n in range(2 if pair else 1)]
            children = start_watchers(stack, county_settings, now_text, outputs, announce=True)
            watchers_started += len(children)
            for child, output in zip(children, outputs, strict=True):
                wait_for_text(output, LOADED, child, seconds=60)
            if kill_early:
                delay = rng.uniform(*EARLY_KILL_AFTER)
                time.sleep(delay)
            else:
                if len(mid_round) < KILLS_MID_ROUND - 1:
                    # Once the round has recorded some of the cases' facts left, far from all.
                    left = case_facts - before
                    share = max(1, left // max(3, KILLS_MID_ROUND - len(mid_round) + 3))
                    target = before + rng.randint(1, share)
                    pause = rng.uniform(0, 0.02)
                else:
                    # The last kill lands among the mandatory visits, judged after every case.
                    target = max(before, case_facts) + rng.randint(1, len(reference.overdue) // 3)
                    pause = 0.0
                assert eventually(
                    recorded_or_ended(recorded, target, children), seconds=60, pause=0.002
                ), f"attempt {attempt}: the watcher recorded nothing in 60 s"
                time.sleep(pause)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
            codes = [child.wait(timeout=30) for child in children]
        after = recorded()
        for code, output in zip(codes, outputs, strict=True):
            assert code in (0, -signal.SIGKILL), output.read_text("utf-8")
            if code == 0:
                finished_before_kill += 1
        killed = codes.count(-signal.SIGKILL)
        if pair and killed == 2 and after > before:
            raced = True
        if kill_early:
            early.append((attempt, round(delay, 3), after - before))
        elif killed and after > before:
            phase = "visits" if after > case_facts else "cases"
            mid_round.append((attempt, killed, after - before, phase))
    assert len(mid_round) >= KILLS_MID_ROUND, f"only {len(mid_round)} kills mid-round: {mid_round}"
    assert mid_round[-1][3] == "visits", f"no kill among the mandatory visits: {mid_round}"
    assert raced, "the two watchers started at once were not both killed while recording"
    assert early, "no early kill"
    before_last = recorded()
    assert before_last < expected, "nothing was left for the last watchers"

    # The last two watchers race to the end; between them they record all that was left.
    with ExitStack() as stack:
        outputs = [tmp_path / f"watch-last-{n}.out" for n in range(2)]
        children = start_watchers(stack, county_settings, now_text, outputs, announce=False)
        codes = [child.wait(timeout=120) for child in children]
    texts = [output.read_text("utf-8") for output in outputs]
    assert codes == [0, 0], texts
    counts = [recorded_counts(text) for text in texts]
    assert None not in counts, texts
    assert sum(sum(c) for c in counts if c) == expected - before_last, texts
    check = run_anju(county_settings, "deadlines", "run", "--once", "--now", now_text, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert recorded_counts(check.stdout) == (0, 0, 0), check.stdout + check.stderr
    assert time.monotonic() - started < WINDOW.total_seconds() / 2, (
        "the watchers' clocks ran past the window"
    )

    county = open_county(county_settings)
    try:
        found = watcher_records(county.book)
        total = len(notification_ids(county.book))
    finally:
        county.close()
    # Nothing but the watcher wrote, and everything it wrote is a watcher record.
    assert total == history + found.total
    assert min(found.positions) > history
    assert found.actors == {SYSTEM.account_id}
    assert not any(found.duplicates().values()), found.duplicates()
    assert set(found.missed) == set(reference.missed), (
        f"missing {set(reference.missed) - set(found.missed)}, "
        f"extra {set(found.missed) - set(reference.missed)}"
    )
    assert set(found.escalated) == set(reference.escalated), (
        f"missing {set(reference.escalated) - set(found.escalated)}, "
        f"extra {set(found.escalated) - set(reference.escalated)}"
    )
    assert set(found.overdue) == set(reference.overdue), (
        f"missing {set(reference.overdue) - set(found.overdue)}, "
        f"extra {set(found.overdue) - set(reference.overdue)}"
    )
    assert found.total == expected
    print(
        f"{store}: {history} events, T={now_text}, {expected} facts"
        f" ({len(reference.missed)} missed deadlines, {len(reference.escalated)} escalations,"
        f" {len(reference.overdue)} overdue visits); {watchers_started + 3} watchers started,"
        f" {len(mid_round)} kill attempts mid-round {mid_round}, early kills {early},"
        f" {finished_before_kill} finished before their kill; last pair recorded {counts};"
        f" {time.monotonic() - started:.1f} s"
    )
