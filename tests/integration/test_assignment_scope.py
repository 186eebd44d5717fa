"""Responsibility only goes to someone who may act on it.

An account or case outside the jurisdiction is named as if it did not exist
(``UnknownReference``, a 422), so that IDs cannot be probed for existence.
"""

from datetime import date

import pytest

from api.bootstrap import County
from application.actors import SYSTEM, Actor
from application.errors import NotFound, UnknownReference
from application.organisation import actor_of
from domain.errors import NotPermitted
from tests.conftest import Cast

ADDRESS = {"building": "1", "unit": "1", "room": "101"}
ORIGIN = {"township": "雷山镇", "village": "乌东村"}


def grid_cadre(county: County, grid: str) -> Actor:
    org = county.services.organisation
    view, _ = org.open_account(
        SYSTEM,
        username=f"grid-{grid}",
        display_name="网格员",
        role="cadre",
        community_id="xingfu",
        grid_id=grid,
    )
    return actor_of(org.account(view.id))


def household_in(county: County, actor: Actor, grid: str, community: str = "xingfu") -> str:
    view, _ = county.services.households.register(
        actor,
        community_id=community,
        grid_id=grid,
        head_name="王芳",
        member_count=2,
        address=ADDRESS,
        origin=ORIGIN,
        relocated_on=date(2019, 5, 1),
    )
    return view.id


def case_for(county: County, actor: Actor, household_id: str) -> str:
    view, _ = county.services.grievances.file(
        actor,
        household_id=household_id,
        category="housing",
        urgency="normal",
        channel="walk_in",
        summary="墙面渗水",
    )
    return view.id


def test_a_grid_cadre_cannot_be_made_contact_cadre_of_a_household_in_another_grid(
    county: County, cast: Cast
):
    g2_cadre = grid_cadre(county, "g2")
    household = household_in(county, cast.cadre, "g1")

    with pytest.raises(UnknownReference):
        county.services.households.assign_contact_cadre(
            cast.supervisor, household, cadre_id=g2_cadre.account_id
        )


def test_a_grid_cadre_cannot_be_assigned_a_case_from_another_grid(county: County, cast: Cast):
    g2_cadre = grid_cadre(county, "g2")
    case = case_for(county, cast.cadre, household_in(county, cast.cadre, "g1"))

    with pytest.raises(UnknownReference):
        county.services.grievances.assign(cast.supervisor, case, assignee_id=g2_cadre.account_id)


def test_someone_other_than_the_assignee_is_forbidden_to_accept(county: County, cast: Cast):
    case = case_for(county, cast.cadre, household_in(county, cast.cadre, "g1"))
    county.services.grievances.assign(cast.supervisor, case, assignee_id=cast.cadre.account_id)

    with pytest.raises(NotPermitted):
        county.services.grievances.accept(cast.other_cadre, case)


def test_a_case_cannot_be_merged_into_a_case_outside_the_supervisors_jurisdiction(
    county: County, cast: Cast
):
    ours = case_for(county, cast.cadre, household_in(county, cast.cadre, "g1"))
    theirs = case_for(county, cast.outsider, household_in(county, cast.outsider, "g1", "anle"))

    with pytest.raises(UnknownReference):
        county.services.grievances.merge(cast.supervisor, ours, into=theirs)


def test_a_cadre_of_another_community_cannot_read_the_case(county: County, cast: Cast):
    case = case_for(county, cast.cadre, household_in(county, cast.cadre, "g1"))

    # Outside the jurisdiction the case answers as if it did not exist.
    with pytest.raises(NotFound):
        county.services.grievances.get(cast.outsider, case)
