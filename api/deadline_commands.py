"""`anju deadlines run`: the deadline watcher from the command line."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from api.environment import county_from_environment, settings_from_environment
from application.deadline_watch import WatchRound
from infrastructure.clock import ShiftedClock

app = typer.Typer(help="Deadlines: overdue records and escalation.", no_args_is_help=True)


def parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        typer.echo("anju: --now must be an ISO datetime with an offset", err=True)
        raise typer.Exit(2)
    return moment


@app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="One round, then exit")] = False,
    every: Annotated[float, typer.Option(help="Seconds between rounds")] = 60.0,
    now: Annotated[
        str | None,
        typer.Option(
            help="Start the clock at this instant (drills and replays), e.g. 2026-11-30T18:00:00+08:00"
        ),
    ] = None,
) -> None:
    """Record missed deadlines, escalations and overdue mandatory visits, exactly once each."""
    start = parse_now(now)
    settings = settings_from_environment()
    clock = ShiftedClock(start, settings.timezone) if start else None
    county = county_from_environment(settings, clock)
    watch = county.services.deadlines
    try:
        if once:
            with Progress(
                TextColumn("checking deadlines"), BarColumn(), MofNCompleteColumn(), transient=True
            ) as bar:
                task = bar.add_task("deadlines", total=None)
                done = watch.run_once(
                    lambda count, total: bar.update(task, completed=count, total=total)
                )
            typer.echo(summary(done))
            if done.failures:
                raise typer.Exit(1)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        typer.echo(
            f"watching deadlines of county {settings.county} every {every:g} s; stop with Ctrl-C"
        )
        watch.run(stop, every)
    finally:
        county.close()


def summary(done: WatchRound) -> str:
    text = (
        f"at {done.at.isoformat()}: {done.cases_checked} cases and "
        f"{done.life_events_checked} life events checked; recorded {done.deadlines_missed} "
        f"missed deadlines, {done.escalated} escalations, "
        f"{done.mandatory_overdue} overdue mandatory visits"
    )
    if done.failures:
        text += f"; {len(done.failures)} failed (tried again next round): " + ", ".join(
            done.failures[:5]
        )
    return text
