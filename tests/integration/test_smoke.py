from datetime import date

from api.bootstrap import County
from tests.conftest import Cast


def test_a_registered_household_reads_back_with_its_personal_data(county: County, cast: Cast):
    view, position = county.services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="张三",
        member_count=3,
        phone="13812345678",
        address={"building": "1", "unit": "2", "room": "301"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2021, 3, 1),
    )
    again = county.services.households.get(cast.cadre, view.id)
    assert again == view
    assert again.head_name == "张三"
    assert position > 0
