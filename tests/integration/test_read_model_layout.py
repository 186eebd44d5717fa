"""Read-model tables built by code with another table layout are rebuilt before use."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from api.bootstrap import County
from application.casework_model import HOUSEHOLDS, CaseworkModel
from application.organisation_model import OrganisationModel
from application.projections import Projections
from tests.conftest import Cast


class CaseworkWithANewColumn(CaseworkModel):
    tables = (
        replace(HOUSEHOLDS, columns={**HOUSEHOLDS.columns, "note": "text"}),
        *CaseworkModel.tables[1:],
    )


def test_tables_of_an_older_layout_are_rebuilt_when_the_projections_start(
    county: County, cast: Cast
) -> None:
    services = county.services
    services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="李桂兰",
        member_count=2,
        address={"building": "1", "unit": "1", "room": "101"},
        origin={"township": "龙场镇", "village": "三组"},
        relocated_on=date(2025, 5, 1),
    )
    position = services.projections.catch_up()
    newer = CaseworkWithANewColumn()

    upgraded = Projections(services.book, services.projections.store, [OrganisationModel(), newer])
    try:
        upgraded.prepare()
    finally:
        upgraded.close()

    rows = services.projections.store.select(newer, "households")
    assert len(rows) == 1 and rows[0]["note"] is None
    casework = [t for t in upgraded.status(services.clock.now()) if t.model == "casework"]
    assert [(t.generation, t.live, t.position) for t in casework] == [(2, True, position)]
