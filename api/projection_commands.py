"""`anju projections run | rebuild | status`: the read models from the command line."""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.environment import county_from_environment

app = typer.Typer(help="Read models (projections).", no_args_is_help=True)


@app.command("run")
def run(
    poll: Annotated[
        float, typer.Option(help="Seconds between looks at the log without news")
    ] = 1.0,
) -> None:
    """Keep every read model up to date until stopped (SIGINT or SIGTERM)."""
    county = county_from_environment()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"projecting county {county.settings.county}; stop with Ctrl-C")
    try:
        county.services.projections.run(stop, county.wait_for_news, poll)
    finally:
        county.close()


@app.command("rebuild")
def rebuild(
    name: Annotated[str | None, typer.Argument(help="One read model (default: all)")] = None,
) -> None:
    """Build fresh tables from position 0 beside the live ones, then switch to them."""
    county = county_from_environment()
    projections = county.services.projections
    if name is not None and name not in projections.models:
        typer.echo(f"no read model {name}; there are {', '.join(projections.models)}", err=True)
        raise typer.Exit(2)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("rebuilding {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task(name or "all read models", total=projections.head() or None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            projections.rebuild([name] if name else None, progress)
        seconds = time.perf_counter() - started
        head = projections.head()
        typer.echo(
            f"rebuilt to position {head} in {seconds:.1f} s ({head / max(seconds, 1e-9):,.0f} events/s)"
        )
    finally:
        county.close()


@app.command("status")
def status() -> None:
    """Each read model's position and lag, in events and seconds."""
    county = county_from_environment()
    try:
        projections = county.services.projections
        head = projections.head()
        typer.echo(f"log head {head}")
        typer.echo(
            f"{'model':<14}{'gen':>4}  {'state':<9}{'position':>10}{'lag':>9}{'lag s':>10}{'processed':>11}"
        )
        for row in projections.status(county.services.clock.now()):
            state = "live" if row.live else "building"
            typer.echo(
                f"{row.model:<14}{row.generation:>4}  {state:<9}{row.position:>10}"
                f"{row.lag_events:>9}{row.lag_seconds:>10.1f}{row.events_processed:>11}"
            )
    finally:
        county.close()
