"""The same application-level scenarios on both stores (SQLite file, PostgreSQL schema).

Every test here runs twice through the ``county`` fixture. Reloading goes through
a fresh ``open_county`` on the same settings, so nothing in memory survives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.domain import Aggregate
from psycopg import sql

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.errors import Forbidden, NotFound, UnknownReference, VersionMismatch
from application.organisation import actor_of
from domain.errors import NotPermitted
from domain.grievance import Grievance
from domain.household import Household
from domain.visit import Visit
from infrastructure.event_store import EVENTS_TABLE_SQLITE
from infrastructure.settings import Settings
from tests.conftest import Cast
from tests.fakes import SteppingClock

ADDRESS = {"building": "3", "unit": "1", "room": "502"}
ORIGIN = {"township": "花溪镇", "village": "石板村"}


def register(county: County, actor: Actor, **overrides: Any) -> tuple[Any, int]:
    fields: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g1",
        "head_name": "李四",
        "member_count": 4,
        "phone": "13900001111",
        "id_number": "520102198001181234",
        "address": ADDRESS,
        "origin": ORIGIN,
        "relocated_on": date(2020, 5, 1),
        "tags": ["low_income"],
    }
    fields.update(overrides)
    return county.services.households.register(actor, **fields)


def file_grievance(county: County, actor: Actor, household_id: str, **overrides: Any):
    fields: dict[str, Any] = {
        "household_id": household_id,
        "category": "housing",
        "urgency": "normal",
        "channel": "walk_in",
        "summary": "楼道灯坏了",
        "parties": [{"role": "complainant", "name": "李四"}],
    }
    fields.update(overrides)
    return county.services.grievances.file(actor, **fields)


def head_position(county: County) -> int:
    return county.book.recorder.max_notification_id() or 0


@contextmanager
def reopened(county: County, settings: Settings, clock: SteppingClock) -> Iterator[County]:
    """Close the county and open it again on the same settings: nothing survives in memory."""
    county.close()
    county.closers[:] = []  # the fixture closes it again at teardown: nothing left to close
    again = open_county(settings, clock)
    try:
        yield again
    finally:
        again.close()


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    return {"class": type(aggregate), **vars(aggregate)}


def replayed_from_events(county: County, aggregate_id: UUID) -> Aggregate:
    """The aggregate rebuilt from its events alone, ignoring any snapshot."""
    aggregate: Any = None
    for event in county.book.events.get(aggregate_id):
        aggregate = event.mutate(aggregate)
    assert aggregate is not None
    return aggregate  # type: ignore[no-any-return]


def snapshot_versions(settings: Settings, aggregate_id: UUID) -> list[int]:
    """Versions of the snapshot rows stored for one aggregate, read with raw SQL."""
    if settings.database_url:
        query = sql.SQL(
            "SELECT originator_version FROM {} WHERE originator_id = %s ORDER BY 1"
        ).format(sql.Identifier(settings.county, "casebook_snapshots"))
        with psycopg.connect(settings.database_url) as conn:
            return [row[0] for row in conn.execute(query, (aggregate_id,))]
    db = sqlite3.connect(settings.county_dir / "events.sqlite")
    try:
        rows = db.execute(
            "SELECT originator_version FROM stored_snapshots WHERE originator_id = ? ORDER BY 1",
            (aggregate_id.hex,),
        ).fetchall()
    finally:
        db.close()
    return [row[0] for row in rows]


# -- reload: what was saved is what loads -------------------------------------


def test_a_case_history_reloads_equal_after_closing_and_reopening_the_county(
    county: County, cast: Cast, county_settings: Settings, clock: SteppingClock
):
    households, visits, grievances = (
        county.services.households,
        county.services.visits,
        county.services.grievances,
    )
    positions: list[int] = []

    def run(command: Callable[..., tuple[Any, int]], *args: Any, **kwargs: Any) -> Any:
        view, position = command(*args, **kwargs)
        positions.append(position)
        return view

    household = run(register, county, cast.cadre)
    household = run(
        households.record_employment,
        cast.cadre,
        household.id,
        labour_force=2,
        employed=0,
        note="两人待业",
    )
    recorded = run(
        households.report_life_event,
        cast.cadre,
        household.id,
        kind="illness",
        occurred_on=date(2026, 10, 30),
        note="住院",
    )
    household = recorded.household
    now = clock.now()
    first_visit = run(
        visits.log,
        cast.cadre,
        household_id=household.id,
        visited_at=now - timedelta(hours=2),
        channel="in_person",
        purpose="mandatory",
        notes="探望病人",
        life_event_id=recorded.life_event_id,
    )
    second_visit = run(
        visits.log,
        cast.other_cadre,
        household_id=household.id,
        visited_at=now - timedelta(days=5),
        channel="phone",
        purpose="routine",
        notes="电话回访",
    )
    first_visit = run(
        visits.amend, cast.cadre, first_visit.id, notes="探望病人，送慰问金", reason="补充"
    )
    second_visit = run(visits.void, cast.supervisor, second_visit.id, reason="重复录入")
    assert second_visit.late_logged and second_visit.voided

    case = run(file_grievance, county, cast.cadre, household.id, visit_id=first_visit.id)
    case = run(
        grievances.assign,
        cast.supervisor,
        case.id,
        assignee_id=cast.cadre.account_id,
        note="请跟进",
    )
    case = run(grievances.accept, cast.cadre, case.id)
    case = run(grievances.note, cast.cadre, case.id, text="已联系物业")
    case = run(grievances.resolve, cast.cadre, case.id, resolution="已更换灯具", outcome="resolved")
    case = run(
        grievances.give_feedback,
        cast.supervisor,
        case.id,
        rating="unsatisfied",
        solved=False,
        comment="又坏了",
    )
    assert (case.status, case.reopen_count, case.resolved_at) == ("in_progress", 1, None)
    case = run(grievances.resolve, cast.cadre, case.id, resolution="更换线路", outcome="resolved")
    case = run(grievances.give_feedback, cast.supervisor, case.id, rating="satisfied", solved=True)
    assert (case.status, case.reopen_count, case.last_rating) == ("closed", 1, "satisfied")
    assert case.version == 8
    assert case.parties == [{"role": "complainant", "name": "李四"}]

    # Every command got a later position than the one before it.
    assert all(b > a for a, b in pairwise(positions)), positions
    assert positions[-1] == head_position(county)

    ids = {
        Household: household.id,
        Visit: first_visit.id,
        Grievance: case.id,
    }
    saved = {cls: state_of(county.book.repository.get(UUID(i))) for cls, i in ids.items()}
    saved_second_visit = state_of(county.book.repository.get(UUID(second_visit.id)))
    views = (
        households.get(cast.cadre, household.id),
        visits.get(cast.cadre, first_visit.id),
        visits.get(cast.cadre, second_visit.id),
        grievances.get(cast.cadre, case.id),
    )
    assert views[0] == household and views[1] == first_visit and views[3] == case

    with reopened(county, county_settings, clock) as again:
        for cls, aggregate_id in ids.items():
            loaded = again.book.repository.get(UUID(aggregate_id))
            assert state_of(loaded) == saved[cls]
        assert state_of(again.book.repository.get(UUID(second_visit.id))) == saved_second_visit
        assert (
            again.services.households.get(cast.cadre, household.id),
            again.services.visits.get(cast.cadre, first_visit.id),
            again.services.visits.get(cast.cadre, second_visit.id),
            again.services.grievances.get(cast.cadre, case.id),
        ) == views
        assert head_position(again) == positions[-1]
        # The log goes on where it stopped.
        _, later = again.services.households.change_tags(
            cast.cadre, household.id, add=["elderly_alone"], remove=[]
        )
        assert later > positions[-1]


def test_a_household_past_fifty_events_loads_from_a_snapshot_with_the_same_state(
    county: County, cast: Cast, county_settings: Settings, clock: SteppingClock
):
    households = county.services.households
    household, _ = register(county, cast.cadre, member_count=6)
    for n in range(54):
        match n % 4:
            case 0:
                households.record_employment(
                    cast.cadre, household.id, labour_force=4, employed=n % 5, note=f"第{n}次"
                )
            case 1:
                tags = ["disability", "low_income"]
                add, remove = (tags[:1], tags[1:]) if n % 8 == 1 else (tags[1:], tags[:1])
                households.change_tags(cast.cadre, household.id, add=add, remove=remove)
            case 2:
                households.report_life_event(
                    cast.cadre,
                    household.id,
                    kind="wedding",
                    occurred_on=date(2026, 1, 1) + timedelta(days=n),
                )
            case 3:
                grid = "g2" if n % 8 == 3 else "g1"
                households.move(
                    cast.cadre,
                    household.id,
                    grid_id=grid,
                    address={**ADDRESS, "room": str(600 + n)},
                )
    aggregate_id = UUID(household.id)
    current = county.book.repository.get(aggregate_id)
    assert current.version == 55
    assert snapshot_versions(county_settings, aggregate_id) == [50]
    view = households.get(cast.cadre, household.id)
    assert len(view.life_events) == 13

    with reopened(county, county_settings, clock) as again:
        from_snapshot = again.book.repository.get(aggregate_id)
        assert state_of(from_snapshot) == state_of(current)
        assert state_of(from_snapshot) == state_of(replayed_from_events(again, aggregate_id))
        assert again.services.households.get(cast.cadre, household.id) == view
        # Loading the snapshot's own version gives the state after exactly 50 events.
        at_50 = again.book.repository.get(aggregate_id, version=50)
        assert at_50.version == 50
        # Commands still work on a snapshotted household.
        after, _ = again.services.households.record_employment(
            cast.cadre, household.id, labour_force=3, employed=3
        )
        assert (after.version, after.labour_force, after.employed) == (56, 3, 3)


# -- authorization --------------------------------------------------------------


def test_a_cadre_of_another_community_can_neither_write_nor_read_here(county: County, cast: Cast):
    household, _ = register(county, cast.cadre)
    case, _ = file_grievance(county, cast.cadre, household.id)
    before = head_position(county)
    outsider = cast.outsider
    with pytest.raises(Forbidden):
        register(county, outsider)
    # Records outside the jurisdiction answer as if they did not exist.
    with pytest.raises(UnknownReference):
        county.services.visits.log(
            outsider,
            household_id=household.id,
            visited_at=county.services.clock.now(),
            channel="phone",
            purpose="routine",
            notes="越界",
        )
    with pytest.raises(NotFound):
        county.services.grievances.note(outsider, case.id, text="越界")
    with pytest.raises(UnknownReference):
        file_grievance(county, outsider, household.id)
    with pytest.raises(NotFound):
        county.services.households.get(outsider, household.id)
    with pytest.raises(NotFound):
        county.services.grievances.get(outsider, case.id)
    assert head_position(county) == before
    # The same commands work for the community's own cadre.
    county.services.grievances.note(cast.cadre, case.id, text="本社区")


def test_an_auditor_reads_masked_and_writes_nothing(county: County, cast: Cast):
    household, _ = register(county, cast.cadre)
    case, _ = file_grievance(county, cast.cadre, household.id)
    before = head_position(county)
    auditor = cast.auditor
    with pytest.raises(Forbidden):
        county.services.households.register(
            auditor,
            community_id="xingfu",
            grid_id="g1",
            head_name="王五",
            member_count=1,
            address=ADDRESS,
            origin=ORIGIN,
            relocated_on=date(2020, 1, 1),
        )
    with pytest.raises(Forbidden):
        county.services.households.change_tags(auditor, household.id, add=["disability"], remove=[])
    with pytest.raises(Forbidden):
        county.services.grievances.note(auditor, case.id, text="审计")
    with pytest.raises(Forbidden):
        county.services.grievances.urge(auditor, case.id, note="催办")
    with pytest.raises(Forbidden):
        county.services.visits.log(
            auditor,
            household_id=household.id,
            visited_at=county.services.clock.now(),
            channel="phone",
            purpose="routine",
            notes="审计",
        )
    assert head_position(county) == before
    seen = county.services.households.get(auditor, household.id)
    assert (seen.head_name, seen.phone, seen.id_number) == (
        "李*",
        "139****1111",
        "520102********1234",
    )
    assert county.services.grievances.get(auditor, case.id).parties is None


def test_an_admin_does_no_casework(county: County, cast: Cast):
    household, _ = register(county, cast.cadre)
    case, _ = file_grievance(county, cast.cadre, household.id)
    before = head_position(county)
    for admin in (cast.admin, SYSTEM):
        with pytest.raises(Forbidden):
            county.services.households.register(
                admin,
                community_id="xingfu",
                grid_id="g1",
                head_name="王五",
                member_count=1,
                address=ADDRESS,
                origin=ORIGIN,
                relocated_on=date(2020, 1, 1),
            )
        with pytest.raises(Forbidden):
            file_grievance(county, admin, household.id)
        with pytest.raises(Forbidden):
            county.services.grievances.assign(admin, case.id, assignee_id=cast.cadre.account_id)
        with pytest.raises(Forbidden):
            county.services.households.get(admin, household.id)
        with pytest.raises(Forbidden):
            county.services.grievances.get(admin, case.id)
    assert head_position(county) == before


def test_only_a_supervisor_assigns_and_only_the_assignee_accepts(county: County, cast: Cast):
    household, _ = register(county, cast.cadre)
    case, _ = file_grievance(county, cast.cadre, household.id)
    before = head_position(county)
    with pytest.raises(Forbidden):
        county.services.grievances.assign(cast.cadre, case.id, assignee_id=cast.cadre.account_id)
    assert head_position(county) == before
    county.services.grievances.assign(cast.supervisor, case.id, assignee_id=cast.cadre.account_id)
    before = head_position(county)
    with pytest.raises(NotPermitted):
        county.services.grievances.accept(cast.other_cadre, case.id)
    with pytest.raises(NotPermitted):
        county.services.grievances.decline(cast.other_cadre, case.id, reason="不是我的")
    assert head_position(county) == before
    accepted, _ = county.services.grievances.accept(cast.cadre, case.id)
    assert accepted.status == "in_progress"


# -- If-Match -------------------------------------------------------------------


def test_a_stale_expected_version_is_refused_and_records_nothing(county: County, cast: Cast):
    households, visits, grievances = (
        county.services.households,
        county.services.visits,
        county.services.grievances,
    )
    household, _ = register(county, cast.cadre)
    changed, _ = households.record_employment(cast.cadre, household.id, labour_force=1, employed=1)
    case, _ = file_grievance(county, cast.cadre, household.id)
    noted, _ = grievances.note(cast.cadre, case.id, text="第一条", expected_version=case.version)
    visit, _ = visits.log(
        cast.cadre,
        household_id=household.id,
        visited_at=county.services.clock.now(),
        channel="in_person",
        purpose="routine",
        notes="例行",
    )
    amended, _ = visits.amend(cast.cadre, visit.id, notes="改", reason="笔误")
    before = head_position(county)

    with pytest.raises(VersionMismatch) as refused:
        grievances.note(cast.cadre, case.id, text="旧版本", expected_version=case.version)
    assert refused.value.current == noted.version == case.version + 1
    with pytest.raises(VersionMismatch):
        grievances.assign(
            cast.supervisor,
            case.id,
            assignee_id=cast.cadre.account_id,
            expected_version=case.version,
        )
    with pytest.raises(VersionMismatch):
        grievances.note(cast.cadre, case.id, text="未来版本", expected_version=noted.version + 1)
    with pytest.raises(VersionMismatch):
        households.change_tags(
            cast.cadre,
            household.id,
            add=["disability"],
            remove=[],
            expected_version=household.version,
        )
    with pytest.raises(VersionMismatch):
        visits.void(cast.cadre, visit.id, reason="作废", expected_version=visit.version)

    assert head_position(county) == before
    assert grievances.get(cast.cadre, case.id) == noted
    assert households.get(cast.cadre, household.id) == changed
    assert visits.get(cast.cadre, visit.id) == amended
    # The current version is accepted.
    again, position = grievances.note(
        cast.cadre, case.id, text="当前版本", expected_version=noted.version
    )
    assert again.version == noted.version + 1 and position > before


# -- references -----------------------------------------------------------------


def test_an_id_that_names_nothing_is_an_unknown_reference_and_records_nothing(
    county: County, cast: Cast
):
    households, visits, grievances = (
        county.services.households,
        county.services.visits,
        county.services.grievances,
    )
    household, _ = register(county, cast.cadre)
    case, _ = file_grievance(county, cast.cadre, household.id)
    before = head_position(county)
    nobody = str(uuid4())
    now = county.services.clock.now()

    for missing in (nobody, "not-a-uuid", case.id):  # a grievance is not a household
        with pytest.raises(UnknownReference) as refused:
            visits.log(
                cast.cadre,
                household_id=missing,
                visited_at=now,
                channel="phone",
                purpose="routine",
                notes="无此户",
            )
        assert refused.value.field == "household_id"
        with pytest.raises(UnknownReference) as refused:
            file_grievance(county, cast.cadre, missing)
        assert refused.value.field == "household_id"
    with pytest.raises(UnknownReference) as refused:
        file_grievance(county, cast.cadre, household.id, visit_id=nobody)
    assert refused.value.field == "visit_id"
    with pytest.raises(UnknownReference) as refused:
        visits.log(
            cast.cadre,
            household_id=household.id,
            visited_at=now,
            channel="phone",
            purpose="follow_up",
            notes="跟进",
            grievance_id=nobody,
        )
    assert refused.value.field == "grievance_id"
    with pytest.raises(UnknownReference) as refused:
        grievances.assign(cast.supervisor, case.id, assignee_id=nobody)
    assert refused.value.field == "assignee_id"
    with pytest.raises(UnknownReference) as refused:
        grievances.merge(cast.supervisor, case.id, into=nobody)
    assert refused.value.field == "into"
    with pytest.raises(UnknownReference) as refused:
        households.assign_contact_cadre(cast.cadre, household.id, cadre_id=nobody)
    assert refused.value.field == "cadre_id"
    with pytest.raises(UnknownReference) as refused:
        register(county, cast.cadre, community_id="nowhere")
    assert refused.value.field == "community_id"
    # An ID in the path that names nothing is NotFound, not an unknown reference.
    with pytest.raises(NotFound):
        grievances.note(cast.cadre, nobody, text="无此案")
    with pytest.raises(NotFound):
        households.get(cast.cadre, nobody)

    assert head_position(county) == before
    assert county.book.repository.get(UUID(case.id)).version == case.version


def test_accounts_reload_with_the_same_jurisdiction(
    county: County, cast: Cast, county_settings: Settings, clock: SteppingClock
):
    saved = {
        actor.account_id: actor
        for actor in (cast.admin, cast.cadre, cast.supervisor, cast.auditor, cast.outsider)
    }
    with reopened(county, county_settings, clock) as again:
        for account_id, actor in saved.items():
            assert actor_of(again.services.organisation.account(account_id)) == actor
        community = again.services.organisation.get_community(cast.admin, "xingfu")
        assert [grid["id"] for grid in community.grids] == ["g1", "g2"]


def test_the_events_table_is_where_the_settings_say(
    county: County, cast: Cast, county_settings: Settings
):
    """The raw-table tests of this tier rely on these names."""
    if county_settings.database_url:
        query = sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(county_settings.county, "casebook_events")
        )
        with psycopg.connect(county_settings.database_url) as conn:
            row = conn.execute(query).fetchone()
    else:
        db = sqlite3.connect(county_settings.county_dir / "events.sqlite")
        try:
            row = db.execute(f"SELECT count(*) FROM {EVENTS_TABLE_SQLITE}").fetchone()
        finally:
            db.close()
    assert row is not None
    assert row[0] == head_position(county) > 0
