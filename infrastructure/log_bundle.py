"""A county's whole log in one self-contained file, to take away, verify and replay.

The bundle is UTF-8 JSON lines (gzip-compressed when its name ends in ``.gz``):

1. a header: the format, the county, its time zone, when it was exported, and
   the public key (Ed25519, raw, hex) with its key id;
2. every signed checkpoint, one per line;
3. every event in log order: position, originator id, version, topic, the
   stored state (base64) and its seal (hex);
4. a trailer: how many events, the SHA-256 of every byte before the trailer,
   and the county key's signature over that digest.

Seals and checkpoints prove the events; the trailer's signature proves every
other byte, so a bundle with any byte changed fails verification. The county
compares the key id printed by ``anju log verify`` with the one it holds.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson

from application.hash_chain import ChainWalk, Checkpoint, Sealed, Verification
from infrastructure.sealed_recorders import SEALS
from infrastructure.signing import (
    Signer,
    checkpoint_from_record,
    checkpoint_record,
    key_id_of,
    signature_holds,
)

FORMAT = "anju-log-bundle/1"
IMPORT_BATCH = 5000


class BundleError(Exception):
    """The file is not a readable bundle at all."""


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return path.open(mode + "b")


def trailer_message(digest: bytes) -> bytes:
    return b"anju-log-bundle\n" + digest.hex().encode()


def trailer_line(trailer: dict[str, Any]) -> bytes:
    return orjson.dumps({"trailer": trailer}) + b"\n"


def write_bundle(
    path: Path,
    header: dict[str, Any],
    checkpoints: Iterable[Checkpoint],
    rows: Iterable[Sealed],
    signer: Signer,
) -> int:
    """Write the bundle; the number of events written."""
    digest = hashlib.sha256()
    events = 0
    with _open(path, "w") as out:

        def line(record: dict[str, Any]) -> None:
            data = orjson.dumps(record) + b"\n"
            digest.update(data)
            out.write(data)

        line(
            {
                "format": FORMAT,
                **header,
                "public_key": signer.public_key.hex(),
                "key_id": signer.key_id,
            }
        )
        for checkpoint in checkpoints:
            line({"checkpoint": checkpoint_record(checkpoint)})
        for position, originator_id, version, topic, state, seal in rows:
            key = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            line(
                {
                    "position": position,
                    "originator_id": str(key),
                    "version": version,
                    "topic": topic,
                    "state": base64.b64encode(bytes(state)).decode(),
                    "hash": bytes(seal).hex() if seal is not None else None,
                }
            )
            events += 1
        signed = digest.digest()
        trailer = {
            "events": events,
            "sha256": signed.hex(),
            "signature": signer.sign(trailer_message(signed)).hex(),
        }
        out.write(trailer_line(trailer))
    return events


@dataclass
class BundleCheck:
    """What verifying a bundle found."""

    header: dict[str, Any]
    chain: Verification
    signature_ok: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.signature_ok and not self.problems


@dataclass
class _Reading:
    digest: Any = field(default_factory=hashlib.sha256)
    trailer: dict[str, Any] | None = None
    trailer_line: bytes = b""
    events: int = 0
    stray: bool = False


def verify_bundle(path: Path, key_id: str | None = None) -> BundleCheck:
    """Recompute the chain, check every checkpoint and the trailer's signature."""
    try:
        with _open(path, "r") as source:
            return _verify(source, key_id)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{path} is not a readable Anju log bundle: {error}") from None


def _verify(source: IO[bytes], key_id: str | None) -> BundleCheck:
    reading = _Reading()
    lines = iter(source)
    header_line = next(lines, b"")
    reading.digest.update(header_line)
    header = orjson.loads(header_line)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"the first line does not name the format {FORMAT}")
    public_key = bytes.fromhex(header["public_key"])
    problems = []
    if key_id_of(public_key) != header["key_id"]:
        problems.append("the header's key id does not match its public key")
    if key_id is not None and header["key_id"] != key_id:
        problems.append(f"signed by key {header['key_id']}, not by the expected key {key_id}")
    checkpoints, first_event = _checkpoints(lines, reading)
    walk = ChainWalk(
        [c for c in checkpoints if c.county == header["county"]],
        lambda c: signature_holds(public_key, c.message(), c.signature),
    )
    chain = walk.walk(_events(first_event, lines, reading))
    check = BundleCheck(header, chain, problems=problems)
    if chain.ok:
        reading.stray = next(lines, None) is not None  # nothing may follow the trailer
        _check_trailer(check, reading, public_key)
    return check


def _checkpoints(
    lines: Iterator[bytes], reading: _Reading
) -> tuple[list[Checkpoint], bytes | None]:
    found: list[Checkpoint] = []
    for line in lines:
        record = orjson.loads(line)
        if "checkpoint" not in record:
            return found, line
        reading.digest.update(line)
        found.append(checkpoint_from_record(record["checkpoint"]))
    return found, None


def _events(first: bytes | None, lines: Iterator[bytes], reading: _Reading) -> Iterator[Sealed]:
    line = first
    while line is not None:
        yield from _event(line, reading)
        if reading.trailer is not None:
            return
        line = next(lines, None)


def _event(line: bytes, reading: _Reading) -> Iterator[Sealed]:
    record = orjson.loads(line)
    if "trailer" in record:
        reading.trailer = record["trailer"]
        reading.trailer_line = line
        return
    reading.digest.update(line)
    reading.events += 1
    seal = record["hash"]
    yield (
        record["position"],
        UUID(record["originator_id"]),
        record["version"],
        record["topic"],
        base64.b64decode(record["state"], validate=True),
        bytes.fromhex(seal) if seal is not None else None,
    )


def _check_trailer(check: BundleCheck, reading: _Reading, public_key: bytes) -> None:
    trailer = reading.trailer
    if trailer is None:
        check.problems.append("the bundle ends without its trailer (truncated)")
        return
    if reading.stray:
        check.problems.append("lines follow the trailer")
    # The signature cannot cover the trailer itself, so its bytes must be exactly the
    # ones the exporter writes (hex in lower case, no spacing): then no byte can change.
    canonical = {
        "events": int(trailer["events"]),
        "sha256": bytes.fromhex(trailer["sha256"]).hex(),
        "signature": bytes.fromhex(trailer["signature"]).hex(),
    }
    if reading.trailer_line != trailer_line(canonical):
        check.problems.append("the trailer is not as the exporter writes it")
    if trailer.get("events") != reading.events:
        check.problems.append("the trailer counts a different number of events")
    if trailer.get("sha256") != reading.digest.hexdigest():
        check.problems.append("the bundle's bytes differ from those its trailer signed")
    signed = trailer_message(bytes.fromhex(trailer["sha256"]))
    check.signature_ok = signature_holds(public_key, signed, bytes.fromhex(trailer["signature"]))
    if not check.signature_ok:
        check.problems.append("the trailer's signature does not hold")


def read_events(path: Path) -> Iterator[Sealed]:
    """The events of a bundle in order (verify it first)."""
    with _open(path, "r") as source:
        reading = _Reading()
        lines = iter(source)
        next(lines, b"")
        _, first = _checkpoints(lines, reading)
        yield from _events(first, lines, reading)


def import_events(path: Path, database: Path) -> int:
    """Copy a bundle's events and seals, positions kept, into an empty SQLite log."""
    count = 0
    with sqlite3.connect(database) as db:
        batch: list[Sealed] = []
        for row in read_events(path):
            batch.append(row)
            if len(batch) == IMPORT_BATCH:
                count += _insert(db, batch)
                batch = []
        count += _insert(db, batch)
    db.close()
    return count


def _insert(db: sqlite3.Connection, rows: list[Sealed]) -> int:
    db.executemany(
        "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state)"
        " VALUES (?, ?, ?, ?, ?)",
        [(p, UUID(str(i)).hex, v, t, s) for p, i, v, t, s, _ in rows],
    )
    db.executemany(
        f"INSERT INTO {SEALS} (position, hash) VALUES (?, ?)", [(row[0], row[5]) for row in rows]
    )
    return len(rows)
