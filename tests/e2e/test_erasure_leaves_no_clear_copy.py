"""After an erasure, no clear copy of the person is left anywhere the county keeps data.

A household is registered over HTTP with distinctive personal values (with an
Idempotency-Key, so the idempotency store remembers the answer), read every way
(get, list, search, history, as_of) by the cadre and the supervisor, visited,
and named in a grievance's parties. The same name, phone and ID number are also
typed into free text: an employment note, a life-event note, the visit's notes,
the grievance's summary and description, an assignment note, a case note and
the resolution; every role that may read those texts reads them in clear. Before
the erasure the search below must find the clear values (in the idempotency
store), so it is known to work.
After the erasure, on both stores: every table of the database (PostgreSQL:
every row of every table of the county's schema; SQLite: the raw bytes of every
file under the data directory, -wal and -shm included) and an exported log
bundle (its bytes and every event's decoded state) hold neither the name, the
phone nor the ID number in clear; `anju audit verify` still passes; and the
household's history still lists every event, with personal fields null. No
answer holds them either: the household, its visit and its case (each read,
listed and with its history), the ledger (CSV and XLSX), late entries and the
audit log's events, where the free texts are null.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from infrastructure.settings import Settings
from tests.e2e.conftest import Account, LiveServer, World, iso, now

ANJU = Path(sys.executable).parent / "anju"
SUBPROCESS_SECONDS = 120

NAME = "欧阳娜娜"
PHONE = "13987654321"
ID_NUMBER = "522601199001051234"
PERSONAL = ("head_name", "phone", "id_number")
# What a cadre may type about the person into any free-text field.
TYPED = f"户主{NAME}，电话{PHONE}，身份证{ID_NUMBER}"
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


# -- what to look for --------------------------------------------------------------------


def forms(value: str) -> list[bytes]:
    """The byte strings a clear value may take when stored: UTF-8 and JSON-escaped."""
    found = {value.encode()}
    escaped = json.dumps(value)[1:-1]  # \uXXXX, lower-case hex
    found.add(escaped.encode())
    found.add(re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), escaped).encode())
    found.add(value.encode("utf-16-le"))
    return sorted(found)


NEEDLES = {value: forms(value) for value in (NAME, PHONE, ID_NUMBER)}


def decoded_base64(blob: bytes) -> list[bytes]:
    """Every run of the blob that looks like base64, decoded."""
    out = []
    for run in BASE64_RUN.findall(blob):
        padded = run + b"=" * (-len(run) % 4)
        try:
            out.append(base64.b64decode(padded, validate=False))
        except (binascii.Error, ValueError):
            continue
    return out


def hits_in(blob: bytes, where: str) -> list[str]:
    """Where in ``blob`` a clear value occurs, with the bytes around it."""
    found = []
    for candidate, label in [(blob, where)] + [
        (d, f"{where} (base64)") for d in decoded_base64(blob)
    ]:
        for value, needles in NEEDLES.items():
            for needle in needles:
                at = candidate.find(needle)
                if at >= 0:
                    around = candidate[max(0, at - 60) : at + len(needle) + 60]
                    found.append(f"{label}: {value!r} as {needle!r} at {at}: {around!r}")
    return found


# -- the stores ----------------------------------------------------------------------------


def as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return (
            json.dumps(value, ensure_ascii=False, default=str)
            + json.dumps(value, ensure_ascii=True, default=str)
        ).encode()
    return str(value).encode()


def postgres_hits(settings: Settings) -> tuple[list[str], int]:
    """Clear values in any row of any table of the county's schema; and how many tables."""
    assert settings.database_url
    found: list[str] = []
    with psycopg.connect(settings.database_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm') ORDER BY 1",
                [settings.county],
            )
        ]
        for table in tables:
            query = sql.SQL("SELECT * FROM {}.{}").format(
                sql.Identifier(settings.county), sql.Identifier(table)
            )
            cursor = conn.execute(query)
            columns = [column.name for column in cursor.description or []]
            for number, row in enumerate(cursor):
                for column, value in zip(columns, row, strict=True):
                    found += hits_in(as_bytes(value), f"{table}.{column} row {number}")
    return found, len(tables)


def sqlite_hits(settings: Settings) -> tuple[list[str], int]:
    """Clear values in the raw bytes of any file under the data directory; and how many files."""
    found: list[str] = []
    files = sorted(path for path in Path(settings.data_dir).rglob("*") if path.is_file())
    for path in files:
        found += hits_in(path.read_bytes(), str(path.relative_to(settings.data_dir)))
    return found, len(files)


def store_hits(settings: Settings) -> list[str]:
    if settings.uses_postgres:
        found, tables = postgres_hits(settings)
        assert tables >= 3, f"only {tables} tables in schema {settings.county}"
        # Files under the data directory (logs, keys) must not hold clear data either.
        return found + sqlite_hits(settings)[0]
    found, files = sqlite_hits(settings)
    assert any(p.suffix == ".sqlite" for p in Path(settings.data_dir).rglob("*")), files
    return found


# -- the command line ----------------------------------------------------------------------


def environment(settings: Settings, home: Path) -> dict[str, str]:
    assert settings.master_key and settings.signing_key_file
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANJU_DATA_DIR": str(settings.data_dir),
        "ANJU_COUNTY": settings.county,
        "ANJU_TIMEZONE": settings.timezone,
        "ANJU_MASTER_KEY": settings.master_key,
        "ANJU_BLIND_INDEX_KEY": str(settings.blind_index_key),
        "ANJU_SIGNING_KEY_FILE": str(settings.signing_key_file),
    }
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return env


def anju(settings: Settings, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(ANJU), *args],
        env=environment(settings, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        check=False,
    )


def bundle_hits(path: Path) -> tuple[list[str], int]:
    """Clear values in the bundle's bytes or in any event's decoded state; and how many events."""
    raw = path.read_bytes()
    found = hits_in(raw, path.name)
    states = 0
    for number, line in enumerate(raw.splitlines()):
        if not line.strip():
            continue
        record = json.loads(line)
        if isinstance(record, dict) and "state" in record:
            states += 1
            state = base64.b64decode(record["state"], validate=True)
            found += hits_in(state, f"{path.name} line {number} state")
    return found, states


# -- the household, its traffic and its history --------------------------------------------


def settle(server: LiveServer, world: World) -> None:
    """Wait until the read side has processed the log's head."""
    head = server.head()
    answer = world.supervisor.client.get("/v1/households", params={"consistent_with": head})
    assert answer.status_code == 200, answer.text


def history(world: World, household_id: str) -> dict[str, list[dict[str, Any]]]:
    seen = {}
    for who in (world.supervisor, world.auditor, world.cadre):
        answer = who.client.get(f"/v1/households/{household_id}/history")
        assert answer.status_code == 200, f"{who.role}: {answer.text}"
        seen[who.role] = answer.json()
    return seen


@dataclass(frozen=True)
class Traffic:
    household: str
    visit: str
    case: str


# Each free text typed about the person, and where a view shows it.
VISIT_TEXTS = {"notes": f"入户走访：{TYPED}"}
CASE_TEXTS = {
    "summary": f"楼道灯坏了，{TYPED}",
    "description": f"详情：{TYPED}",
    "resolution": f"已修复，回访{TYPED}",
}
CASE_NOTE = f"已联系{TYPED}"
ASSIGN_NOTE = f"请尽快联系{TYPED}"
EMPLOYMENT_NOTE = f"一人在外务工，{TYPED}"
LIFE_EVENT_NOTE = f"住院，{TYPED}"


def traffic(world: World) -> Traffic:
    """A household whose clear values travel through every path the API has."""
    cadre, supervisor = world.cadre.client, world.supervisor.client
    body = {
        "community_id": "xingfu",
        "grid_id": "g1",
        "head_name": NAME,
        "member_count": 3,
        "phone": PHONE,
        "id_number": ID_NUMBER,
        "address": {"building": "7", "unit": "1", "room": "302"},
        "origin": {"township": "雷山镇", "village": "乌东村"},
        "relocated_on": "2019-06-15",
        "tags": ["low_income"],
    }
    key = f"erase-me-{uuid.uuid4().hex}"
    made = cadre.post("/v1/households", json=body, headers={"Idempotency-Key": key})
    assert made.status_code == 201, made.text
    household = made.json()["id"]
    again = cadre.post("/v1/households", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["id"] == household, again.text
    registered_at = now()

    # There is no endpoint that changes the phone; the other household commands
    # add events after the registration (remembered under Idempotency-Keys too).
    for path, payload in (
        ("tags", {"add": ["elderly_alone"], "remove": []}),
        ("employment", {"labour_force": 2, "employed": 1, "note": EMPLOYMENT_NOTE}),
        ("contact-cadre", {"cadre_id": world.cadre.id}),
    ):
        answer = cadre.post(
            f"/v1/households/{household}/{path}",
            json=payload,
            headers={"Idempotency-Key": f"{path}-{uuid.uuid4().hex}"},
        )
        assert answer.status_code == 200, f"{path}: {answer.text}"
    life = cadre.post(
        f"/v1/households/{household}/life-events",
        json={
            "kind": "illness",
            "occurred_on": (now().date() - timedelta(days=3)).isoformat(),
            "note": LIFE_EVENT_NOTE,
        },
        headers={"Idempotency-Key": f"life-{uuid.uuid4().hex}"},
    )
    assert life.status_code == 201, life.text

    # A visit logged two days after it was made, so late entries list it.
    visited = cadre.post(
        "/v1/visits",
        json={
            "household_id": household,
            "visited_at": iso(now() - timedelta(hours=50)),
            "channel": "in_person",
            "purpose": "routine",
            "notes": VISIT_TEXTS["notes"],
        },
        headers={"Idempotency-Key": f"visit-{uuid.uuid4().hex}"},
    )
    assert visited.status_code == 201, visited.text
    visit = visited.json()
    case = cadre.post(
        "/v1/grievances",
        json={
            "household_id": household,
            "category": "facilities",
            "urgency": "urgent",
            "channel": "visit",
            "summary": CASE_TEXTS["summary"],
            "description": CASE_TEXTS["description"],
            "visit_id": visit["id"],
            "parties": [{"name": NAME, "phone": PHONE, "id_number": ID_NUMBER, "role": "申请人"}],
        },
        headers={"Idempotency-Key": f"case-{uuid.uuid4().hex}"},
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    for by, verb, payload in (
        (supervisor, "assign", {"assignee_id": world.cadre.id, "note": ASSIGN_NOTE}),
        (cadre, "accept", {}),
        (cadre, "note", {"text": CASE_NOTE}),
        (cadre, "resolve", {"resolution": CASE_TEXTS["resolution"], "outcome": "resolved"}),
    ):
        answer = by.post(
            f"/v1/grievances/{case_id}/{verb}",
            json=payload,
            headers={"Idempotency-Key": f"{verb}-{uuid.uuid4().hex}"},
        )
        assert answer.status_code == 200, f"{verb}: {answer.text}"

    settle(world.server, world)
    for client in (cadre, supervisor, world.auditor.client):
        for path, params in (
            (f"/v1/households/{household}", {}),
            (f"/v1/households/{household}", {"as_of": iso(registered_at + timedelta(seconds=1))}),
            (f"/v1/households/{household}/history", {}),
            ("/v1/households", {}),
            ("/v1/households", {"q": NAME}),
            ("/v1/households", {"q": PHONE}),
            (f"/v1/grievances/{case_id}", {}),
            ("/v1/grievances", {}),
            (f"/v1/visits/{visit['id']}", {}),
        ):
            answer = client.get(path, params=params)
            assert answer.status_code == 200, f"{path} {params}: {answer.text}"
    return Traffic(str(household), str(visit["id"]), str(case_id))


def texts_seen(world: World, who: Account, sent: Traffic) -> dict[str, Any]:
    """The free texts as one reader sees them: in the views and in the histories."""
    visit = who.client.get(f"/v1/visits/{sent.visit}").json()
    case = who.client.get(f"/v1/grievances/{sent.case}").json()
    case_history = who.client.get(f"/v1/grievances/{sent.case}/history").json()
    household_history = who.client.get(f"/v1/households/{sent.household}/history").json()

    def data(entries: list[dict[str, Any]], event_type: str, name: str) -> Any:
        return next(e["data"][name] for e in entries if e["event_type"] == event_type)

    return {
        "notes": visit["notes"],
        **{name: case[name] for name in CASE_TEXTS},
        "case note": data(case_history, "Grievance.Noted", "text"),
        "assign note": data(case_history, "Grievance.Assigned", "note"),
        "employment note": data(household_history, "Household.EmploymentRecorded", "note"),
        "life-event note": data(household_history, "Household.LifeEventReported", "note"),
    }


EXPECTED_TEXTS = {
    **VISIT_TEXTS,
    **CASE_TEXTS,
    "case note": CASE_NOTE,
    "assign note": ASSIGN_NOTE,
    "employment note": EMPLOYMENT_NOTE,
    "life-event note": LIFE_EVENT_NOTE,
}


def answers(world: World, sent: Traffic) -> dict[str, bytes]:
    """Every answer that could repeat what was written about the household, by reader."""
    found: dict[str, bytes] = {}
    household, visit, case = sent.household, sent.visit, sent.case
    reads = [
        f"/v1/households/{household}",
        f"/v1/households/{household}/history",
        f"/v1/visits/{visit}",
        f"/v1/visits/{visit}/history",
        f"/v1/visits?household_id={household}",
        f"/v1/grievances/{case}",
        f"/v1/grievances/{case}/history",
        f"/v1/grievances?household_id={household}",
        "/v1/reports/late-entries",
        "/v1/ledger/grievances?format=csv",
        "/v1/ledger/grievances?format=xlsx",
    ]
    for who in (world.cadre, world.supervisor, world.auditor):
        for path in reads:
            answer = who.client.get(path)
            assert answer.status_code == 200, f"{who.role} {path}: {answer.text}"
            found[f"{who.role} {path}"] = readable(answer.content)
    for aggregate in (household, visit, case, None):
        params: dict[str, str | int] = {"limit": 1000}
        if aggregate:
            params["aggregate_id"] = aggregate
        answer = world.auditor.client.get("/v1/audit/events", params=params)
        assert answer.status_code == 200, answer.text
        found[f"audit events {aggregate}"] = answer.content
    return found


def readable(content: bytes) -> bytes:
    """An answer's bytes; for an XLSX workbook, the bytes of every part inside it."""
    if not content.startswith(b"PK"):
        return content
    with zipfile.ZipFile(BytesIO(content)) as book:
        return b"\n".join(book.read(name) for name in book.namelist())


def test_searching_works_before_an_erasure(server: LiveServer, world: World) -> None:
    """The search finds the clear values while the household stands (so it can find them)."""
    sent = traffic(world)
    settings = server.county.settings
    found = store_hits(settings)
    assert any(NAME in hit for hit in found), found
    assert any(PHONE in hit for hit in found), found
    assert any(ID_NUMBER in hit for hit in found), found
    assert any("idempotency" in hit for hit in found), found
    seen = answers(world, sent)
    assert hits_in(seen["supervisor /v1/ledger/grievances?format=xlsx"], "xlsx"), "xlsx unread"
    assert hits_in(seen[f"audit events {sent.case}"], "audit"), "audit events unread"


def test_every_reader_in_scope_reads_the_free_text_before_an_erasure(
    server: LiveServer, world: World
) -> None:
    sent = traffic(world)
    for who in (world.cadre, world.supervisor, world.auditor):
        assert texts_seen(world, who, sent) == EXPECTED_TEXTS, who.role
    ledger = world.supervisor.client.get("/v1/ledger/grievances", params={"format": "csv"})
    assert CASE_TEXTS["summary"] in ledger.content.decode("utf-8-sig"), ledger.text


def test_after_an_erasure_no_table_file_or_bundle_holds_the_person_in_clear(
    server: LiveServer, world: World, tmp_path: Path
) -> None:
    sent = traffic(world)
    household = sent.household
    settings = server.county.settings
    before = history(world, household)
    versions = [entry["version"] for entry in before["supervisor"]]
    assert versions == [1, 2, 3, 4, 5], before["supervisor"]
    assert store_hits(settings), "the search finds nothing even before the erasure"

    erased = world.admin.client.post(
        f"/v1/households/{household}/erase", json={"legal_basis": "本人依法申请删除个人信息"}
    )
    assert erased.status_code == 200, erased.text
    settle(server, world)

    # -- the stores: every table (PostgreSQL) or every file (SQLite), and the data directory
    leftovers = store_hits(settings)
    assert not leftovers, "clear personal data after erasure:\n" + "\n".join(leftovers)

    # -- an exported bundle, its bytes and every event's state
    bundle = tmp_path / "export" / "county.jsonl"
    bundle.parent.mkdir(parents=True)
    exported = anju(settings, tmp_path / "home", "log", "export", str(bundle))
    assert exported.returncode == 0, exported.stderr
    in_bundle, states = bundle_hits(bundle)
    assert states >= len(versions) + 1, states
    assert not in_bundle, "clear personal data in the bundle:\n" + "\n".join(in_bundle)

    # -- the ledger still verifies
    verified = anju(settings, tmp_path / "home", "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True, verified.stdout

    # -- the history still lists every event, with no personal data
    after = history(world, household)
    for role, entries in after.items():
        assert [e["version"] for e in entries] == [*versions, versions[-1] + 1], (role, entries)
        assert [e["event_type"] for e in entries[:-1]] == [
            e["event_type"] for e in before["supervisor"]
        ], role
        assert entries[-1]["event_type"] == "Household.Erased", entries[-1]
        for entry in entries:
            for name in PERSONAL:
                if name in entry["data"]:
                    assert entry["data"][name] is None, (role, entry)
        assert not hits_in(json.dumps(entries, ensure_ascii=False).encode(), role)
    for who in (world.cadre, world.supervisor, world.auditor):
        seen = who.client.get(f"/v1/households/{household}")
        assert seen.status_code == 200, seen.text
        view = seen.json()
        assert view["erased"] is True, view
        assert all(view[name] is None for name in PERSONAL), view

    # -- no answer repeats what was written about the person; the free texts are null
    for where, content in answers(world, sent).items():
        assert not hits_in(content, where), hits_in(content, where)
    for who in (world.cadre, world.supervisor, world.auditor):
        assert texts_seen(world, who, sent) == dict.fromkeys(EXPECTED_TEXTS), who.role
