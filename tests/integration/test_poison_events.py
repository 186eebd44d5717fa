"""Events an older version let in, which no store or calendar can hold, never stop a county.

Each poison event is written straight into the log through the library's
recorder (sealed into the hash chain as any event is), bypassing every check
the commands make today: a NUL in a summary and in a community's code, a visit
and a grievance at 0001-01-01T00:00:00+14:00, a life event due on 9999-12-31,
parties nested 900 levels deep, an integer beyond 64 bits. The read models quarantine what they cannot fold
(position and error type only), fold everything else, and say so in /metrics,
/readyz and every report; the ledger and an offline replay still answer; a
rebuild reaches the same state.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from openpyxl import load_workbook

from api.bootstrap import County
from api.log_commands import Report, replayed
from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from infrastructure.log_bundle import verify_bundle, write_bundle
from infrastructure.settings import Settings
from tests.e2e.conftest import running

EDGE_OF_TIME = {"_type_": "datetime_iso", "_data_": "0001-01-01T00:00:00+14:00"}
QUARANTINED = re.compile(r'^anju_projection_quarantined_events\{model="(\w+)"\} (\d+)$', re.M)
REPORTS = [
    "/v1/reports/workload",
    "/v1/reports/coverage",
    "/v1/reports/resolution",
    "/v1/reports/stars",
    "/v1/reports/late-entries",
]


@dataclass
class Live:
    county: County
    client: httpx.Client
    auditor: Actor
    cadre: Actor
    household_id: str


@pytest.fixture
def live(county_settings: Settings) -> Iterator[Live]:
    """A running server with a community, a cadre, an auditor and one household."""
    with running(county_settings) as (url, app):
        county: County = app.state.county
        org = county.services.organisation
        org.found_community(
            SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县"
        )
        org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")

        def account(username: str, role: str, community: str | None = None) -> Actor:
            view, _ = org.open_account(
                SYSTEM, username=username, display_name=username, role=role, community_id=community
            )
            return actor_of(org.account(view.id))

        cadre = account("cadre1", "cadre", "xingfu")
        auditor = account("audit1", "auditor")
        token, _ = org.issue_token(SYSTEM, auditor.account_id)
        household = register(county, cadre)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token.token}"}, timeout=60
        ) as client:
            yield Live(county, client, auditor, cadre, household)


def register(county: County, cadre: Actor) -> str:
    view, _ = county.services.households.register(
        cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="王秀英",
        member_count=3,
        address={"building": "3", "unit": "1", "room": "502"},
        origin={"township": "乌蒙镇", "village": "五组"},
        relocated_on=date(2025, 3, 1),
    )
    return view.id


def stored_state(county: County, topic: str) -> dict[str, Any]:
    """The stored state of the newest event of ``topic``, as JSON."""
    found = county.book.recorder.select_notifications(start=0, limit=10_000, topics=[topic])
    assert found, topic
    state: dict[str, Any] = json.loads(found[-1].state)
    return state


def insert(
    county: County, topic: str, state: dict[str, Any], aggregate: UUID | None = None
) -> UUID:
    """Record an event as an older version might have: no command, no check."""
    recorder = county.book.recorder
    version = 1
    if aggregate is not None:
        version += recorder.select_events(aggregate, desc=True, limit=1)[0].originator_version
    aggregate = aggregate or uuid.uuid4()
    event = StoredEvent(
        originator_id=aggregate,
        originator_version=version,
        topic=topic,
        state=json.dumps(state).encode(),  # stdlib JSON: it writes integers of any size
    )
    recorder.insert_events([event])
    return aggregate


def write_poison(live: Live) -> UUID:
    """The poison events; the ID of the case whose parties nest 900 deep."""
    county, cadre = live.county, live.cadre
    visit, _ = county.services.visits.log(
        cadre,
        household_id=live.household_id,
        visited_at=county.services.clock.now() - timedelta(hours=60),
        channel="in_person",
        purpose="routine",
        notes="走访了解近况",
    )
    case, _ = county.services.grievances.file(
        cadre,
        household_id=live.household_id,
        category="housing",
        urgency="normal",
        channel="hotline",
        summary="楼道灯不亮",
    )
    county.services.households.report_life_event(
        cadre, live.household_id, kind="illness", occurred_on=date(2026, 10, 30)
    )
    reported = stored_state(county, "anju:Household.LifeEventReported")
    filed = stored_state(county, "anju:Grievance.Filed")
    logged = stored_state(county, "anju:Visit.Logged")
    registered = stored_state(county, "anju:Household.Registered")
    founded = stored_state(county, "anju:Community.Founded")
    sealed_parties = county.services.vault.seal(UUID(live.household_id), "[" * 900 + "]" * 900)

    insert(county, "anju:Grievance.Filed", {**filed, "summary": "灯\u0000不亮"})
    insert(county, "anju:Community.Founded", {**founded, "code": "xing\u0000fu"})
    insert(county, "anju:Household.Registered", {**registered, "community_id": "xing\u0000fu"})
    insert(county, "anju:Visit.Logged", {**logged, "visited_at": EDGE_OF_TIME})
    insert(county, "anju:Grievance.Filed", {**filed, "received_at": EDGE_OF_TIME})
    deep = insert(county, "anju:Grievance.Filed", {**filed, "parties": sealed_parties})
    last_day = {"_type_": "date_iso", "_data_": "9999-12-31"}
    household = UUID(live.household_id)
    insert(
        county,
        "anju:Household.LifeEventReported",
        {**reported, "visit_due_by": last_day},
        household,
    )
    insert(
        county,
        "anju:Household.EmploymentRecorded",
        {"timestamp": filed["timestamp"], "labour_force": 10**30, "employed": 0, "note": None},
        UUID(live.household_id),
    )
    assert visit.id and case.id
    return deep


def quarantined_metrics(client: httpx.Client) -> dict[str, int]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {model: int(count) for model, count in QUARANTINED.findall(answer.text)}


def test_poison_events_are_quarantined_and_the_county_keeps_serving(
    live: Live, tmp_path: Path
) -> None:
    county, client = live.county, live.client
    deep = write_poison(live)
    later = register(county, live.cadre)  # a good event after the poison
    head = county.services.projections.head()

    listed = client.get("/v1/households", params={"consistent_with": head, "limit": 500})

    assert listed.status_code == 200, listed.text
    assert later in [item["id"] for item in listed.json()["items"]]
    assert county.services.projections.position() == head
    counts = quarantined_metrics(client)
    # casework: the NUL summary, the NUL community, the last day of the calendar, the
    # 65-bit integer; organisation: the NUL code.
    assert counts == {"organisation": 1, "casework": 4}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["quarantined_events"] == counts
    stored = county.services.projections.store.quarantined(
        county.services.projections.models["casework"]
    )
    assert [error for _, error in stored] == [
        "CharacterNotInRepertoire",
        "CharacterNotInRepertoire",
        "ValueError",
        "DatatypeMismatch",
    ]
    for path in ("/v1/visits", "/v1/grievances", f"/v1/grievances/{deep}/history"):
        assert client.get(path).status_code == 200, path
    cadre_token, _ = county.services.organisation.issue_token(SYSTEM, live.cadre.account_id)
    as_cadre = {"Authorization": f"Bearer {cadre_token.token}"}
    for path in ("/v1/grievances", f"/v1/grievances/{deep}", f"/v1/grievances/{deep}/history"):
        assert client.get(path, headers=as_cadre).status_code == 200, path

    for path in REPORTS:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["unfolded_events"] == 5, path
    late = client.get("/v1/reports/late-entries").json()["items"]
    assert None in [item["visited_at"] for item in late]  # a time beyond the calendar
    for kind in ("csv", "xlsx"):
        ledger = client.get("/v1/ledger/grievances", params={"format": kind})
        assert ledger.status_code == 200, ledger.text
        assert ledger.headers["Anju-Unfolded-Events"] == "5"
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    assert (
        sheet is not None and sheet.max_row == 4
    )  # headers, the good case, the edge of time, the deep parties

    replay = replay_late_entries(county, tmp_path / "county.jsonl")
    assert replay["unfolded_events"] == 5
    assert len(replay["items"]) == len(late)


def test_a_rebuild_over_poison_events_reaches_the_same_state(live: Live) -> None:
    county = live.county
    write_poison(live)
    projections = county.services.projections
    projections.catch_up()
    before = read_models(county)

    projections.rebuild()

    assert read_models(county) == before
    assert quarantined_metrics(live.client) == {"organisation": 1, "casework": 4}


def read_models(county: County) -> dict[str, Any]:
    projections = county.services.projections
    store = projections.store
    return {
        name: (
            store.quarantined(model),
            {table.name: store.select(model, table.name) for table in model.tables},
        )
        for name, model in projections.models.items()
    }


def replay_late_entries(county: County, path: Path) -> dict[str, Any]:
    """What `anju log replay --report late-entries` prints, from a bundle of this log."""
    audit = county.audit
    head = audit.checkpoint()
    assert audit.signer is not None
    header: dict[str, Any] = {
        "county": county.settings.county,
        "timezone": county.settings.timezone,
        "exported_at": head.signed_at.isoformat(),
        "head": {"position": head.position, "hash": head.hash.hex()},
    }
    checkpoints = [c for c in audit.known_checkpoints() if c.position <= head.position]
    rows = audit.ledger.sealed(head.position)
    write_bundle(path, header, checkpoints, rows, audit.signer)  # type: ignore[arg-type]
    check = verify_bundle(path)
    assert check.ok, check.problems
    moment = datetime.fromisoformat(header["exported_at"])
    options = {"community_id": None, "grid_id": None, "date_from": None, "date_to": None}
    return replayed(path, check.header, Report.LATE_ENTRIES, moment, options)
