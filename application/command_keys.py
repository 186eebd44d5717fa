"""Idempotency keys recorded with the command they name, in the same transaction.

A POST sent with an ``Idempotency-Key`` runs with that key in the context. The
first save of the command writes the key's record beside its events, under the
log's write lock: so a command is never committed with a key that could be
forgotten, a key is never left "pending" by a crash, and a second attempt with
the same key (a retry, a race, a restarted server) finds the record instead of
running the command again. The record holds where the command's events went,
from which its answer can be given again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


@dataclass
class CommandKey:
    """The key a request runs under; ``saved`` once its command's events are committed."""

    scope: str
    key: str
    fingerprint: str
    saved: bool = False


@dataclass(frozen=True)
class SavedAggregate:
    aggregate_id: str
    version: int
    topic: str


@dataclass(frozen=True)
class KeyRecord:
    """What a key's command committed: the last position and each aggregate's new version."""

    fingerprint: str
    position: int
    saved: tuple[SavedAggregate, ...]


class CommandAlreadyRecorded(Exception):
    """The command under this key was committed by an earlier attempt."""


class KeyRecords(Protocol):
    def key_record(self, scope: str, key: str) -> KeyRecord | None: ...


_current: ContextVar[CommandKey | None] = ContextVar("anju_command_key", default=None)


def current_key() -> CommandKey | None:
    return _current.get()


@contextmanager
def running_under(key: CommandKey) -> Iterator[CommandKey]:
    """Run a request's command with ``key`` recorded beside its events."""
    token = _current.set(key)
    try:
        yield key
    finally:
        _current.reset(token)
