"""Helpers for tests that run `anju` commands as processes of their own.

The library reads ``os.environ``; a child gets the test's environment without
any ``ANJU_``/store variables, plus the settings of the county under test.
Output goes to files, never pipes, so a chatty child can never block on a full
pipe. Read-model bookkeeping is read straight from the store with SQL, so a
test can look at it between a child's death and the next child's start.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, LiteralString

import psycopg
from psycopg import sql

from application.casebook import Casebook
from infrastructure.settings import Settings
from tests.conftest import ENV_NAMES, ENV_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
# What the console script `anju` runs; "announce" first says that the code is loaded.
LAUNCH = "from api.cli import main; main()"
ANNOUNCE = "from api.cli import main; print('anju loaded', flush=True); main()"
LOADED = "anju loaded"

STATUS_ROW = re.compile(
    r"^(?P<model>\w+)\s+(?P<generation>\d+)\s+(?P<state>live|building)\s+(?P<position>\d+)"
    r"\s+(?P<lag_events>\d+)\s+(?P<lag_seconds>\d+\.\d)\s+(?P<processed>\d+)$"
)
METRIC_LINE = re.compile(
    r'^(?P<name>anju_\w+)\{model="(?P<model>\w+)",generation="(?P<generation>\d+)",'
    r'state="(?P<state>\w+)"\} (?P<value>\S+)$'
)


# -- running `anju` ------------------------------------------------------------------------


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment without store settings, plus the county's ``ANJU_*``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIXES) and name not in ENV_NAMES
    }
    env["ANJU_DATA_DIR"] = str(settings.data_dir)
    env["ANJU_COUNTY"] = settings.county
    env["ANJU_TIMEZONE"] = settings.timezone
    assert settings.master_key is not None
    env["ANJU_MASTER_KEY"] = settings.master_key
    env["ANJU_BLIND_INDEX_KEY"] = str(settings.blind_index_key)
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return env


def start_anju(
    settings: Settings,
    *args: str,
    stdout: IO[Any] | int = subprocess.DEVNULL,
    stderr: IO[Any] | int = subprocess.DEVNULL,
    announce: bool = False,
) -> subprocess.Popen[bytes]:
    """``anju *args`` in a process of its own; with ``announce`` it first prints LOADED."""
    return subprocess.Popen(
        [sys.executable, "-c", ANNOUNCE if announce else LAUNCH, *args],
        cwd=ROOT,
        env=child_env(settings),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )


def run_anju(
    settings: Settings, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``anju *args`` to completion; its output as text."""
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args],
        cwd=ROOT,
        env=child_env(settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Until the file a child writes to holds ``text``; fails if the child dies first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text("utf-8", errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before {text!r}")
        time.sleep(0.005)
    raise AssertionError(f"no {text!r} from the process in {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a child that is still running (by its own handle) and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def eventually(check: Callable[[], bool], seconds: float, pause: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)


# -- what `anju projections status` and /metrics say -------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    model: str
    generation: int
    state: str
    position: int
    lag_events: int
    lag_seconds: float
    processed: int


def parse_status(text: str) -> dict[str, StatusRow]:
    """The live rows of `anju projections status`, by model."""
    rows: dict[str, StatusRow] = {}
    for line in text.splitlines():
        found = STATUS_ROW.match(line.strip())
        if found and found["state"] == "live":
            rows[found["model"]] = StatusRow(
                model=found["model"],
                generation=int(found["generation"]),
                state=found["state"],
                position=int(found["position"]),
                lag_events=int(found["lag_events"]),
                lag_seconds=float(found["lag_seconds"]),
                processed=int(found["processed"]),
            )
    return rows


def parse_metrics(text: str, name: str) -> dict[str, float]:
    """One projection metric of the live generations, by model."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        found = METRIC_LINE.match(line)
        if found and found["name"] == name and found["state"] == "live":
            values[found["model"]] = float(found["value"])
    return values


# -- the log and the read-model bookkeeping, read directly ------------------------------------


def notification_ids(book: Casebook, page: int = 20_000) -> list[int]:
    """The position of every event in the log, in order."""
    ids: list[int] = []
    start = 0
    while True:
        found = book.recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        if not found:
            return ids
        ids.extend(int(n.id) for n in found)
        start = ids[-1]


@dataclass(frozen=True)
class Bookkeeping:
    """``rm_generations``, ``rm_tracking`` and the names of every ``rm_`` table."""

    generations: dict[str, tuple[int, int | None]]  # model -> (live, building)
    tracking: dict[tuple[str, int], tuple[int, int]]  # (model, generation) -> (position, events)
    tables: set[str]

    def building(self) -> dict[str, int]:
        return {
            model: building
            for model, (_, building) in self.generations.items()
            if building is not None
        }

    def generation_tables(self, model: str) -> dict[int, set[str]]:
        """The model's tables by the generation in their names."""
        found: dict[int, set[str]] = {}
        pattern = re.compile(rf"^rm_{model}_(\d+)_(\w+)$")
        for name in self.tables:
            match = pattern.match(name)
            if match:
                found.setdefault(int(match[1]), set()).add(match[2])
        return found


def bookkeeping(settings: Settings) -> Bookkeeping:
    queries: tuple[LiteralString, ...] = (
        "SELECT model, live, building FROM rm_generations",
        "SELECT model, generation, position, events FROM rm_tracking",
    )
    rows: list[Sequence[Sequence[Any]]]
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.county)))
            rows = [conn.execute(query).fetchall() for query in queries]
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name LIKE 'rm\\_%%'",
                [settings.county],
            ).fetchall()
    else:
        path = settings.county_dir / "readmodels.sqlite"
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            rows = [conn.execute(query).fetchall() for query in queries]
            tables = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\'"
            ).fetchall()
    generations, tracking = rows
    return Bookkeeping(
        generations={
            str(model): (int(live), None if building is None else int(building))
            for model, live, building in generations
        },
        tracking={
            (str(model), int(generation)): (int(position), int(events))
            for model, generation, position, events in tracking
        },
        tables={str(name) for (name,) in tables},
    )
