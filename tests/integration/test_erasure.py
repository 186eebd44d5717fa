"""Erasure by crypto-shredding: the person becomes unreadable, the history stays."""

from datetime import date

import pytest

from api.bootstrap import County
from application.errors import Forbidden
from domain.errors import StateConflict
from tests.conftest import Cast


def registered(county: County, cast: Cast) -> str:
    view, _ = county.services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="龙小妹",
        member_count=3,
        phone="13912345678",
        id_number="522601199001080027",
        address={"building": "2", "unit": "1", "room": "402"},
        origin={"township": "雷山镇", "village": "乌东村"},
        relocated_on=date(2019, 5, 1),
    )
    return view.id


def test_an_erased_household_reads_with_no_personal_data_and_a_full_history(
    county: County, cast: Cast
):
    household = registered(county, cast)
    households = county.services.households

    erased, _ = households.erase(cast.admin, household, legal_basis="本人依法申请删除")

    assert erased.erased is True
    seen = households.get(cast.cadre, household)
    assert (seen.head_name, seen.phone, seen.id_number) == (None, None, None)
    history = households.events(cast.cadre, household)
    assert [entry.event_type for entry in history] == ["Household.Registered", "Household.Erased"]
    assert history[0].data["head_name"] is None
    assert history[1].data["legal_basis"] == "本人依法申请删除"
    assert history[1].actor == cast.admin.account_id


def test_only_an_admin_may_erase_and_only_once(county: County, cast: Cast):
    household = registered(county, cast)
    households = county.services.households

    with pytest.raises(Forbidden):
        households.erase(cast.supervisor, household, legal_basis="申请")
    households.erase(cast.admin, household, legal_basis="申请")
    with pytest.raises(StateConflict):
        households.erase(cast.admin, household, legal_basis="再次申请")
