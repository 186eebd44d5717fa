"""The audit view of the log: every event in order with its seal, verification, checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from application.access import Disclosure
from application.actors import Actor
from application.casebook import Casebook, parse_id
from application.errors import Forbidden
from application.hash_chain import ChainWalk, Checkpoint, Sealed, Verification
from application.history import History
from application.ports import Clock
from domain.errors import InvalidCommand
from domain.vocabulary import Role

MAX_PAGE = 1000
Watch = Callable[[Iterator[Sealed], int], Iterator[Sealed]]
SCAN_BATCH = 2000


class LedgerStore(Protocol):
    """The log with its seals, and the signed checkpoints, as stored."""

    def bounds(self) -> int:
        """The highest position holding an event or a seal (0 for an empty log)."""
        ...

    def sealed(self, until: int) -> Iterator[Sealed]:
        """Every event up to ``until`` in position order, with its seal or None."""
        ...

    def orphan_seal(self, until: int) -> int | None:
        """The lowest position up to ``until`` with a seal but no event."""
        ...

    def page(self, after: int, limit: int, aggregate_id: UUID | None) -> Sequence[Sealed]: ...

    def head(self) -> tuple[int, bytes] | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...


class CheckpointSigner(Protocol):
    key_id: str
    public_key: bytes

    def sign(self, message: bytes) -> bytes: ...

    def holds(self, checkpoint: Checkpoint) -> bool: ...

    def remember(self, checkpoint: Checkpoint) -> None: ...

    def remembered(self) -> list[Checkpoint]: ...


class NoSigningKey(Exception):
    pass


class LedgerBroken(Exception):
    """The log fails verification, so no checkpoint may vouch for it."""


@dataclass(frozen=True)
class AuditEvent:
    position: int
    aggregate_type: str
    aggregate_id: str
    version: int
    event_type: str
    recorded_at: datetime
    actor: str
    data: dict[str, Any]
    hash: str | None


class Audit:
    def __init__(
        self,
        book: Casebook,
        ledger: LedgerStore,
        signer: CheckpointSigner | None,
        clock: Clock,
        county: str,
        history: History,
    ) -> None:
        self.book = book
        self.ledger = ledger
        self.signer = signer
        self.clock = clock
        self.county = county
        self.history = history
        self._households_of_cases: dict[UUID, UUID | None] = {}

    @staticmethod
    def check_audits(actor: Actor) -> None:
        if actor.role is not Role.AUDITOR:
            raise Forbidden("only an auditor may read the audit log")

    def verify(self, also: Iterable[Checkpoint] = (), watch: Watch | None = None) -> Verification:
        """Recompute the whole chain; check it against every checkpoint known, and ``also``.

        ``watch`` sees the rows go by, with how many there are at most (a progress bar).
        """
        until = self.ledger.bounds()
        checkpoints = list(also)
        if self.signer is not None:
            checkpoints += self.known_checkpoints()
        walk = ChainWalk(
            [c for c in checkpoints if c.county == self.county],
            # Without the key no signature can be checked, so none is believed.
            self.signer.holds if self.signer else lambda _: False,
            self.ledger.orphan_seal(until),
        )
        rows = self.ledger.sealed(until)
        return walk.walk(watch(rows, until) if watch else rows)

    def known_checkpoints(self) -> list[Checkpoint]:
        """Checkpoints from the database and from the journal beside the key, once each."""
        found = self.ledger.checkpoints()
        if self.signer is not None:
            found += self.signer.remembered()
        unique = {(c.position, c.signature): c for c in found}
        return sorted(unique.values(), key=lambda c: (c.position, c.signed_at))

    def checkpoint(self) -> Checkpoint:
        """Verify the log, then sign its head, store the checkpoint and note it in the journal."""
        if self.signer is None:
            raise NoSigningKey("no signing key: set ANJU_SIGNING_KEY_FILE")
        verified = self.verify()
        if not verified.ok:
            raise LedgerBroken(
                f"the log fails verification at position {verified.first_bad_position}"
                f" ({verified.problem}); no checkpoint signed"
            )
        if verified.head_position == 0:
            raise InvalidCommand("the log is empty: nothing to checkpoint")
        unsigned = Checkpoint(
            verified.head_position,
            verified.head_hash,
            self.clock.now(),
            b"",
            self.signer.key_id,
            self.county,
        )
        signed = replace(unsigned, signature=self.signer.sign(unsigned.message()))
        self.ledger.add_checkpoint(signed)
        self.signer.remember(signed)
        return signed

    def events(
        self,
        actor: Actor,
        after: int = 0,
        limit: int = 100,
        aggregate_id: str | None = None,
        by: str | None = None,
    ) -> list[AuditEvent]:
        """The log in order from ``after``, optionally one aggregate's or one actor's events."""
        self.check_audits(actor)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidCommand(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        key = None
        if aggregate_id is not None:
            key = parse_id(aggregate_id)
            if key is None:
                return []
        found: list[AuditEvent] = []
        while len(found) < limit:
            rows = self.ledger.page(after, SCAN_BATCH if by else limit, key)
            for row in rows:
                event = self._decode(row)
                if by is None or event.actor == by:
                    found.append(self._entry(row, event))
                    if len(found) == limit:
                        break
            if len(rows) < (SCAN_BATCH if by else limit):
                break
            after = rows[-1][0]
        return found

    def _decode(self, row: Sealed) -> Any:
        _, originator_id, version, topic, state, _ = row
        key = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        return self.book.mapper.to_domain_event(StoredEvent(key, version, topic, state))

    def _entry(self, row: Sealed, event: Any) -> AuditEvent:
        topic = type(event).TOPIC.removeprefix("anju:")
        return AuditEvent(
            position=row[0],
            aggregate_type=topic.split(".")[0],
            aggregate_id=str(event.originator_id),
            version=event.originator_version,
            event_type=topic,
            recorded_at=event.timestamp,
            actor=getattr(event, "actor", ""),
            data=self.history.data(event, self._household_of(event), Disclosure.MASKED),
            hash=row[5].hex() if row[5] is not None else None,
        )

    def _household_of(self, event: Any) -> UUID | None:
        """The household whose key sealed the event's personal data, if it has any."""
        topic = type(event).TOPIC
        if topic.startswith("anju:Household."):
            return UUID(str(event.originator_id))
        if not hasattr(event, "parties"):
            return None
        if getattr(event, "household_id", None):
            return UUID(str(event.household_id))
        case_id = event.originator_id
        if case_id not in self._households_of_cases:
            case: Any = self.book.repository.get(case_id)
            self._households_of_cases[case_id] = UUID(str(case.household_id))
        return self._households_of_cases[case_id]
