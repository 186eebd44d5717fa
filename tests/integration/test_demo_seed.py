"""The demo seeder tells a believable story through the real services, on both stores."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.bootstrap import County, open_county
from application.demo import DemoCast, DemoClock, demo_accounts, seed_demo
from application.organisation import actor_of
from application.policies import load_policy_book
from application.services import CaseServices
from domain.vocabulary import GrievanceStatus, Role
from infrastructure.settings import Settings
from infrastructure.vault import new_master_key_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
HAN = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def seeded(
    county: County, *, households: int = 40, weeks: int = 2
) -> tuple[CaseServices, DemoCast]:
    clock = DemoClock()
    services = CaseServices.wire(
        county.book,
        county.services.vault,
        clock,
        load_policy_book(),
        county.services.projections.store,
        county.services.households.id_index,
    )
    calls: list[tuple[int, int]] = []
    cast = seed_demo(
        services,
        clock,
        households=households,
        weeks=weeks,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls, "progress is reported"
    assert calls[-1][0] == calls[-1][1]
    assert all(a[0] <= b[0] for a, b in pairwise(calls))
    return services, cast


def test_a_seeded_demo_county_reads_like_a_real_one(county: County):
    services, cast = seeded(county)
    check_the_cast(services, cast)
    check_households(services, cast)
    check_grievances(services, cast)
    check_the_log(county, cast)


def check_the_cast(services: CaseServices, cast: DemoCast) -> None:
    org = services.organisation

    def role(account_id: str) -> Role:
        return Role(org.account(account_id).role)

    assert role(cast.admin) is Role.ADMIN
    assert role(cast.auditor) is Role.AUDITOR
    assert len(cast.supervisors) == 2
    assert all(role(a) is Role.SUPERVISOR for a in cast.supervisors)
    assert len(cast.cadres) >= 8
    assert all(role(a) is Role.CADRE for a in cast.cadres)
    for account_id in cast.cadres:
        account = org.account(account_id)
        assert re.fullmatch(r"cadre\d{2,}", account.username)
        assert HAN.match(account.display_name)
        assert account.community_id == cast.community_id
    community = org.get_community(actor_of(org.account(cast.admin)), cast.community_id)
    assert community.name == "幸福社区"
    assert len(community.grids) == 8
    assert all(grid["name"].endswith("网格") for grid in community.grids)
    usernames = {org.account(a).username for a in cast.usernames}
    assert {username for _, username in demo_accounts()} <= usernames


def check_households(services: CaseServices, cast: DemoCast) -> None:
    supervisor = actor_of(services.organisation.account(cast.supervisors[0]))
    assert cast.households == len(cast.household_ids) == 40
    views = [services.households.get(supervisor, h) for h in cast.household_ids]
    linked = Counter(view.contact_cadre_id for view in views)
    assert set(linked) <= set(cast.cadres)
    assert all(view.contact_cadre_id for view in views)
    townships = set()
    for view in views:
        assert view.head_name and HAN.match(view.head_name), view.head_name
        if view.phone is not None:
            assert re.fullmatch(r"1[358]\d{9}", view.phone)
        assert view.id_number and re.fullmatch(r"52\d{15}[\dX]", view.id_number)
        assert set(view.address) == {"building", "unit", "room"}
        assert 2017 <= view.relocated_on.year <= 2020
        assert 0 <= view.employed <= view.labour_force <= view.member_count
        townships.add(view.origin["township"])
    assert len(townships) >= 5
    assert any(view.tags for view in views)


def check_grievances(services: CaseServices, cast: DemoCast) -> None:
    supervisor = actor_of(services.organisation.account(cast.supervisors[0]))
    views = [services.grievances.get(supervisor, g) for g in cast.grievance_ids]
    statuses = Counter(view.status for view in views)
    assert set(statuses) == {status.value for status in GrievanceStatus}
    assert statuses == Counter({k: v for k, v in cast.grievance_statuses.items() if v})
    assert any(view.reopen_count for view in views)
    assert any(view.extended for view in views)
    assert any(view.level != "grid" for view in views)
    assert any(view.last_rating == "basically_satisfied" for view in views)
    assert cast.urges and cast.escalations and cast.declines
    now = datetime.now(SHANGHAI)
    overdue = [
        view
        for view in views
        if (view.status in ("filed", "assigned", "in_progress") and view.resolve_by < now)
        or (view.status in ("filed", "assigned") and view.respond_by < now)
    ]
    assert overdue
    for view in views:
        assert HAN.search(view.summary[:2])
        assert view.received_at <= view.filed_at


def check_the_log(county: County, cast: DemoCast) -> None:
    """Recorded times strictly increase, start weeks ago and are never in the future."""
    book = county.book
    now = datetime.now(SHANGHAI)
    events = [
        book.mapper.to_domain_event(notification)
        for notification in book.recorder.select_notifications(1, cast.last_position + 10)
    ]
    assert len(events) == cast.last_position == cast.commands
    times = [event.timestamp for event in events]
    assert all(a < b for a, b in pairwise(times))
    assert times[-1] <= now
    assert times[0] < now - timedelta(weeks=2)
    kinds = Counter(type(event).__qualname__ for event in events)
    for kind in ("Visit.Amended", "Visit.Voided", "Grievance.Urged", "Grievance.Merged"):
        assert kinds[kind], kind
    visits = [e for e in events if type(e).__qualname__ == "Visit.Logged"]
    assert any(e.late_logged for e in visits)
    assert all(e.visited_at <= e.timestamp for e in visits)
    channels = Counter(e.channel for e in visits)
    assert channels["in_person"] > channels["phone"] > 0
    life_events = {e.kind for e in events if type(e).__qualname__ == "Household.LifeEventReported"}
    assert life_events == {"wedding", "funeral", "illness", "family_change", "dispute", "disaster"}


def test_the_same_seed_tells_the_same_story(tmp_path: Path):
    def story(folder: str) -> tuple[list[str | None], list[str], dict[str, int], int]:
        county = open_county(
            Settings(
                data_dir=tmp_path / folder,
                county="demo",
                master_key=new_master_key_text(),
                blind_index_key=new_master_key_text(),
            )
        )
        try:
            services, cast = seeded(county, households=10, weeks=1)
            supervisor = actor_of(services.organisation.account(cast.supervisors[0]))
            names = [services.households.get(supervisor, h).head_name for h in cast.household_ids]
            cases = [services.grievances.get(supervisor, g) for g in cast.grievance_ids]
            summaries = [f"{case.summary}/{case.status}" for case in cases]
            return names, summaries, cast.grievance_statuses, cast.visits
        finally:
            county.close()

    assert story("first") == story("second")


def test_demo_clock_only_moves_forward_and_never_passes_the_present():
    start = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
    real = [start]

    def real_now() -> datetime:  # real time creeps on by a microsecond a look
        real[0] += timedelta(microseconds=1)
        return real[0]

    assert DemoClock(real_now=real_now).now() <= real[0]  # before it is moved: the real time
    clock = DemoClock(start - timedelta(days=3), real_now=real_now)
    first = clock.now()
    clock.advance_to(start - timedelta(days=5))  # back: ignored
    second = clock.now()
    assert start - timedelta(days=3) < first < second < start
    clock.advance_to(start + timedelta(days=1))  # past the present: capped
    readings = []
    for _ in range(5):
        readings.append(clock.now())
        assert readings[-1] <= real[0]
    assert readings == sorted(set(readings))
    assert all(reading.utcoffset() == timedelta(hours=8) for reading in readings)
    ending = DemoClock.ending_now("Asia/Shanghai", weeks=2)
    assert ending.current is not None and ending.current < ending.real_now() - timedelta(weeks=2)


def test_seeding_needs_services_on_the_demo_clock(county: County):
    with pytest.raises(ValueError, match="demo clock"):
        seed_demo(county.services, DemoClock(), households=5, weeks=1)
