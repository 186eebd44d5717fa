"""The application checks ID numbers itself and keeps one household per number, on both stores."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from api.bootstrap import County
from application.errors import DuplicateIdNumber
from domain.errors import InvalidCommand
from tests.conftest import Cast
from tests.national_ids import valid_id_number

ID_NUMBER = valid_id_number(born=date(1966, 7, 9), sequence=41)


def register(county: County, cast: Cast, id_number: str | None, **more: Any) -> str:
    fields: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g1",
        "head_name": "龙小妹",
        "member_count": 3,
        "address": {"building": "2", "unit": "1", "room": "402"},
        "origin": {"township": "雷山镇", "village": "乌东村"},
        "relocated_on": date(2019, 5, 1),
        **more,
    }
    actor = fields.pop("actor", cast.cadre)
    view, _ = county.services.households.register(actor, id_number=id_number, **fields)
    return view.id


def test_the_application_refuses_an_id_number_that_fails_the_check_before_sealing(
    county: County, cast: Cast
):
    before = county.book.recorder.max_notification_id()
    with pytest.raises(InvalidCommand) as refused:
        register(county, cast, ID_NUMBER[:17] + ("1" if ID_NUMBER[17] == "0" else "0"))
    assert refused.value.field == "id_number"
    assert county.book.recorder.max_notification_id() == before


def test_a_duplicate_names_the_holder_only_to_a_caller_who_may_read_it(county: County, cast: Cast):
    first = register(county, cast, ID_NUMBER)

    with pytest.raises(DuplicateIdNumber) as in_scope:
        register(county, cast, ID_NUMBER.lower(), actor=cast.other_cadre)
    with pytest.raises(DuplicateIdNumber) as outside:
        register(county, cast, ID_NUMBER, actor=cast.outsider, community_id="anle")

    assert in_scope.value.household_id == first
    assert outside.value.household_id is None


def test_a_household_without_an_id_number_never_meets_another(county: County, cast: Cast):
    assert register(county, cast, None) != register(county, cast, "  ")


def test_a_reservation_whose_household_was_never_recorded_is_taken_over(county: County, cast: Cast):
    # As a crash between reserving the number and recording the household leaves it.
    households = county.services.households
    assert households.id_index.claim(ID_NUMBER, uuid4()) is None

    registered = register(county, cast, ID_NUMBER)

    with pytest.raises(DuplicateIdNumber) as again:
        register(county, cast, ID_NUMBER)
    assert again.value.household_id == registered


def test_an_erased_household_releases_its_number(county: County, cast: Cast):
    first = register(county, cast, ID_NUMBER)
    county.services.households.erase(cast.admin, first, legal_basis="本人依法申请删除")

    second = register(county, cast, ID_NUMBER)

    seen = county.services.households.get(cast.cadre, second)
    assert (seen.id_number, seen.erased) == (ID_NUMBER, False)
