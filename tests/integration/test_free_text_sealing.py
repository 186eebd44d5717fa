"""Free text written about a household is stored sealed under its key and read back in clear.

Notes, summaries, descriptions, resolutions and reasons are checked in clear,
then sealed before the domain records them; the views, histories and the
ledger read them back for whoever may read them today, and show them as null
once the household is erased. Events recorded in clear by an older version
read as before, and are null after the erasure too.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.bootstrap import County
from application.free_text import free_text_fields, is_sealed
from domain.deadlines import Deadlines
from domain.errors import InvalidCommand, StateConflict
from domain.grievance import Grievance
from domain.visit import Visit
from tests.conftest import Cast

PHONE = "13987654321"
TYPED = f"户主欧阳娜娜，电话{PHONE}，身份证522601199001051234"


def registered(county: County, cast: Cast) -> str:
    view, _ = county.services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="欧阳娜娜",
        member_count=3,
        phone=PHONE,
        address={"building": "2", "unit": "1", "room": "402"},
        origin={"township": "雷山镇", "village": "乌东村"},
        relocated_on=date(2019, 5, 1),
    )
    return view.id


def stored_texts(county: County, aggregate_id: str) -> list[Any]:
    """Every free-text value the aggregate's events hold, as stored."""
    return [
        getattr(event, name)
        for event in county.book.events.get(UUID(aggregate_id))
        for name in free_text_fields(event)
        if getattr(event, name) is not None
    ]


def filed(county: County, cast: Cast, household: str, **texts: Any) -> str:
    case, _ = county.services.grievances.file(
        cast.cadre,
        household_id=household,
        category="facilities",
        urgency="normal",
        channel="visit",
        summary=texts.pop("summary", f"楼道灯坏了，{TYPED}"),
        **texts,
    )
    return case.id


def test_every_text_is_stored_sealed_and_read_back_in_clear(county: County, cast: Cast) -> None:
    household = registered(county, cast)
    services = county.services
    services.households.record_employment(
        cast.cadre, household, labour_force=1, employed=0, note=f"务工 {TYPED}"
    )
    visit, _ = services.visits.log(
        cast.cadre,
        household_id=household,
        visited_at=services.clock.now() - timedelta(hours=1),
        channel="in_person",
        purpose="routine",
        notes=f"走访 {TYPED}",
    )
    services.visits.amend(cast.cadre, visit.id, notes=f"更正 {TYPED}", reason=f"补充 {TYPED}")
    case = filed(county, cast, household, description=f"详情 {TYPED}")
    grievances = services.grievances
    grievances.assign(cast.supervisor, case, assignee_id=cast.cadre.account_id, note=TYPED)
    grievances.accept(cast.cadre, case)
    grievances.note(cast.cadre, case, text=f"记录 {TYPED}")
    grievances.urge(cast.supervisor, case, note=f"督办 {TYPED}")
    grievances.extend(cast.supervisor, case, days=3, reason=f"延期 {TYPED}")
    grievances.resolve(cast.cadre, case, resolution=f"已修复 {TYPED}", outcome="resolved")
    grievances.give_feedback(cast.supervisor, case, rating="satisfied", solved=True, comment=TYPED)

    for aggregate in (household, visit.id, case):
        texts = stored_texts(county, aggregate)
        assert texts and all(is_sealed(text) for text in texts), texts
        assert not any(PHONE in text for text in texts)
    for reader in (cast.cadre, cast.supervisor, cast.auditor):
        seen = services.visits.get(reader, visit.id)
        assert seen.notes == f"更正 {TYPED}"
        view = grievances.get(reader, case)
        assert (view.summary, view.description, view.resolution) == (
            f"楼道灯坏了，{TYPED}",
            f"详情 {TYPED}",
            f"已修复 {TYPED}",
        )
        history = {e.event_type: e.data for e in grievances.events(reader, case)}
        assert history["Grievance.Noted"]["text"] == f"记录 {TYPED}"
        assert history["Grievance.FeedbackGiven"]["comment"] == TYPED
        amended = services.visits.events(reader, visit.id)[-1].data
        assert (amended["notes"], amended["reason"]) == (f"更正 {TYPED}", f"补充 {TYPED}")
        employment = services.households.events(reader, household)[-1].data
        assert employment["note"] == f"务工 {TYPED}"


def test_a_note_as_long_as_allowed_is_accepted_though_its_ciphertext_is_longer(
    county: County, cast: Cast
) -> None:
    household = registered(county, cast)
    longest = "长" * 10_000
    visit, _ = county.services.visits.log(
        cast.cadre,
        household_id=household,
        visited_at=county.services.clock.now() - timedelta(hours=1),
        channel="phone",
        purpose="routine",
        notes=longest,
    )
    assert visit.notes == longest
    (stored,) = stored_texts(county, visit.id)
    assert len(stored) > 10_000
    summary = "摘" * 500
    case = filed(county, cast, household, summary=summary)
    assert county.services.grievances.get(cast.cadre, case).summary == summary


def test_text_is_checked_in_clear_before_it_is_sealed(county: County, cast: Cast) -> None:
    household = registered(county, cast)
    head = county.services.projections.head()
    with pytest.raises(InvalidCommand) as too_long:
        filed(county, cast, household, summary="摘" * 501)
    assert too_long.value.field == "summary"
    with pytest.raises(InvalidCommand) as blank:
        filed(county, cast, household, summary="   ")
    assert blank.value.field == "summary"
    with pytest.raises(InvalidCommand) as control:
        filed(county, cast, household, description="bad\x00text")
    assert control.value.field == "description"
    assert county.services.projections.head() == head


def test_after_an_erasure_every_text_reads_as_null_in_views_histories_and_the_ledger(
    county: County, cast: Cast
) -> None:
    household = registered(county, cast)
    services = county.services
    visit, _ = services.visits.log(
        cast.cadre,
        household_id=household,
        visited_at=services.clock.now() - timedelta(hours=1),
        channel="in_person",
        purpose="routine",
        notes=TYPED,
    )
    case = filed(county, cast, household, description=TYPED)
    services.grievances.note(cast.cadre, case, text=TYPED)
    services.projections.catch_up()
    ledger = services.reports.ledger(cast.supervisor)
    assert [row[7] for row in ledger.rows] == [f"楼道灯坏了，{TYPED}"]

    services.households.erase(cast.admin, household, legal_basis="本人依法申请删除")
    services.projections.catch_up()

    for reader in (cast.cadre, cast.supervisor, cast.auditor):
        assert services.visits.get(reader, visit.id).notes is None
        view = services.grievances.get(reader, case)
        assert (view.summary, view.description) == (None, None)
        entries = services.grievances.events(reader, case) + services.visits.events(
            reader, visit.id
        )
        assert not any(TYPED in json.dumps(e.data, ensure_ascii=False) for e in entries)
    assert [row[7] for row in services.reports.ledger(cast.supervisor).rows] == [None]
    with pytest.raises(StateConflict):
        services.grievances.note(cast.cadre, case, text="再记一笔")


def test_texts_an_older_version_recorded_in_clear_still_read_and_are_null_after_erasure(
    county: County, cast: Cast
) -> None:
    household = registered(county, cast)
    services, now = county.services, county.services.clock.now
    visit = Visit.log(
        visit_id=uuid4(),
        household_id=household,
        visited_at=now() - timedelta(hours=1),
        channel="in_person",
        purpose="routine",
        notes=f"旧记录 {TYPED}",
        life_event_id=None,
        grievance_id=None,
        actor=cast.cadre.account_id,
        now=now(),
    )
    received = now()
    case = Grievance.file(
        grievance_id=uuid4(),
        household_id=household,
        community_id="xingfu",
        grid_id="g1",
        category="facilities",
        urgency="normal",
        channel="visit",
        summary=f"旧诉求 {TYPED}",
        description=None,
        received_at=received,
        visit_id=None,
        parties=None,
        deadlines=Deadlines(received + timedelta(days=1), received + timedelta(days=5), "old"),
        actor=cast.cadre.account_id,
        now=now(),
    )
    services.book.commit(lambda: [visit, case])
    services.grievances.note(cast.cadre, str(case.id), text=f"新记录 {TYPED}")
    services.projections.catch_up()

    assert services.visits.get(cast.cadre, str(visit.id)).notes == f"旧记录 {TYPED}"
    assert services.grievances.get(cast.supervisor, str(case.id)).summary == f"旧诉求 {TYPED}"
    history = services.grievances.events(cast.auditor, str(case.id))
    assert [e.data.get("summary", e.data.get("text")) for e in history] == [
        f"旧诉求 {TYPED}",
        f"新记录 {TYPED}",
    ]
    assert [row[7] for row in services.reports.ledger(cast.supervisor).rows] == [f"旧诉求 {TYPED}"]

    services.households.erase(cast.admin, household, legal_basis="本人依法申请删除")

    assert services.visits.get(cast.cadre, str(visit.id)).notes is None
    assert services.grievances.get(cast.supervisor, str(case.id)).summary is None
    history = services.grievances.events(cast.auditor, str(case.id))
    assert [e.data.get("summary", e.data.get("text")) for e in history] == [None, None]
    audit = county.audit.events(cast.auditor, aggregate_id=str(case.id))
    assert not any(TYPED in json.dumps(e.data, ensure_ascii=False) for e in audit)
    assert [row[7] for row in services.reports.ledger(cast.supervisor).rows] == [None]
