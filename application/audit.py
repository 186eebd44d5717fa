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
from application.hash_chain import GENESIS, ChainWalk, Checkpoint, Sealed, Verification
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

    def sealed(self, until: int, after: int | None = None) -> Iterator[Sealed]:
        """Every event after ``after`` (None: all) up to ``until`` in order, with its seal."""
        ...

    def orphan_seal(self, until: int, after: int | None = None) -> int | None:
        """The lowest position after ``after`` up to ``until`` with a seal but no event."""
        ...

    def seal_below(self, position: int) -> tuple[int, bytes] | None:
        """The stored (position, seal) nearest below ``position``."""
        ...

    def page(self, after: int, limit: int, aggregate_id: UUID | None) -> Sequence[Sealed]: ...

    def head(self) -> tuple[int, bytes] | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint stored last."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...


class CheckpointSigner(Protocol):
    key_id: str
    public_key: bytes

    def sign(self, message: bytes) -> bytes: ...

    def holds(self, checkpoint: Checkpoint) -> bool: ...

    def remember(self, checkpoint: Checkpoint) -> None: ...

    def remembered(self) -> list[Checkpoint]: ...

    def last_remembered(self, county: str) -> Checkpoint | None: ...


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
        # What the last scheduled round found, from the last checkpoint to the head.
        self.last_round: Verification | None = None

    @property
    def ledger_ok(self) -> bool:
        """False once a scheduled round has found the log tampered with."""
        return self.last_round is None or self.last_round.ok

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

    def verify_tail(self, watch: Watch | None = None) -> Verification:
        """Recompute the chain from the last checkpoint to the head only.

        Cheap whatever the log's length, so it can run every minute; it catches
        what happened above the last checkpoint (an event edited, deleted or
        forged there, the head cut back below it), while ``verify`` still walks
        everything. With no checkpoint yet it walks the whole log.
        """
        return self._verify_from(self.latest_checkpoints(), watch)

    def latest_checkpoints(self) -> list[Checkpoint]:
        """The newest checkpoint in the database and in the journal (usually the same one).

        Each is read through its end (primary key, end of file), never the whole history.
        """
        if self.signer is None:
            return []
        found = [self.ledger.latest_checkpoint(), self.signer.last_remembered(self.county)]
        unique = {(c.position, c.signature): c for c in found if c and c.county == self.county}
        return list(unique.values())

    def _verify_from(self, latest: list[Checkpoint], watch: Watch | None = None) -> Verification:
        if not latest:
            return self.verify(watch=watch)
        below = self.ledger.seal_below(min(c.position for c in latest))
        until = self.ledger.bounds()
        after = below[0] if below else None
        walk = ChainWalk(
            latest,
            self.signer.holds if self.signer else lambda _: False,
            self.ledger.orphan_seal(until, after),
            below or (0, GENESIS),
        )
        rows = self.ledger.sealed(until, after)
        return walk.walk(watch(rows, until - (after or 0)) if watch else rows)

    def known_checkpoints(self) -> list[Checkpoint]:
        """Checkpoints from the database and from the journal beside the key, once each."""
        found = self.ledger.checkpoints()
        if self.signer is not None:
            found += self.signer.remembered()
        unique = {(c.position, c.signature): c for c in found}
        return sorted(unique.values(), key=lambda c: (c.position, c.signed_at))

    def checkpoint(self) -> Checkpoint:
        """Verify from the last checkpoint, then sign the head, store it and note it in the journal."""
        if self.signer is None:
            raise NoSigningKey("no signing key: set ANJU_SIGNING_KEY_FILE")
        return self._sign(self.verify_tail())

    def checkpoint_round(self) -> Checkpoint | None:
        """One scheduled round: verify from the last checkpoint; sign the head if it moved.

        What the round found is kept in ``last_round``; a broken log raises LedgerBroken.
        """
        if self.signer is None:
            raise NoSigningKey("no signing key: set ANJU_SIGNING_KEY_FILE")
        latest = self.latest_checkpoints()
        verified = self._verify_from(latest)
        self.last_round = verified
        signed_up_to = max((c.position for c in latest), default=0)
        if verified.ok and verified.head_position <= signed_up_to:
            return None  # nothing new since the last checkpoint
        return self._sign(verified)

    def _sign(self, verified: Verification) -> Checkpoint:
        assert self.signer is not None
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
