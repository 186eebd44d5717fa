"""Settings and the county, opened from the environment for a CLI command, or a clear error."""

from __future__ import annotations

import typer

from api.bootstrap import County, open_county
from application.ports import Clock
from infrastructure.blind_index import BlindIndexKeyError
from infrastructure.settings import Settings
from infrastructure.signing import SigningKeyError
from infrastructure.vault import MasterKeyError


def settings_from_environment() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        typer.echo(f"anju: bad settings: {error}", err=True)
        raise typer.Exit(2) from None


def county_from_environment(settings: Settings | None = None, clock: Clock | None = None) -> County:
    try:
        return open_county(settings or settings_from_environment(), clock)
    except (MasterKeyError, BlindIndexKeyError, SigningKeyError) as error:
        typer.echo(f"anju: {error}", err=True)
        raise typer.Exit(2) from None
