"""Communities and grids, accounts with their role and scope, access tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.errors import InvalidCommand, StateConflict
from domain.organisation import AccessToken, Account, Community, account_key, community_key
from domain.record import natural_id
from tests.fakes import SHANGHAI
from tests.unit.replaying import replay, state_of

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
ADMIN = "admin-1"


def found(code: str = "xingfu", now: datetime = NOW, **overrides: Any) -> Community:
    fields: dict[str, Any] = {
        "code": code,
        "name": "幸福社区",
        "township": "城关镇",
        "county": "示范县",
        "actor": ADMIN,
        "now": now,
    }
    fields.update(overrides)
    return Community.found(**fields)


def open_account(
    username: str = "cadre1",
    role: str = "cadre",
    community_id: str | None = "xingfu",
    grid_id: str | None = None,
    township: str | None = None,
    now: datetime = NOW,
    **overrides: Any,
) -> Account:
    fields: dict[str, Any] = {
        "username": username,
        "display_name": "李四",
        "role": role,
        "community_id": community_id,
        "grid_id": grid_id,
        "township": township,
        "actor": ADMIN,
        "now": now,
    }
    fields.update(overrides)
    return Account.open(**fields)


# -- communities and grids -------------------------------------------------------------------


def test_a_founded_community_is_named_by_its_code_and_has_no_grids():
    community = found()

    assert (community.code, community.name, community.township, community.county) == (
        "xingfu",
        "幸福社区",
        "城关镇",
        "示范县",
    )
    assert community.grids == {}
    assert community.id == community_key("xingfu")


def test_the_same_community_code_always_gives_the_same_id():
    assert found("xingfu").id == found("xingfu").id
    assert found("xingfu").id != found("anle").id


@pytest.mark.parametrize("code", ["", "   ", None, "xing fu", "xing/fu", "x\tfu", "c" * 65])
def test_a_community_code_is_short_without_spaces_or_slashes(code):
    with pytest.raises(InvalidCommand) as refused:
        found(code)

    assert refused.value.field == "id"


def test_a_community_code_of_64_characters_is_accepted():
    assert found("c" * 64).code == "c" * 64


def test_a_community_code_is_stripped_of_surrounding_blanks():
    assert found("  xingfu ").id == community_key("xingfu")


@pytest.mark.parametrize("field", ["name", "township", "county"])
def test_a_community_needs_a_name_township_and_county(field):
    with pytest.raises(InvalidCommand) as refused:
        found(**{field: " "})

    assert refused.value.field == field


def test_grids_are_added_to_a_community():
    community = found()

    community.add_grid(code="g1", name="第一网格", actor=ADMIN, now=NOW + timedelta(minutes=1))
    community.add_grid(code="g2", name="第二网格", actor=ADMIN, now=NOW + timedelta(minutes=2))

    assert community.grids == {"g1": "第一网格", "g2": "第二网格"}
    community.check_has_grid("g1")


def test_a_duplicate_grid_is_refused():
    community = found()
    community.add_grid(code="g1", name="第一网格", actor=ADMIN, now=NOW + timedelta(minutes=1))

    with pytest.raises(StateConflict) as refused:
        community.add_grid(code="g1", name="又一个", actor=ADMIN, now=NOW + timedelta(minutes=2))

    assert refused.value.state == "exists"
    assert community.grids == {"g1": "第一网格"}


@pytest.mark.parametrize("code", ["", "g 1", "g/1"])
def test_a_grid_code_follows_the_same_rules_as_a_community_code(code):
    with pytest.raises(InvalidCommand) as refused:
        found().add_grid(code=code, name="第一网格", actor=ADMIN, now=NOW)

    assert refused.value.field == "id"


def test_a_grid_needs_a_name():
    with pytest.raises(InvalidCommand) as refused:
        found().add_grid(code="g1", name="", actor=ADMIN, now=NOW)

    assert refused.value.field == "name"


def test_asking_for_a_grid_the_community_does_not_have_names_the_field():
    with pytest.raises(InvalidCommand) as refused:
        found().check_has_grid("g9")

    assert refused.value.field == "grid_id"


def test_the_same_grid_code_may_exist_in_two_communities():
    xingfu, anle = found("xingfu"), found("anle")

    xingfu.add_grid(code="g1", name="第一网格", actor=ADMIN, now=NOW)
    anle.add_grid(code="g1", name="第一网格", actor=ADMIN, now=NOW)

    assert xingfu.grids == anle.grids == {"g1": "第一网格"}


# -- accounts --------------------------------------------------------------------------------


def test_a_cadre_account_works_in_one_community():
    account = open_account()

    assert (account.username, account.display_name, account.role) == ("cadre1", "李四", "cadre")
    assert (account.community_id, account.grid_id, account.township) == ("xingfu", None, None)
    assert account.works_cases is True


def test_a_cadre_may_be_scoped_to_one_grid():
    account = open_account(grid_id="g1")

    assert (account.community_id, account.grid_id) == ("xingfu", "g1")


def test_a_cadre_needs_a_community():
    with pytest.raises(InvalidCommand) as refused:
        open_account(role="cadre", community_id=None)

    assert refused.value.field == "community_id"


@pytest.mark.parametrize("role", ["cadre", "supervisor"])
def test_a_grid_scope_needs_its_community(role):
    with pytest.raises(InvalidCommand) as refused:
        open_account(role=role, community_id=None, grid_id="g1")

    assert refused.value.field == "grid_id"


@pytest.mark.parametrize(
    ("community_id", "township"), [("xingfu", None), (None, "城关镇"), (None, None)]
)
def test_a_supervisor_works_in_a_community_a_township_or_the_county(community_id, township):
    account = open_account(
        username="super1", role="supervisor", community_id=community_id, township=township
    )

    assert (account.community_id, account.township) == (community_id, township)
    assert account.works_cases is True


@pytest.mark.parametrize("role", ["cadre", "supervisor"])
def test_a_scope_is_a_community_or_a_township_not_both(role):
    with pytest.raises(InvalidCommand) as refused:
        open_account(role=role, community_id="xingfu", township="城关镇")

    assert refused.value.field == "township"


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_work_county_wide(role):
    account = open_account(username=f"{role}1", role=role, community_id=None)

    assert (account.community_id, account.grid_id, account.township) == (None, None, None)
    assert account.works_cases is False


@pytest.mark.parametrize("role", ["auditor", "admin"])
@pytest.mark.parametrize(
    "scope",
    [
        {"community_id": "xingfu"},
        {"township": "城关镇"},
        {"community_id": "xingfu", "grid_id": "g1"},
    ],
)
def test_auditors_and_admins_cannot_be_given_a_narrower_scope(role, scope):
    fields = {"community_id": None} | scope

    with pytest.raises(InvalidCommand) as refused:
        open_account(username=f"{role}1", role=role, **fields)

    assert refused.value.field == "community_id"


def test_an_account_with_an_unknown_role_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        open_account(role="mayor")

    assert refused.value.field == "role"


@pytest.mark.parametrize("username", ["", "li si", "li/si", None])
def test_a_username_is_a_code_without_spaces_or_slashes(username):
    with pytest.raises(InvalidCommand) as refused:
        open_account(username=username)

    assert refused.value.field == "username"


def test_an_account_needs_a_display_name():
    with pytest.raises(InvalidCommand) as refused:
        open_account(display_name="  ")

    assert refused.value.field == "display_name"


def test_the_same_username_always_gives_the_same_account_id():
    first = open_account(username="cadre1")
    again = open_account(username="cadre1", display_name="别的名字")

    assert first.id == again.id == account_key("cadre1")
    assert open_account(username="cadre2").id != first.id


def test_ids_of_different_kinds_never_collide_for_the_same_key():
    assert account_key("xingfu") != community_key("xingfu")
    assert account_key("xingfu") == natural_id("account", "xingfu")
    assert community_key("xingfu") == natural_id("community", "xingfu")


# -- tokens ----------------------------------------------------------------------------------


def issue(secret_hash: str = "hash-1", now: datetime = NOW) -> AccessToken:
    return AccessToken.issue(
        account_id=str(account_key("cadre1")), secret_hash=secret_hash, actor=ADMIN, now=now
    )


def test_a_token_is_named_by_the_hash_of_its_secret():
    token = issue("hash-1")

    assert token.id == natural_id("token", "hash-1") == issue("hash-1").id
    assert token.id != issue("hash-2").id
    assert token.account_id == str(account_key("cadre1"))
    assert token.revoked is False


def test_a_revoked_token_is_revoked():
    token = issue()

    token.revoke(actor=ADMIN, now=NOW + timedelta(hours=1))

    assert token.revoked is True


def test_revoking_a_token_twice_is_a_state_conflict():
    token = issue()
    token.revoke(actor=ADMIN, now=NOW + timedelta(hours=1))

    with pytest.raises(StateConflict) as refused:
        token.revoke(actor=ADMIN, now=NOW + timedelta(hours=2))

    assert refused.value.state == "revoked"
    assert token.version == 2


# -- actors, time, replay --------------------------------------------------------------------


@pytest.mark.parametrize(
    "create",
    [
        lambda now: found(now=now),
        lambda now: open_account(now=now),
        lambda now: issue(now=now),
    ],
    ids=["community", "account", "token"],
)
def test_creating_with_a_naive_now_is_refused(create):
    with pytest.raises(InvalidCommand) as refused:
        create(datetime(2026, 11, 2, 9, 0))

    assert refused.value.field == "now"


def test_every_organisation_event_carries_its_actor_and_the_now_it_was_decided_at():
    community = found(now=NOW)
    community.add_grid(code="g1", name="第一网格", actor="admin-2", now=NOW + timedelta(hours=1))
    token = issue(now=NOW + timedelta(hours=2))
    token.revoke(actor="admin-3", now=NOW + timedelta(hours=3))
    account = open_account(now=NOW + timedelta(hours=4))

    events = [*community.collect_events(), *token.collect_events(), *account.collect_events()]

    assert [(event.actor, event.timestamp) for event in events] == [
        (ADMIN, NOW),
        ("admin-2", NOW + timedelta(hours=1)),
        (ADMIN, NOW + timedelta(hours=2)),
        ("admin-3", NOW + timedelta(hours=3)),
        (ADMIN, NOW + timedelta(hours=4)),
    ]


@pytest.mark.parametrize("kind", ["community", "account", "token"])
def test_an_organisation_aggregate_replayed_from_its_events_equals_the_live_one(kind):
    if kind == "community":
        aggregate: Any = found()
        aggregate.add_grid(code="g1", name="第一网格", actor=ADMIN, now=NOW + timedelta(hours=1))
        aggregate.add_grid(code="g2", name="第二网格", actor=ADMIN, now=NOW + timedelta(hours=2))
    elif kind == "account":
        aggregate = open_account(grid_id="g1")
    else:
        aggregate = issue()
        aggregate.revoke(actor=ADMIN, now=NOW + timedelta(hours=1))

    replayed = replay(aggregate.collect_events())

    assert type(replayed) is type(aggregate)
    assert state_of(replayed) == state_of(aggregate)
