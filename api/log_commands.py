"""`anju log export | verify | replay`: the whole log taken away, checked and replayed offline.

`verify` and `replay` need nothing but the bundle and this package: replay copies
the events into a throwaway SQLite store and asks the same report code as the
server, as of the moment given, so its figures are the server's.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from api.audit_commands import counted, echo_json, verification_record
from api.bootstrap import open_county
from api.environment import county_from_environment
from api.report_schemas import Coverage, LateEntries, Resolution, Workload
from api.routes.reports import GroupBy
from application.actors import Actor
from application.audit import LedgerBroken, NoSigningKey
from domain.errors import InvalidCommand
from domain.vocabulary import Role
from infrastructure.log_bundle import (
    BundleCheck,
    BundleError,
    import_events,
    verify_bundle,
    write_bundle,
)
from infrastructure.settings import Settings
from infrastructure.vault import new_master_key_text

app = typer.Typer(help="The whole log as a bundle: export, verify, replay.", no_args_is_help=True)

# Replay reads as a county-wide auditor: every figure, no personal data.
REPLAY_ACTOR = Actor(account_id="county-replay", role=Role.AUDITOR)

Bundle = Annotated[Path, typer.Argument(help="The bundle file (.jsonl, or .jsonl.gz)")]


class Report(StrEnum):
    WORKLOAD = "workload"
    COVERAGE = "coverage"
    RESOLUTION = "resolution"
    LATE_ENTRIES = "late-entries"


SCHEMAS: dict[Report, type[BaseModel]] = {
    Report.WORKLOAD: Workload,
    Report.COVERAGE: Coverage,
    Report.RESOLUTION: Resolution,
    Report.LATE_ENTRIES: LateEntries,
}


@app.command("export")
def export(path: Bundle) -> None:
    """Verify the log, sign a checkpoint of its head, and write the whole log to PATH."""
    county = county_from_environment()
    try:
        audit = county.audit
        try:
            head = audit.checkpoint()
        except (NoSigningKey, LedgerBroken, InvalidCommand) as error:
            typer.echo(f"anju: {error}; nothing exported", err=True)
            raise typer.Exit(1) from None
        assert audit.signer is not None
        header = {
            "county": county.settings.county,
            "timezone": county.settings.timezone,
            "exported_at": head.signed_at.isoformat(),
            "head": {"position": head.position, "hash": head.hash.hex()},
        }
        checkpoints = [c for c in audit.known_checkpoints() if c.position <= head.position]
        rows = counted(audit.ledger.sealed(head.position), head.position, "exporting")
        events = write_bundle(path, header, checkpoints, rows, audit.signer)  # type: ignore[arg-type]
    finally:
        county.close()
    typer.echo(
        f"exported {events} events up to position {head.position} to {path}"
        f" (key id {head.key_id}, {len(checkpoints)} checkpoints)"
    )


def checked(path: Path, key_id: str | None) -> BundleCheck:
    try:
        return verify_bundle(path, key_id)
    except BundleError as error:
        echo_json({"ok": False, "problems": [str(error)]})
        raise typer.Exit(1) from None


@app.command("verify")
def verify(
    path: Bundle,
    key_id: Annotated[
        str | None, typer.Option(help="The county's key id; the bundle must be signed by it")
    ] = None,
) -> None:
    """Check every seal, checkpoint and the bundle's signature; exit 1 on any fault."""
    check = checked(path, key_id)
    echo_json(bundle_record(check))
    if not check.ok:
        raise typer.Exit(1)


def bundle_record(check: BundleCheck) -> dict[str, Any]:
    return {
        **verification_record(check.chain),
        "ok": check.ok,
        "county": check.header.get("county"),
        "exported_at": check.header.get("exported_at"),
        "key_id": check.header.get("key_id"),
        "signature_ok": check.signature_ok,
        "problems": check.problems,
    }


@app.command("replay")
def replay(
    path: Bundle,
    report: Annotated[Report, typer.Option(help="Which report")],
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"],
            help="The moment (with its UTC offset); default: when the bundle was exported",
        ),
    ] = None,
    community_id: Annotated[str | None, typer.Option(help="One community")] = None,
    grid_id: Annotated[str | None, typer.Option(help="One grid of the community")] = None,
    week: Annotated[str | None, typer.Option(help="ISO week for workload, e.g. 2026-W47")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First local date")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local date")] = None,
    group_by: Annotated[GroupBy, typer.Option(help="Resolution groups")] = GroupBy.CATEGORY,
) -> None:
    """Verify the bundle, rebuild its county in a throwaway store, print a report as JSON."""
    check = checked(path, None)
    if not check.ok:
        echo_json(bundle_record(check))
        typer.echo("anju: the bundle fails verification; nothing replayed", err=True)
        raise typer.Exit(1)
    header = check.header
    moment = as_of or datetime.fromisoformat(header["exported_at"])
    if moment.tzinfo is None:
        typer.echo("anju: --as-of needs a UTC offset, e.g. 2026-11-20T18:00:00+08:00", err=True)
        raise typer.Exit(2)
    options: dict[str, Any] = {"community_id": community_id, "grid_id": grid_id}
    if report is Report.WORKLOAD:
        options["week"] = week
    elif report is not Report.COVERAGE:
        options["date_from"] = _day(date_from)
        options["date_to"] = _day(date_to)
    if report is Report.RESOLUTION:
        options["group_by"] = group_by.value
    echo_json(replayed(path, header, report, moment, options))


def _day(text: str | None) -> date | None:
    try:
        return None if text is None else date.fromisoformat(text)
    except ValueError:
        typer.echo(f"anju: {text} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


def replayed(
    path: Path, header: dict[str, Any], report: Report, moment: datetime, options: dict[str, Any]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="anju-replay-") as scratch:
        settings = Settings(
            data_dir=Path(scratch),
            database_url=None,  # whatever the environment says: the embedded store only
            demo=False,
            signing_key_file=None,
            county=header["county"],
            timezone=header["timezone"],
            master_key=new_master_key_text(),  # reports hold no personal data
            projections=False,
        )
        county = open_county(settings)
        try:
            import_events(path, settings.county_dir / "events.sqlite")
            reports = county.services.reports.as_of(moment)
            answer = getattr(reports, report.value.replace("-", "_"))(REPLAY_ACTOR, **options)
        except InvalidCommand as error:
            typer.echo(f"anju: {error}", err=True)
            raise typer.Exit(2) from None
        finally:
            county.close()
    record: dict[str, Any] = json.loads(SCHEMAS[report].model_validate(answer).model_dump_json())
    return record
