"""The `anju` command: serve, demo data, accounts, projections, audit, log bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.progress import Progress

from api import (
    audit_commands,
    deadline_commands,
    key_commands,
    log_commands,
    projection_commands,
)
from api.bootstrap import County
from api.environment import county_from_environment, settings_from_environment
from api.logs import configure_logging
from application.demo import DemoClock, demo_accounts, seed_demo
from application.policies import load_policy_book
from application.services import CaseServices

app = typer.Typer(help="Anju 安居: casework for resettlement communities.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(accounts_app, name="accounts")
app.add_typer(projection_commands.app, name="projections")
app.add_typer(deadline_commands.app, name="deadlines")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(log_commands.app, name="log")
app.add_typer(key_commands.app, name="keys")

Host = Annotated[str, typer.Option(help="Address to listen on")]
Port = Annotated[int, typer.Option(help="Port to listen on")]


def main() -> None:
    app()


NoProjections = Annotated[
    bool, typer.Option("--no-projections", help="Leave the read models to `anju projections run`")
]
NoWatcher = Annotated[
    bool, typer.Option("--no-watcher", help="Leave deadlines to `anju deadlines run`")
]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    no_projections: NoProjections = False,
    no_watcher: NoWatcher = False,
) -> None:
    """Serve the HTTP API, with the read models and the deadline watcher in-process."""
    from api.app import create_app

    configure_logging()
    settings = settings_from_environment()
    if no_projections:
        settings.projections = False
    if no_watcher:
        settings.deadline_watch_seconds = 0
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@accounts_app.command("bootstrap")
def bootstrap(
    username: Annotated[str, typer.Option(help="The first admin's username")],
    display_name: Annotated[str | None, typer.Option(help="Shown name")] = None,
) -> None:
    """Create the first admin account; its token is the last line printed."""
    county = county_from_environment(settings_from_environment())
    try:
        token = county.services.organisation.bootstrap_admin(username, display_name)
    finally:
        county.close()
    typer.echo(f"admin account {username} ({token.account_id}); token id {token.id}")
    typer.echo(token.token)


@demo_app.command("seed")
def seed(
    households: Annotated[int, typer.Option(help="How many households")] = 300,
    weeks: Annotated[int, typer.Option(help="Weeks of history")] = 4,
) -> None:
    """Seed a demo county into an empty store and print a token per demo role."""
    county = county_from_environment(settings_from_environment())
    try:
        if _has_events(county):
            typer.echo("the store already holds events; nothing seeded", err=True)
            raise typer.Exit(1)
        _seed(county, households, weeks)
    finally:
        county.close()


@demo_app.command("run")
def demo_run(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Seed the demo county if the store is empty, print tokens, and serve."""
    settings = settings_from_environment()
    county = county_from_environment(settings)
    try:
        if not _has_events(county):
            _seed(county, 300, 4)
        else:
            typer.echo(f"using the existing demo data in {settings.county_dir}")
            _print_tokens(county)
    finally:
        county.close()
    typer.echo(f"serving on http://{host}:{port} (docs at /docs)")
    serve(host, port)


def _has_events(county: County) -> bool:
    return bool(county.book.recorder.max_notification_id())


def _seed(county: County, households: int, weeks: int) -> None:
    clock = DemoClock.ending_now(county.settings.timezone, weeks=weeks)
    services = CaseServices.wire(
        county.book,
        county.services.vault,
        clock,
        load_policy_book(),
        county.services.projections.store,
        county.services.households.id_index,
        county.settings.timezone,
    )
    with Progress(transient=True) as bar:
        task = bar.add_task("seeding the demo county", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            cast = seed_demo(services, clock, households=households, weeks=weeks, progress=progress)
        finally:
            services.projections.close()
    typer.echo(f"seeded {cast.summary()}")
    _print_tokens(county)


def _print_tokens(county: County) -> None:
    """A fresh token for one account of each demo role, saved beside the data."""
    org = county.services.organisation
    lines = []
    for role, username in demo_accounts():
        token = org.system_token(username)
        lines.append(f"{role:<11} {username:<10} {token.token}")
    path = Path(county.settings.data_dir) / "demo-tokens.txt"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    typer.echo("demo tokens (also in " + str(path) + "):")
    for line in lines:
        typer.echo("  " + line)
