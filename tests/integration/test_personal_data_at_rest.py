"""Personal data never reaches the disk in clear: events, snapshots and keys hold ciphertext.

The stores are read from outside the application, as someone holding a copy of
the database would: the SQLite files byte for byte and through ``sqlite3``, the
Postgres schema through ``psycopg``. A name, a phone number and an ID number are
looked for in every encoding they could plausibly have been written in.
A control (a marker in a field that is stored in clear by design) shows each
search would have found them.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql

from api.bootstrap import County
from infrastructure.settings import Settings
from infrastructure.vault import NONCE_BYTES, SEALED_PREFIX, load_master_key
from tests.conftest import Cast

HEAD_NAME = "欧阳翠凤"
PHONE = "13987654321"
ID_NUMBER = "53010219850718432X"
SECOND_NAME = "诸葛青岚"
SECOND_PHONE = "+86 186-0000-7777"
PARTY_NAME = "司马望舒"
PARTY_PHONE = "15811112222"
SECRETS = (HEAD_NAME, PHONE, ID_NUMBER, SECOND_NAME, SECOND_PHONE, PARTY_NAME, PARTY_PHONE)
# Stored in clear by design (the village a household came from): proves the searches can see.
CONTROL = "石板标记村"


def encodings(text: str) -> set[bytes]:
    """Every form a text could take on disk, short of encryption."""
    forms = {
        text.encode("utf-8"),
        text.encode("utf-16-le"),
        text.encode("utf-16-be"),
        text.encode("gb18030"),
        json.dumps(text).strip('"').encode("ascii"),  # \\u6b27\\u9633...
        json.dumps(text).strip('"').upper().replace("\\U", "\\u").encode("ascii"),
        base64.b64encode(text.encode("utf-8")).rstrip(b"="),
        base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"="),
    }
    return {form for form in forms if len(form) >= 4}


def found_in(blobs: Iterable[bytes], text: str) -> list[bytes]:
    """The forms of ``text`` found in any blob."""
    forms = encodings(text)
    return [form for blob in blobs for form in forms if form in blob]


def as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


# -- reading the stores from outside ---------------------------------------------


def sqlite_files(settings: Settings) -> dict[str, bytes]:
    """Every file of the county, WAL and shared memory included, byte for byte."""
    return {
        path.name: path.read_bytes()
        for path in sorted(settings.county_dir.iterdir())
        if path.is_file()
    }


def sqlite_table(settings: Settings, file: str, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(settings.county_dir / file)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def postgres_table(settings: Settings, table: str, columns: str) -> list[tuple[Any, ...]]:
    assert settings.database_url
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(columns), sql.Identifier(settings.county, table)
    )
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(query).fetchall()


def postgres_schema_dump(settings: Settings) -> Iterator[bytes]:
    """Every value of every table in the county's schema."""
    assert settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (settings.county,),
            )
        ]
        assert "casebook_events" in tables and "household_keys" in tables
        for table in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(settings.county, table))
            for row in conn.execute(query):
                yield b"\x1f".join(as_bytes(value) for value in row)


def event_states(settings: Settings, table: str) -> list[tuple[UUID, str, bytes]]:
    """(originator_id, topic, state) of the events or snapshots table, read with raw SQL."""
    columns = "originator_id, topic, state"
    if settings.database_url:
        rows = postgres_table(settings, f"casebook_{table}", columns)
    else:
        rows = sqlite_table(settings, "events.sqlite", f"SELECT {columns} FROM stored_{table}")
    return [(UUID(str(origin)), topic, bytes(state)) for origin, topic, state in rows]


def stored_state(settings: Settings, table: str, origin: UUID, topic: str) -> dict[str, Any]:
    (state,) = [
        json.loads(state)
        for originator_id, stored_topic, state in event_states(settings, table)
        if originator_id == origin and stored_topic == topic
    ]
    return state  # type: ignore[no-any-return]


def wrapped_keys(settings: Settings) -> dict[UUID, bytes]:
    if settings.database_url:
        rows = postgres_table(settings, "household_keys", "household_id, wrapped")
        return {household_id: bytes(wrapped) for household_id, wrapped in rows}
    rows = sqlite_table(settings, "keys.sqlite", "SELECT household_id, wrapped FROM household_keys")
    return {UUID(household_id): bytes(wrapped) for household_id, wrapped in rows}


def unwrap(settings: Settings, household_id: UUID, wrapped: bytes) -> bytes:
    """The household's data key, opened with the master key as the vault does."""
    master = AESGCM(load_master_key(settings.master_key, None))
    aad = b"anju-household-key:" + household_id.bytes
    return master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)


def open_sealed(data_key: bytes, household_id: UUID, token: str) -> str:
    raw = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
    plain = AESGCM(data_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], household_id.bytes)
    return plain.decode("utf-8")


# -- the scenario ------------------------------------------------------------------


@pytest.fixture
def households(county: County, cast: Cast) -> dict[str, str]:
    """Two households, one past its first snapshot, and a grievance naming a third person."""
    service = county.services.households
    first, _ = service.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name=HEAD_NAME,
        phone=PHONE,
        id_number=ID_NUMBER,
        member_count=4,
        address={"building": "9", "unit": "1", "room": "1101"},
        origin={"township": "花溪镇", "village": CONTROL},
        relocated_on=date(2020, 12, 1),
    )
    second, _ = service.register(
        cast.other_cadre,
        community_id="xingfu",
        grid_id="g2",
        head_name=SECOND_NAME,
        phone=SECOND_PHONE,
        member_count=1,
        address={"building": "9", "unit": "2", "room": "202"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2020, 12, 1),
    )
    for n in range(49):  # to version 50: the household is snapshotted
        service.record_employment(cast.cadre, first.id, labour_force=2, employed=n % 3)
    case, _ = county.services.grievances.file(
        cast.cadre,
        household_id=first.id,
        category="neighbour_dispute",
        urgency="normal",
        channel="walk_in",
        summary="邻里纠纷：天台漏水",
        parties=[
            {"role": "complainant", "name": HEAD_NAME, "phone": PHONE},
            {"role": "respondent", "name": PARTY_NAME, "phone": PARTY_PHONE},
        ],
    )
    # The application itself still reads everything back in clear.
    assert service.get(cast.cadre, first.id).head_name == HEAD_NAME
    assert county.services.grievances.get(cast.cadre, case.id).parties is not None
    return {"first": first.id, "second": second.id, "case": case.id}


def test_no_personal_data_lies_in_clear_in_the_tables_or_anywhere_in_the_store(
    county: County, county_settings: Settings, households: dict[str, str]
):
    events = event_states(county_settings, "events")
    snapshots = event_states(county_settings, "snapshots")
    assert len(snapshots) == 1
    states = [state for _, _, state in events + snapshots]
    assert found_in(states, CONTROL), "the search cannot see the stored states"
    for secret in SECRETS:
        assert not found_in(states, secret), secret

    if county_settings.database_url:
        store = list(postgres_schema_dump(county_settings))
    else:
        files = sqlite_files(county_settings)
        assert {"events.sqlite", "keys.sqlite"} <= set(files)
        store = list(files.values())
    assert found_in(store, CONTROL), "the search cannot see the store"
    for secret in SECRETS:
        assert not found_in(store, secret), secret


def test_the_stored_ciphertext_opens_only_with_the_households_own_key(
    county: County, county_settings: Settings, households: dict[str, str]
):
    """The fields found sealed are the personal data, under that household's key."""
    first = UUID(households["first"])
    keys = wrapped_keys(county_settings)
    data_key = unwrap(county_settings, first, keys[first])
    other_key = unwrap(
        county_settings, UUID(households["second"]), keys[UUID(households["second"])]
    )

    registered = stored_state(county_settings, "events", first, "anju:Household.Registered")
    for field, clear in (("head_name", HEAD_NAME), ("phone", PHONE), ("id_number", ID_NUMBER)):
        token = registered[field]
        assert token.startswith(SEALED_PREFIX)
        assert open_sealed(data_key, first, token) == clear
        assert open_or_none(other_key, first, token) is None

    case = UUID(households["case"])
    filed = stored_state(county_settings, "events", case, "anju:Grievance.Filed")
    parties = json.loads(open_sealed(data_key, first, filed["parties"]))
    assert [party["name"] for party in parties] == [HEAD_NAME, PARTY_NAME]

    (snapshot,) = [json.loads(state) for _, _, state in event_states(county_settings, "snapshots")]
    assert open_sealed(data_key, first, snapshot["state"]["head_name"]) == HEAD_NAME


def open_or_none(data_key: bytes, household_id: UUID, token: str) -> str | None:
    try:
        return open_sealed(data_key, household_id, token)
    except InvalidTag:
        return None


def test_the_key_store_holds_only_wrapped_keys(
    county: County, county_settings: Settings, households: dict[str, str]
):
    keys = wrapped_keys(county_settings)
    assert set(keys) == {UUID(households["first"]), UUID(households["second"])}
    master_key = load_master_key(county_settings.master_key, None)
    wrong_master = AESGCM(AESGCM.generate_key(bit_length=256))

    if county_settings.database_url:
        store = list(postgres_schema_dump(county_settings))
    else:
        store = list(sqlite_files(county_settings).values())
    data_keys = []
    for household_id, wrapped in keys.items():
        # nonce, then the 32-byte key encrypted, then the 16-byte tag
        assert len(wrapped) == NONCE_BYTES + 32 + 16
        data_key = unwrap(county_settings, household_id, wrapped)
        assert len(data_key) == 32
        data_keys.append(data_key)
        with pytest.raises(InvalidTag):
            aad = b"anju-household-key:" + household_id.bytes
            wrong_master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        # Bound to its household: the wrapped key does not open as another's.
        other = next(key for key in keys if key != household_id)
        with pytest.raises(InvalidTag):
            unwrap(county_settings, other, wrapped)
    assert data_keys[0] != data_keys[1]

    # Neither a data key nor the master key lies anywhere in the store, raw or encoded.
    for secret in [*data_keys, master_key]:
        forms = {
            secret,
            secret.hex().encode(),
            base64.b64encode(secret),
            base64.urlsafe_b64encode(secret),
        }
        assert not [form for blob in store for form in forms if form in blob]
