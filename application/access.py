"""Who may do what, where: roles and jurisdictions.

Enforced here, in the application layer, so that every way in (HTTP, CLI,
tests) is held to the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from application.actors import Actor
from application.errors import ApplicationError, Forbidden, NotFound, UnknownReference
from domain.vocabulary import Role

CASEWORKERS = (Role.CADRE, Role.SUPERVISOR)


class Disclosure(Enum):
    """How much personal data an actor may see of one household."""

    CLEAR = "clear"
    MASKED = "masked"
    HIDDEN = "hidden"


class Access:
    """Checks an actor's role and jurisdiction; raises ``Forbidden`` when they fall short."""

    def __init__(self, township_of: Callable[[str], str | None]) -> None:
        self._township_of = township_of

    def covers(self, actor: Actor, community_id: str, grid_id: str | None = None) -> bool:
        """Whether the place lies within the actor's jurisdiction."""
        if actor.community_id:
            if actor.community_id != community_id:
                return False
            return not (actor.grid_id and grid_id and actor.grid_id != grid_id)
        if actor.township:
            return self._township_of(community_id) == actor.township
        return True

    def check_admin(self, actor: Actor) -> None:
        if actor.role is not Role.ADMIN:
            raise Forbidden("only an admin may manage communities, grids and accounts")

    def check_reads_cases(
        self,
        actor: Actor,
        community_id: str,
        grid_id: str | None,
        *,
        kind: str | None = None,
        field: str | None = None,
    ) -> None:
        if actor.role is Role.AUDITOR:
            return
        self.check_works_cases(actor, community_id, grid_id, kind=kind, field=field)

    def check_works_cases(
        self,
        actor: Actor,
        community_id: str,
        grid_id: str | None,
        *,
        kind: str | None = None,
        field: str | None = None,
    ) -> None:
        """``kind`` names the record found by ID whose place this is (see ``outside``)."""
        if actor.role not in CASEWORKERS:
            raise Forbidden(f"an {actor.role.value} does no casework")
        if not self.covers(actor, community_id, grid_id):
            raise outside(kind, field)

    def check_supervises(
        self,
        actor: Actor,
        community_id: str,
        grid_id: str | None,
        *,
        kind: str | None = None,
        field: str | None = None,
    ) -> None:
        if actor.role is not Role.SUPERVISOR:
            raise Forbidden("only a supervisor may do this")
        if not self.covers(actor, community_id, grid_id):
            raise outside(kind, field)

    def check_reads_history(self, actor: Actor) -> None:
        if actor.role is Role.ADMIN:
            raise Forbidden("an admin does no casework")

    def disclosure(self, actor: Actor, community_id: str, grid_id: str | None) -> Disclosure:
        if actor.role in CASEWORKERS and self.covers(actor, community_id, grid_id):
            return Disclosure.CLEAR
        if actor.role is Role.AUDITOR:
            return Disclosure.MASKED
        return Disclosure.HIDDEN


def outside(kind: str | None, field: str | None) -> ApplicationError:
    """The refusal of a place outside the caller's jurisdiction.

    A record found by ID there answers exactly as an ID that names nothing (404 in
    the path, 422 in the field ``field`` of the input), so that IDs cannot be probed
    for existence; a place named outright (a community in a body) is a plain 403.
    """
    if kind is None:
        return Forbidden("outside your jurisdiction")
    if field is None:
        return NotFound(kind)
    return UnknownReference(field, kind)
