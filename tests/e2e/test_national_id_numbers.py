"""National ID numbers over HTTP: checked, never registered twice, forgotten on erasure.

An ID number that fails the GB 11643 check is a 422 pointing at
``["body", "id_number"]`` and records nothing. A second household with a
registered number is a 409 that names the first household to a cadre who may
read it, and names nothing to one who may not. Once the first household is
erased, its number matches nothing and registers again. The stores hold the
number neither in clear nor as a plain SHA-256, only as a keyed digest.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from infrastructure.settings import Settings
from tests.e2e.conftest import World, assert_command, assert_problem, household_body
from tests.national_ids import valid_id_number

ID_NUMBER = valid_id_number(born=date(1979, 11, 23), sequence=318)


@pytest.mark.parametrize(
    "id_number",
    [
        ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1"),  # a wrong check digit
        "522601198502300021",  # 30 February
        ID_NUMBER[:17],  # 17 characters
        ID_NUMBER + "1",  # 19 characters
        "52260119850315002Y",
    ],
)
def test_an_invalid_id_number_is_a_422_on_the_id_number_and_records_nothing(
    world: World, id_number: str
) -> None:
    before = world.head()
    answer = world.cadre.client.post("/v1/households", json=household_body(id_number=id_number))
    problem = assert_problem(answer, 422)
    assert [item["loc"] for item in problem["errors"]] == [["body", "id_number"]]
    assert world.head() == before


def test_a_second_household_with_a_registered_id_number_is_a_409_naming_the_first(
    world: World,
) -> None:
    first = world.household(id_number=ID_NUMBER)
    before = world.head()

    again = household_body(head_name="王二", id_number=ID_NUMBER.lower())
    problem = assert_problem(world.cadre2.client.post("/v1/households", json=again), 409)

    assert problem["household_id"] == first["id"]
    assert world.head() == before


def test_a_cadre_who_may_not_read_the_first_household_is_told_only_that_the_number_is_taken(
    world: World,
) -> None:
    world.household(id_number=ID_NUMBER)

    elsewhere = household_body(community_id="anle", grid_id="g1", id_number=ID_NUMBER)
    problem = assert_problem(world.outsider.client.post("/v1/households", json=elsewhere), 409)

    assert "household_id" not in problem
    assert ID_NUMBER not in str(problem)


def test_after_the_first_household_is_erased_its_id_number_registers_again(world: World) -> None:
    first = world.household(id_number=ID_NUMBER)
    erased = world.admin.client.post(
        f"/v1/households/{first['id']}/erase", json={"legal_basis": "PIPL 第47条 本人申请删除"}
    )
    assert_command(erased)

    again = world.cadre.client.post("/v1/households", json=household_body(id_number=ID_NUMBER))

    body = assert_command(again, 201)
    assert body["id_number"] == ID_NUMBER
    assert body["id"] != first["id"]


def test_the_stores_hold_the_id_number_neither_in_clear_nor_as_a_plain_sha256(
    world: World, county_settings: Settings
) -> None:
    world.household(id_number=ID_NUMBER)
    assert_problem(
        world.cadre.client.post("/v1/households", json=household_body(id_number=ID_NUMBER)), 409
    )
    digest = hashlib.sha256(ID_NUMBER.encode()).digest()
    needles = [
        ID_NUMBER.encode(),
        ID_NUMBER.encode("utf-16-le"),
        digest,
        digest.hex().encode(),
        digest.hex().upper().encode(),
    ]

    found = [
        f"{where}: {needle!r}"
        for where, blob in stored(county_settings)
        for needle in needles
        if needle in blob
    ]

    assert found == []


def stored(settings: Settings) -> list[tuple[str, bytes]]:
    """Every file under the data directory, and every row of the county's schema."""
    blobs = [
        (str(path), path.read_bytes())
        for path in sorted(Path(settings.data_dir).rglob("*"))
        if path.is_file()
    ]
    assert any(where.endswith(".sqlite") for where, _ in blobs) or settings.database_url
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s", [settings.county]
                )
            ]
            assert "id_number_index" in tables
            for table in tables:
                query = sql.SQL("SELECT t::text FROM {}.{} AS t").format(
                    sql.Identifier(settings.county), sql.Identifier(table)
                )
                text = "\n".join(row[0] for row in conn.execute(query))
                blobs.append((table, text.encode()))
    return blobs
