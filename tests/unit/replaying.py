"""Rebuilding an aggregate from its events, to compare with the live one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def replay(events: Iterable[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def state_of(aggregate: Any) -> dict[str, Any]:
    public = {key: value for key, value in vars(aggregate).items() if not key.startswith("_")}
    return public | {
        "id": aggregate.id,
        "version": aggregate.version,
        "created_on": aggregate.created_on,
        "modified_on": aggregate.modified_on,
    }
