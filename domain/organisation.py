"""Communities with their grids, and the accounts that act in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand, StateConflict
from domain.record import CaseRecord, natural_id, optional_text, require_aware, require_text
from domain.vocabulary import Role, one_of


def community_key(code: str) -> UUID:
    return natural_id("community", code)


def account_key(username: str) -> UUID:
    return natural_id("account", username)


class Community(CaseRecord):
    """A resettlement community (安置社区) and its grids (网格)."""

    TOPIC = "anju:Community"

    class Event(CaseRecord.Event):
        pass

    class Founded(Event, Aggregate.Created):
        TOPIC = "anju:Community.Founded"
        code: str
        name: str
        township: str
        county: str

        def apply(self, community: Community) -> None:
            community.code = self.code
            community.name = self.name
            community.township = self.township
            community.county = self.county
            community.grids = {}

    Created = Founded

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    class GridAdded(Event):
        TOPIC = "anju:Community.GridAdded"
        grid_code: str
        name: str

        def apply(self, community: Community) -> None:
            community.grids[self.grid_code] = self.name

    code: str
    name: str
    township: str
    county: str
    grids: dict[str, str]

    @classmethod
    def found(
        cls, *, code: str, name: str, township: str, county: str, actor: str, now: datetime
    ) -> Community:
        require_aware(now, "now")
        code = require_code(code, "id")
        return cls._create(
            cls.Founded,
            id=community_key(code),
            code=code,
            name=require_text(name, "name", 200),
            township=require_text(township, "township", 200),
            county=require_text(county, "county", 200),
            actor=actor,
            timestamp=now,
        )

    def add_grid(self, *, code: str, name: str, actor: str, now: datetime) -> None:
        code = require_code(code, "id")
        if code in self.grids:
            raise StateConflict("a grid with this id already exists here", state="exists")
        self.record(
            self.GridAdded,
            grid_code=code,
            name=require_text(name, "name", 200),
            actor=actor,
            now=now,
        )

    def check_has_grid(self, grid_code: str, field: str = "grid_id") -> None:
        if grid_code not in self.grids:
            raise InvalidCommand(f"{field}: the community has no grid with this id", field=field)


class Account(CaseRecord):
    """A person's account: a role and the jurisdiction it acts in."""

    TOPIC = "anju:Account"

    class Event(CaseRecord.Event):
        pass

    class Opened(Event, Aggregate.Created):
        TOPIC = "anju:Account.Opened"
        username: str
        display_name: str
        role: str
        community_id: str | None
        grid_id: str | None
        township: str | None

        def apply(self, account: Account) -> None:
            account.username = self.username
            account.display_name = self.display_name
            account.role = self.role
            account.community_id = self.community_id
            account.grid_id = self.grid_id
            account.township = self.township

    Created = Opened

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    username: str
    display_name: str
    role: str
    community_id: str | None
    grid_id: str | None
    township: str | None

    @classmethod
    def open(
        cls,
        *,
        username: str,
        display_name: str,
        role: str,
        community_id: str | None,
        grid_id: str | None,
        township: str | None,
        actor: str,
        now: datetime,
    ) -> Account:
        require_aware(now, "now")
        username = require_code(username, "username")
        the_role = one_of(Role, role, "role")
        check_scope_fits_role(the_role, community_id, grid_id, township)
        return cls._create(
            cls.Opened,
            id=account_key(username),
            username=username,
            display_name=require_text(display_name, "display_name", 200),
            role=the_role.value,
            community_id=community_id and require_code(community_id, "community_id"),
            grid_id=grid_id and require_code(grid_id, "grid_id"),
            township=optional_text(township, "township", 200),
            actor=actor,
            timestamp=now,
        )

    @property
    def works_cases(self) -> bool:
        return self.role in (Role.CADRE, Role.SUPERVISOR)


def check_scope_fits_role(
    role: Role, community_id: str | None, grid_id: str | None, township: str | None
) -> None:
    """Cadres work in one community (maybe one grid); county roles have no narrower scope."""
    if grid_id and not community_id:
        raise InvalidCommand("a grid scope needs its community_id", field="grid_id")
    if role is Role.CADRE and not community_id:
        raise InvalidCommand("a cadre needs a community_id", field="community_id")
    if role in (Role.AUDITOR, Role.ADMIN) and (community_id or grid_id or township):
        raise InvalidCommand(f"an {role.value} works county-wide", field="community_id")
    if community_id and township:
        raise InvalidCommand("give a community_id or a township, not both", field="township")


class AccessToken(CaseRecord):
    """A bearer token, known only by the hash of its secret.

    Its ID derives from that hash, so authenticating a request is one lookup and
    revoking it takes effect on the next request.
    """

    TOPIC = "anju:AccessToken"

    class Event(CaseRecord.Event):
        pass

    class Issued(Event, Aggregate.Created):
        TOPIC = "anju:AccessToken.Issued"
        account_id: str
        secret_hash: str

        def apply(self, token: AccessToken) -> None:
            token.account_id = self.account_id
            token.secret_hash = self.secret_hash
            token.revoked = False

    Created = Issued

    def __init__(self) -> None:
        """State comes from the creation event\'s ``apply``."""

    class Revoked(Event):
        TOPIC = "anju:AccessToken.Revoked"

        def apply(self, token: AccessToken) -> None:
            token.revoked = True

    account_id: str
    secret_hash: str
    revoked: bool

    @classmethod
    def issue(cls, *, account_id: str, secret_hash: str, actor: str, now: datetime) -> AccessToken:
        require_aware(now, "now")
        return cls._create(
            cls.Issued,
            id=natural_id("token", secret_hash),
            account_id=account_id,
            secret_hash=secret_hash,
            actor=actor,
            timestamp=now,
        )

    def revoke(self, *, actor: str, now: datetime) -> None:
        if self.revoked:
            raise StateConflict("the token is already revoked", state="revoked")
        self.record(self.Revoked, actor=actor, now=now)


def require_code(value: Any, field: str) -> str:
    """A short identifier chosen by people: no spaces, at most 64 characters."""
    code = require_text(value if isinstance(value, str) else None, field, 64)
    if any(ch.isspace() or ch == "/" for ch in code):
        raise InvalidCommand(f"{field} must not contain spaces or '/'", field=field)
    return code
