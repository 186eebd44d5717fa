"""Without a setting, the blind-index key is kept in the key store and outlives restarts and rotation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.errors import DuplicateIdNumber
from application.organisation import actor_of
from infrastructure.settings import Settings
from infrastructure.vault import load_master_key, new_master_key_text
from tests.national_ids import valid_id_number

ID_NUMBER = valid_id_number(born=date(1971, 3, 2), sequence=17)


@contextmanager
def opened(settings: Settings) -> Iterator[County]:
    county = open_county(settings)
    try:
        yield county
    finally:
        county.close()


def register(county: County, cadre: Actor) -> str:
    view, _ = county.services.households.register(
        cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="龙小妹",
        member_count=3,
        id_number=ID_NUMBER,
        address={"building": "2", "unit": "1", "room": "402"},
        origin={"township": "雷山镇", "village": "乌东村"},
        relocated_on=date(2019, 5, 1),
    )
    return view.id


def test_a_county_without_a_blind_index_setting_finds_a_duplicate_after_a_restart_and_a_rotation(
    county_settings: Settings,
) -> None:
    settings = county_settings.model_copy(update={"blind_index_key": None})
    with opened(settings) as county:
        org = county.services.organisation
        org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
        org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")
        account, _ = org.open_account(
            SYSTEM, username="cadre", display_name="李干部", role="cadre", community_id="xingfu"
        )
        first = register(county, actor_of(org.account(account.id)))

    with opened(settings) as county, pytest.raises(DuplicateIdNumber) as after_restart:
        register(county, actor_of(county.services.organisation.account(account.id)))
    new_key = new_master_key_text()
    with opened(settings) as county:
        county.services.vault.rotate(load_master_key(new_key, None))  # type: ignore[attr-defined]
    rotated = settings.model_copy(update={"master_key": new_key})
    with opened(rotated) as county, pytest.raises(DuplicateIdNumber) as after_rotation:
        register(county, actor_of(county.services.organisation.account(account.id)))

    assert after_restart.value.household_id == first
    assert after_rotation.value.household_id == first
