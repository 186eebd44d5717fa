"""The county's Ed25519 signing key for checkpoints, kept in a file outside the database.

Someone with full database access can rewrite the log and re-seal it, but cannot
sign a checkpoint: the key never enters the database. Each checkpoint signed is
also appended to a journal file beside the key, so deleting checkpoint rows from
the database does not hide a rewrite either, nor a cut-off tail. The journal
only grows, so the checkpoint each scheduled round starts from is read from its
end, not by reading the whole file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from application.hash_chain import Checkpoint


class SigningKeyError(Exception):
    pass


def key_id_of(public_key: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signature_holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_new_key(path: Path) -> None:
    """A fresh private key in PEM, readable by its owner only."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    path.chmod(0o600)


class Signer:
    """Signs checkpoints with the key in ``path`` and keeps their journal beside it."""

    def __init__(self, path: Path) -> None:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as error:
            raise SigningKeyError(f"cannot read the signing key {path}: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} does not hold an Ed25519 private key")
        self._key = key
        self.public_key = public_bytes(key.public_key())
        self.key_id = key_id_of(self.public_key)
        self.journal = path.with_name(path.name + ".checkpoints.jsonl")

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def holds(self, checkpoint: Checkpoint) -> bool:
        return signature_holds(self.public_key, checkpoint.message(), checkpoint.signature)

    def remember(self, checkpoint: Checkpoint) -> None:
        with self.journal.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(checkpoint_record(checkpoint)) + "\n")

    def remembered(self) -> list[Checkpoint]:
        return checkpoints_in(self.journal) if self.journal.exists() else []

    def last_remembered(self, county: str) -> Checkpoint | None:
        """The county's newest checkpoint in the journal (one key may sign for several)."""
        if not self.journal.exists():
            return None
        for line in lines_from_the_end(self.journal):
            try:
                checkpoint = checkpoint_from_record(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash mid-write
            if checkpoint.county == county:
                return checkpoint
        return None


def lines_from_the_end(path: Path, block: int = 65536) -> Iterator[str]:
    """The file's non-empty lines, last first, read a block at a time."""
    with path.open("rb") as file:
        end = file.seek(0, 2)
        rest = b""
        while end > 0:
            start = max(0, end - block)
            file.seek(start)
            lines = (file.read(end - start) + rest).split(b"\n")
            end = start
            # The first piece may be the tail of a line that begins in the block before.
            rest = lines.pop(0) if end > 0 else b""
            for line in reversed(lines):
                if line.strip():
                    yield line.decode("utf-8", "replace")


def checkpoints_in(path: Path) -> list[Checkpoint]:
    """Checkpoints kept as JSON lines (the journal, or a copy the county holds)."""
    lines = path.read_text("utf-8").splitlines()
    return [checkpoint_from_record(json.loads(line)) for line in lines if line.strip()]


def checkpoint_record(checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "county": checkpoint.county,
        "position": checkpoint.position,
        "hash": checkpoint.hash.hex(),
        "signed_at": checkpoint.signed_at.isoformat(),
        "signature": checkpoint.signature.hex(),
        "key_id": checkpoint.key_id,
    }


def checkpoint_from_record(record: dict[str, object]) -> Checkpoint:
    return Checkpoint(
        position=int(str(record["position"])),
        hash=bytes.fromhex(str(record["hash"])),
        signed_at=datetime.fromisoformat(str(record["signed_at"])),
        signature=bytes.fromhex(str(record["signature"])),
        key_id=str(record["key_id"]),
        county=str(record["county"]),
    )
