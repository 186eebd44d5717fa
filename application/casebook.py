"""The county's one event-sourced application: a single log orders every fact.

Commands run get → decide → save. When another writer saved the same aggregate
first (the primary key on (originator_id, version) refuses the insert), the
command is decided again from fresh state, a few times, before giving up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from application.command_keys import current_key
from application.errors import ConcurrentUpdate, NotFound, UnknownReference, VersionMismatch
from domain.household import Household
from domain.organisation import Community

A = TypeVar("A", bound=Aggregate)

COMMAND_ATTEMPTS = 8


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Casebook(Application[UUID]):
    """Holds households, visits, grievances, communities, accounts and tokens."""

    name = "Casebook"
    # Long-lived aggregates load from a snapshot plus the events since.
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {  # type: ignore[assignment]
        Household: 50,
        Community: 50,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def commit(self, decide: Callable[[], Sequence[Aggregate]]) -> int:
        """Decide and save, deciding again on a lost race; the log position of the last event."""
        for attempt in range(COMMAND_ATTEMPTS):
            aggregates = decide()
            try:
                recordings = self.save(*aggregates)
            except IntegrityError:
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter only
                continue
            if not recordings:
                return self.recorder.max_notification_id() or 0
            key = current_key()
            if key is not None:
                key.saved = True  # recorded beside these events; a later save must not repeat it
            return int(recordings[-1].notification.id)
        raise ConcurrentUpdate("the record kept changing under this command; try again")

    def load(self, cls: type[A], identifier: str | UUID, kind: str) -> A:
        """The aggregate named in a path, or ``NotFound``."""
        aggregate = self.find(cls, identifier)
        if aggregate is None:
            raise NotFound(kind)
        return aggregate

    def load_reference(self, cls: type[A], identifier: str | UUID, kind: str, field: str) -> A:
        """The aggregate an input field refers to, or ``UnknownReference`` (422)."""
        aggregate = self.find(cls, identifier)
        if aggregate is None:
            raise UnknownReference(field, kind)
        return aggregate

    def find(self, cls: type[A], identifier: str | UUID) -> A | None:
        aggregate_id = parse_id(identifier)
        if aggregate_id is None:
            return None
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository


def parse_id(identifier: str | UUID) -> UUID | None:
    if isinstance(identifier, UUID):
        return identifier
    try:
        return UUID(identifier)
    except (ValueError, AttributeError, TypeError):
        return None


# What If-Match stands for when it names no version: it can never be current.
NOT_A_VERSION = -1


def check_version(aggregate: Aggregate, expected: int | None) -> None:
    """``If-Match``: refuse to decide on a version the caller has not seen."""
    if expected is not None and expected != aggregate.version:
        named = None if expected == NOT_A_VERSION else expected
        raise VersionMismatch(named, aggregate.version)
