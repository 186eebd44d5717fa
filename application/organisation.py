"""Communities, grids, accounts and their tokens (admin work), and authentication."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from application.access import Access
from application.actors import SYSTEM, Actor
from application.casebook import Casebook
from application.errors import AlreadyExists, NotAuthenticated, NotFound
from application.ports import Clock
from domain.errors import InvalidCommand
from domain.organisation import AccessToken, Account, Community, account_key, community_key
from domain.record import natural_id
from domain.vocabulary import Role

TOKEN_PREFIX = "anju_"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True)
class CommunityView:
    id: str
    name: str
    township: str
    county: str
    grids: list[dict[str, str]]
    version: int


@dataclass(frozen=True)
class AccountView:
    id: str
    username: str
    display_name: str
    role: str
    community_id: str | None
    grid_id: str | None
    township: str | None
    version: int


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str
    account_id: str


def community_view(community: Community) -> CommunityView:
    return CommunityView(
        id=community.code,
        name=community.name,
        township=community.township,
        county=community.county,
        grids=[{"id": code, "name": name} for code, name in community.grids.items()],
        version=community.version,
    )


def account_view(account: Account) -> AccountView:
    return AccountView(
        id=str(account.id),
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        community_id=account.community_id,
        grid_id=account.grid_id,
        township=account.township,
        version=account.version,
    )


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Organisation:
    def __init__(
        self, book: Casebook, clock: Clock, community_codes: Callable[[], list[str]]
    ) -> None:
        self.book = book
        self.clock = clock
        self.community_codes = community_codes  # from the organisation read model
        self.access = Access(self.township_of)
        self._townships: dict[str, str] = {}

    # -- communities ----------------------------------------------------------

    def found_community(
        self, actor: Actor, *, code: str, name: str, township: str, county: str
    ) -> tuple[CommunityView, int]:
        self.access.check_admin(actor)
        if self.book.exists(community_key(code)):
            raise AlreadyExists("a community with this id already exists")
        community = Community.found(
            code=code,
            name=name,
            township=township,
            county=county,
            actor=actor.account_id,
            now=self.clock.now(),
        )
        position = self.book.commit(lambda: [community])
        return community_view(community), position

    def add_grid(
        self, actor: Actor, community_code: str, *, code: str, name: str
    ) -> tuple[CommunityView, int]:
        self.access.check_admin(actor)

        def decide() -> list[Community]:
            community = self.community(community_code)
            community.add_grid(code=code, name=name, actor=actor.account_id, now=self.clock.now())
            return [community]

        position = self.book.commit(decide)
        return community_view(self.community(community_code)), position

    def community(self, code: str) -> Community:
        return self.book.load(Community, community_key(code), "community")

    def community_reference(self, code: str, field: str = "community_id") -> Community:
        return self.book.load_reference(Community, community_key(code), "community", field)

    def get_community(self, actor: Actor, code: str) -> CommunityView:
        return community_view(self.community(code))

    def list_communities(self, actor: Actor) -> list[CommunityView]:
        codes = self.community_codes()
        return [community_view(self.community(code)) for code in codes]

    def township_of(self, code: str) -> str | None:
        if code not in self._townships:
            community = self.book.find(Community, community_key(code))
            if community is None:
                return None
            self._townships[code] = community.township
        return self._townships[code]

    # -- accounts and tokens --------------------------------------------------

    def open_account(
        self,
        actor: Actor,
        *,
        username: str,
        display_name: str,
        role: str,
        community_id: str | None = None,
        grid_id: str | None = None,
        township: str | None = None,
    ) -> tuple[AccountView, int]:
        self.access.check_admin(actor)
        if community_id:
            community = self.community_reference(community_id)
            if grid_id:
                community.check_has_grid(grid_id)
        if self.book.exists(account_key(username)):
            raise AlreadyExists("that username is taken")
        account = Account.open(
            username=username,
            display_name=display_name,
            role=role,
            community_id=community_id or None,
            grid_id=grid_id or None,
            township=township or None,
            actor=actor.account_id,
            now=self.clock.now(),
        )
        position = self.book.commit(lambda: [account])
        return account_view(account), position

    def account(self, account_id: str) -> Account:
        return self.book.load(Account, account_id, "account")

    def caseworker_reference(self, account_id: str, field: str) -> Account:
        account = self.book.load_reference(Account, account_id, "account", field)
        if not account.works_cases:
            raise InvalidCommand(f"{field}: that account does no casework", field=field)
        return account

    def get_account(self, actor: Actor, account_id: str) -> AccountView:
        if actor.role is not Role.ADMIN and actor.account_id != account_id:
            self.access.check_admin(actor)
        return account_view(self.account(account_id))

    def issue_token(self, actor: Actor, account_id: str) -> tuple[IssuedToken, int]:
        self.access.check_admin(actor)
        return self._issue_token(actor, self.account(account_id))

    def _issue_token(self, actor: Actor, account: Account) -> tuple[IssuedToken, int]:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = AccessToken.issue(
            account_id=str(account.id),
            secret_hash=hash_secret(secret),
            actor=actor.account_id,
            now=self.clock.now(),
        )
        position = self.book.commit(lambda: [token])
        return IssuedToken(id=str(token.id), token=secret, account_id=str(account.id)), position

    def revoke_token(self, actor: Actor, account_id: str, token_id: str) -> int:
        self.access.check_admin(actor)

        def decide() -> list[AccessToken]:
            token = self.book.load(AccessToken, token_id, "token")
            if token.account_id != account_id:
                raise NotFound("token", token_id)
            token.revoke(actor=actor.account_id, now=self.clock.now())
            return [token]

        return self.book.commit(decide)

    def system_token(self, username: str) -> IssuedToken:
        """A token for an existing account, issued by the system (CLI and demo set-up)."""
        token, _ = self._issue_token(SYSTEM, self.account(str(account_key(username))))
        return token

    def authenticate(self, secret: str) -> Actor:
        """The actor a bearer token stands for; ``NotAuthenticated`` if none."""
        token = self.book.find(AccessToken, natural_id("token", hash_secret(secret)))
        if token is None or token.revoked:
            raise NotAuthenticated("the token is not valid")
        account = self.book.find(Account, token.account_id)
        if account is None:
            raise NotAuthenticated("the token is not valid")
        return actor_of(account)

    def bootstrap_admin(self, username: str, display_name: str | None = None) -> IssuedToken:
        """The first admin account of a fresh install, with a token."""
        if self.book.exists(account_key(username)):
            account = self.account(str(account_key(username)))
            if account.role != Role.ADMIN:
                raise AlreadyExists(f"username {username} is taken by a {account.role}")
        else:
            account = Account.open(
                username=username,
                display_name=display_name or username,
                role=Role.ADMIN,
                community_id=None,
                grid_id=None,
                township=None,
                actor=SYSTEM.account_id,
                now=self.clock.now(),
            )
            self.book.commit(lambda: [account])
        token, _ = self._issue_token(SYSTEM, account)
        return token


def actor_of(account: Account) -> Actor:
    return Actor(
        account_id=str(account.id),
        role=Role(account.role),
        community_id=account.community_id,
        grid_id=account.grid_id,
        township=account.township,
    )
