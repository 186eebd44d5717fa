"""The ledger's hash chain over the whole log, and its verification.

``h(n) = SHA-256(h(n-1) ‖ canonical bytes of event n)`` in position order, with
``h(before the first event) = 32 zero bytes``. The canonical bytes are exactly
what the log stores, framed so that no two different events share them:

    position (8 bytes, big-endian) ‖ originator id (16 bytes) ‖
    originator version (8) ‖ topic length (4) ‖ topic (UTF-8) ‖
    state length (8) ‖ state (the stored bytes)

Because the position is part of each link, a moved, swapped or inserted event
breaks the chain where it lands, and a deleted one leaves its seal orphaned.
Verification walks the stored rows once, recomputing every link, and reports
the first position where the log and its seals disagree; signed checkpoints then
catch a log that was rewritten and re-sealed from some point on, or cut short
below a checkpoint. A walk may also start at the last checkpoint: the link at
its position, recomputed from the seal below it, must equal the signed seal,
so the walk from there vouches for everything up to the head.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

GENESIS = bytes(32)
_FRAME = struct.Struct(">q16sqI")
_STATE_LENGTH = struct.Struct(">Q")

# One stored event and the seal recorded with it (None when it has none).
Sealed = tuple[int, UUID | str, int, str, bytes, bytes | None]


def id_bytes(originator_id: UUID | str) -> bytes:
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    return UUID(originator_id).bytes


def link(
    previous: bytes,
    position: int,
    originator_id: UUID | str,
    version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """The seal of one event, chained to the seal before it."""
    topic_bytes = topic.encode()
    return hashlib.sha256(
        b"".join(
            (
                previous,
                _FRAME.pack(position, id_bytes(originator_id), version, len(topic_bytes)),
                topic_bytes,
                _STATE_LENGTH.pack(len(state)),
                state,
            )
        )
    ).digest()


@dataclass(frozen=True)
class Checkpoint:
    """A seal at one position, signed by the county's key kept outside the database."""

    position: int
    hash: bytes
    signed_at: datetime
    signature: bytes
    key_id: str
    county: str

    def message(self) -> bytes:
        """What the signature covers: the county, the position, the seal and the time."""
        return (
            f"anju-checkpoint\n{self.county}\n{self.position}\n"
            f"{self.hash.hex()}\n{self.signed_at.isoformat()}"
        ).encode()


@dataclass(frozen=True)
class Verification:
    ok: bool
    events_checked: int
    head_position: int
    head_hash: bytes
    first_bad_position: int | None
    problem: str | None
    checkpoints_checked: int


class ChainWalk:
    """Recomputes the chain over stored rows given in position order.

    ``orphan_seal`` is the lowest position holding a seal but no event (a
    deleted event), found by the store; it counts as bad where it lies.
    ``start`` is the stored (position, seal) the rows follow: the genesis for a
    walk over the whole log, the seal just below a checkpoint for a walk from it.
    A wrong starting seal cannot pass unnoticed: the first link recomputed from
    it no longer matches the seal stored, nor the checkpoint's.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        signature_holds: Callable[[Checkpoint], bool],
        orphan_seal: int | None = None,
        start: tuple[int, bytes] = (0, GENESIS),
    ) -> None:
        self.pending = sorted(checkpoints, key=lambda c: c.position)
        self.signature_holds = signature_holds
        self.orphan_seal = orphan_seal
        self.position, self.previous = start
        self.checked = 0
        self.checkpoints_checked = 0
        self.bad: int | None = None
        self.problem: str | None = None

    def walk(self, rows: Iterable[Sealed]) -> Verification:
        for checkpoint in self.pending:
            if not self.signature_holds(checkpoint):
                return self._fail(checkpoint.position, "a checkpoint's signature does not hold")
        limit = self.orphan_seal
        next_checkpoint = self.pending[0].position if self.pending else None
        previous, head, checked = self.previous, self.position, 0
        for position, originator_id, version, topic, state, stored in rows:
            if limit is not None and position > limit:
                break
            seal = link(previous, position, originator_id, version, topic, state)
            if seal != stored:
                self._settle(previous, head, checked)
                problem = "event has no seal" if stored is None else "seal does not match event"
                return self._fail(position, problem)
            previous, head = seal, position
            checked += 1
            if next_checkpoint is not None and position >= next_checkpoint:
                self._settle(previous, head, checked)
                checked = 0
                failure = self._pass_checkpoints(position, previous)
                if failure is not None:
                    return failure
                next_checkpoint = self.pending[0].position if self.pending else None
        self._settle(previous, head, checked)
        if limit is not None:
            return self._fail(limit, "sealed event is missing")
        if self.pending:
            return self._fail(self.pending[0].position, "the log ends before a checkpoint")
        return self._result()

    def _settle(self, previous: bytes, head: int, checked: int) -> None:
        """Keep the last good link; ``checked`` counts the links since the last settle."""
        self.previous, self.position = previous, head
        self.checked += checked

    def _pass_checkpoints(self, position: int, seal: bytes) -> Verification | None:
        while self.pending and self.pending[0].position <= position:
            checkpoint = self.pending.pop(0)
            if checkpoint.position != position:
                return self._fail(checkpoint.position, "checkpointed event is missing")
            if checkpoint.hash != seal:
                return self._fail(position, "log differs from a signed checkpoint")
            self.checkpoints_checked += 1
        return None

    def _fail(self, position: int, problem: str) -> Verification:
        self.bad, self.problem = position, problem
        return self._result()

    def _result(self) -> Verification:
        return Verification(
            ok=self.bad is None,
            events_checked=self.checked,
            head_position=self.position,
            head_hash=self.previous,
            first_bad_position=self.bad,
            problem=self.problem,
            checkpoints_checked=self.checkpoints_checked,
        )
