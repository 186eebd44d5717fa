"""Stored history outlives the module its classes were written in.

Every event is stored under its class's explicit ``TOPIC`` (``anju:Grievance.Filed``),
never under a Python path (``domain.grievance:Grievance.Filed``). So when the code
moves, the new classes take the old topics over and the old events load into them.

The move is simulated for real: the source of ``domain/household.py`` and
``domain/grievance.py`` is copied into a new package on ``sys.path``, the old
modules are made unimportable, and the library's topic cache is cleared so only
the new classes can claim the topics. Were topics derived from module paths,
resolving them would try to import the old modules and fail.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing import utils as es_utils
from eventsourcing.domain import Aggregate
from eventsourcing.utils import clear_topic_cache, register_topic, resolve_topic
from psycopg import sql

import domain.grievance
import domain.household
import domain.organisation
import domain.visit
from api.bootstrap import County, open_county
from domain.record import CaseRecord
from infrastructure.settings import Settings
from tests.conftest import Cast
from tests.fakes import SteppingClock

DOMAIN_MODULES = (domain.household, domain.visit, domain.grievance, domain.organisation)


def explicit_topics() -> tuple[set[str], set[str]]:
    """The TOPIC strings of the aggregates and of their events, from the domain's own classes."""
    aggregates: set[str] = set()
    events: set[str] = set()
    for module in DOMAIN_MODULES:
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, CaseRecord) and "TOPIC" in vars(cls)):
                continue
            aggregates.add(cls.TOPIC)
            events.update(
                member.TOPIC
                for name, member in vars(cls).items()
                # ``Event``, the base of an aggregate's events, is never stored.
                if isinstance(member, type) and issubclass(member, Aggregate.Event)
                if name != "Event"
            )
    return aggregates, events


def raw_rows(settings: Settings, table: str) -> list[tuple[str, dict[str, Any]]]:
    """(topic, decoded state) of every row of the events or snapshots table."""
    if settings.database_url:
        name = f"casebook_{table}"
        query = sql.SQL("SELECT topic, state FROM {}").format(sql.Identifier(settings.county, name))
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(query).fetchall()
    else:
        db = sqlite3.connect(settings.county_dir / "events.sqlite")
        try:
            rows = db.execute(f"SELECT topic, state FROM stored_{table}").fetchall()
        finally:
            db.close()
    return [(topic, json.loads(bytes(state))) for topic, state in rows]


def write_history(county: County, cast: Cast) -> tuple[str, str]:
    """A household past its first snapshot and a grievance through most of its lifecycle."""
    households, visits, grievances = (
        county.services.households,
        county.services.visits,
        county.services.grievances,
    )
    household, _ = households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="周八",
        member_count=5,
        phone="13700002222",
        address={"building": "5", "unit": "2", "room": "201"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2019, 9, 9),
    )
    for n in range(52):
        if n % 2:
            households.record_employment(cast.cadre, household.id, labour_force=3, employed=n % 4)
        else:
            households.report_life_event(
                cast.cadre,
                household.id,
                kind="family_change",
                occurred_on=date(2026, 1, 1) + timedelta(days=n),
            )
    visits.log(
        cast.cadre,
        household_id=household.id,
        visited_at=county.services.clock.now(),
        channel="in_person",
        purpose="routine",
        notes="例行走访",
    )
    case, _ = grievances.file(
        cast.cadre,
        household_id=household.id,
        category="employment",
        urgency="urgent",
        channel="visit",
        summary="求职困难",
        parties=[{"name": "周八"}],
    )
    grievances.assign(cast.supervisor, case.id, assignee_id=cast.cadre.account_id)
    grievances.accept(cast.cadre, case.id)
    grievances.extend(cast.supervisor, case.id, days=10, reason="需协调企业")
    grievances.urge(cast.supervisor, case.id, note="请加快")
    grievances.resolve(cast.cadre, case.id, resolution="推荐岗位", outcome="resolved")
    grievances.give_feedback(cast.supervisor, case.id, rating="unsatisfied", solved=False)
    return household.id, case.id


def test_stored_topics_are_the_explicit_topic_strings_not_module_paths(
    county: County, cast: Cast, county_settings: Settings
):
    write_history(county, cast)
    aggregate_topics, event_topics = explicit_topics()
    assert "anju:Grievance.Filed" in event_topics and "anju:Household" in aggregate_topics

    events = raw_rows(county_settings, "events")
    stored = {topic for topic, _ in events}
    assert stored <= event_topics, stored - event_topics
    assert {
        "anju:Community.Founded",
        "anju:Account.Opened",
        "anju:Household.Registered",
        "anju:Household.LifeEventReported",
        "anju:Visit.Logged",
        "anju:Grievance.Filed",
        "anju:Grievance.FeedbackGiven",
    } <= stored
    # Creation events also name the aggregate class: that too is an explicit topic.
    created = {state["originator_topic"] for _, state in events if "originator_topic" in state}
    assert created <= aggregate_topics, created - aggregate_topics
    assert {"anju:Household", "anju:Visit", "anju:Grievance", "anju:Community"} <= created
    for topic in stored | created:
        assert topic.partition(":")[0] == "anju", topic
        assert "domain" not in topic and ".py" not in topic, topic

    # A snapshot names the aggregate class it restores by its explicit topic too.
    snapshots = raw_rows(county_settings, "snapshots")
    assert [state["topic"] for _, state in snapshots] == ["anju:Household"]


MOVED_PREFIX = "moved_casework_"


@pytest.fixture
def restored_topic_cache() -> Iterator[None]:
    """Put the library's topic cache back as it was, and forget the moved code."""
    saved = dict(es_utils._topic_cache)  # no public getter; restored below through the API
    try:
        yield
    finally:
        for name in [name for name in sys.modules if name.startswith(MOVED_PREFIX)]:
            del sys.modules[name]
        clear_topic_cache()
        for topic, obj in saved.items():
            register_topic(topic, obj)
        assert resolve_topic("anju:Grievance.Filed") is domain.grievance.Grievance.Filed
        assert resolve_topic("anju:Household") is domain.household.Household


def move_domain_code(root: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Copy household and grievance into a new package; the old modules cease to exist."""
    package = f"{MOVED_PREFIX}{uuid.uuid4().hex[:8]}"
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text("", "utf-8")
    for module in (domain.household, domain.grievance):
        source = inspect.getsource(module).replace(
            "from domain.household import", f"from {package}.household import"
        )
        (folder / f"{module.__name__.rpartition('.')[2]}.py").write_text(source, "utf-8")
    monkeypatch.syspath_prepend(str(root))
    # The old location is gone: importing it now fails, as after a real move.
    monkeypatch.setitem(sys.modules, "domain.household", None)
    monkeypatch.setitem(sys.modules, "domain.grievance", None)
    # Only classes defined from here on may claim the explicit topics.
    clear_topic_cache()
    importlib.import_module(f"{package}.household")
    return importlib.import_module(f"{package}.grievance")


def test_stored_history_loads_into_classes_moved_to_another_module(
    county: County,
    cast: Cast,
    county_settings: Settings,
    clock: SteppingClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restored_topic_cache: None,
):
    household_id, case_id = write_history(county, cast)
    saved = {key: county.book.repository.get(UUID(key)) for key in (household_id, case_id)}
    county.close()
    county.closers[:] = []

    moved = move_domain_code(tmp_path, monkeypatch)
    package = moved.__name__.rpartition(".")[0]
    with pytest.raises(ImportError):
        importlib.import_module("domain.grievance")
    assert resolve_topic("anju:Grievance.Filed") is moved.Grievance.Filed

    again = open_county(county_settings, clock)
    try:
        for key, before in saved.items():
            loaded = again.book.repository.get(UUID(key))
            assert type(loaded) is not type(before)
            assert type(loaded).__module__.startswith(f"{package}.")
            assert type(loaded).__qualname__ == type(before).__qualname__
            assert vars(loaded) == vars(before)
        case = again.book.repository.get(UUID(case_id))
        assert isinstance(case, moved.Grievance)
        assert (case.status, case.reopen_count, case.extended) == ("in_progress", 1, True)

        # The moved code writes under the same topics.
        case.note(text="迁移后", actor=cast.cadre.account_id, now=clock.now())
        again.book.save(case)
        assert again.book.repository.get(UUID(case_id)).version == saved[case_id].version + 1
    finally:
        again.close()
    newest = raw_rows(county_settings, "events")
    assert "anju:Grievance.Noted" in {topic for topic, _ in newest}
    assert all(topic.startswith("anju:") for topic, _ in newest)
