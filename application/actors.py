"""Who is acting: an authenticated account with its role and jurisdiction."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import Role


@dataclass(frozen=True)
class Actor:
    account_id: str
    role: Role
    community_id: str | None = None
    grid_id: str | None = None
    township: str | None = None


# The account that system processes (bootstrap, the deadline watcher) act as.
SYSTEM = Actor(account_id="system", role=Role.ADMIN)
