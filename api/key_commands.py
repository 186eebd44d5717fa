"""`anju keys rotate`: household keys re-wrapped under a new master key; no event changes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.environment import county_from_environment, settings_from_environment
from infrastructure.vault import MasterKeyError, load_master_key, new_master_key_text

app = typer.Typer(help="The master key that wraps every household key.", no_args_is_help=True)


@app.command("rotate")
def rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the new master key (base64 of 32 bytes)"),
    ] = None,
) -> None:
    """Re-wrap every household key under a new master key (run with the service stopped).

    Outside demo mode give --new-key-file, then point ANJU_MASTER_KEY_FILE at it.
    In demo mode without it, a new demo key replaces the old one in its file.
    """
    settings = settings_from_environment()
    demo_file = settings.data_dir / "demo-master.key"
    in_place = new_key_file is None
    if in_place and not (
        settings.demo and not settings.master_key and not settings.master_key_file
    ):
        typer.echo("anju: give --new-key-file (only demo mode rotates its own key file)", err=True)
        raise typer.Exit(2)
    if new_key_file is None:
        new_key_file = demo_file.with_name(demo_file.name + ".new")
        # A rotation cut off before the rename leaves the only key that opens the
        # households in this file: it is used again, never replaced.
        if not new_key_file.exists():
            new_key_file.parent.mkdir(parents=True, exist_ok=True)
            new_key_file.write_text(new_master_key_text(), "ascii")
            new_key_file.chmod(0o600)
    try:
        new_key = load_master_key(None, new_key_file)
    except MasterKeyError as error:
        typer.echo(f"anju: the new key in {new_key_file}: {error}", err=True)
        raise typer.Exit(2) from None
    county = county_from_environment(settings)
    try:
        count = county.services.vault.rotate(new_key)  # type: ignore[attr-defined]
    except MasterKeyError as error:
        typer.echo(f"anju: {error}; nothing changed", err=True)
        raise typer.Exit(1) from None
    finally:
        county.close()
    if in_place:
        new_key_file.replace(demo_file)
        typer.echo(f"re-wrapped {count} household keys; the demo key in {demo_file} is new")
    else:
        typer.echo(
            f"re-wrapped {count} household keys; set ANJU_MASTER_KEY_FILE={new_key_file}"
            " before the next start"
        )
