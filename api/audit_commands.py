"""`anju audit verify | checkpoint | keygen`: the ledger from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from api.environment import county_from_environment
from api.routes.audit import VerificationView
from application.audit import LedgerBroken, NoSigningKey
from application.hash_chain import Checkpoint, Sealed, Verification
from domain.errors import InvalidCommand
from infrastructure.signing import Signer, checkpoint_record, checkpoints_in, write_new_key

app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)
T = TypeVar("T")
PROGRESS_EVERY = 10000


def counted(rows: Iterable[T], total: int, what: str) -> Iterator[T]:
    """The rows, with a progress bar on stderr (stdout stays clean for the JSON)."""
    with Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=total)
        for done, row in enumerate(rows, 1):
            yield row
            if done % PROGRESS_EVERY == 0:
                bar.update(task, completed=done)


def verifying(rows: Iterator[Sealed], total: int) -> Iterator[Sealed]:
    return counted(rows, total, "verifying")


def verification_record(result: Verification) -> dict[str, Any]:
    """The verification as `GET /v1/audit/verify` answers it."""
    return VerificationView.of(result).model_dump(mode="json")


def echo_json(record: dict[str, Any]) -> None:
    typer.echo(json.dumps(record, ensure_ascii=False, indent=2))


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Checkpoints the county holds: JSON lines as `anju audit checkpoint` prints them."""
    try:
        return checkpoints_in(path)
    except (OSError, ValueError, KeyError) as error:
        typer.echo(f"anju: cannot read checkpoints from {path}: {error}", err=True)
        raise typer.Exit(2) from None


@app.command("verify")
def verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Also check against these checkpoints (JSON lines) held elsewhere"),
    ] = None,
    tail: Annotated[
        bool,
        typer.Option(
            "--tail",
            help="Only from the last checkpoint to the head (what each scheduled round checks)",
        ),
    ] = False,
) -> None:
    """Recompute the hash chain over the whole log; exit 1 at the first bad position."""
    if tail and checkpoints:
        typer.echo("anju: --tail starts from the county's own last checkpoint", err=True)
        raise typer.Exit(2)
    also = read_checkpoints(checkpoints) if checkpoints else []
    county = county_from_environment()
    try:
        audit = county.audit
        result = audit.verify_tail(verifying) if tail else audit.verify(also, verifying)
    finally:
        county.close()
    echo_json(verification_record(result))
    if not result.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint() -> None:
    """Verify from the last checkpoint, then sign one of the head with the county's key."""
    county = county_from_environment()
    try:
        signed = county.audit.checkpoint()
    except (NoSigningKey, LedgerBroken, InvalidCommand) as error:
        typer.echo(f"anju: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        county.close()
    typer.echo(json.dumps(checkpoint_record(signed)))


@app.command("keygen")
def keygen(
    path: Annotated[Path, typer.Argument(help="Where to write the new private key")],
) -> None:
    """Make a new Ed25519 signing key for ANJU_SIGNING_KEY_FILE; prints its key id."""
    if path.exists():
        typer.echo(f"anju: {path} exists; not overwritten", err=True)
        raise typer.Exit(1)
    write_new_key(path)
    signer = Signer(path)
    typer.echo(f"key id {signer.key_id}; public key {signer.public_key.hex()}")
