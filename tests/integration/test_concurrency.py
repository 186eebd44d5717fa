"""Commands racing on one aggregate, from real threads against the real stores.

The primary key (originator_id, version) refuses the second of two saves at the
same version; the casebook then decides the command again on fresh state. Here
nothing may be lost (every command lands once, versions stay contiguous) and a
command that no longer makes sense on the fresh state is refused as such.

``GatedClock`` makes a race certain instead of likely: the services read the
clock once per attempt, after loading the aggregate and before deciding, so
holding the first readings at a barrier makes every thread decide on the same
version before any of them saves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest

from api.bootstrap import County
from application.actors import SYSTEM, Actor
from application.errors import VersionMismatch
from application.free_text import FreeText
from application.organisation import actor_of
from domain.errors import StateConflict
from domain.grievance import Grievance
from tests.conftest import Cast
from tests.fakes import SteppingClock

JOIN_TIMEOUT = 60


class GatedClock(SteppingClock):
    """A stepping clock whose next ``parties`` readings wait for each other."""

    def __init__(self) -> None:
        super().__init__()
        self._gate_lock = threading.Lock()
        self._gate: threading.Barrier | None = None
        self._to_hold = 0
        self.readings = 0

    def hold(self, parties: int) -> None:
        with self._gate_lock:
            self._gate = threading.Barrier(parties, timeout=20)
            self._to_hold = parties
            self.readings = 0

    def now(self) -> datetime:
        with self._gate_lock:
            self.readings += 1
            gate = self._gate
            if gate is not None:
                self._to_hold -= 1
                if self._to_hold == 0:
                    self._gate = None
        if gate is not None:
            gate.wait()
        return super().now()


@pytest.fixture
def clock() -> GatedClock:
    """Overrides the shared ``clock``, so the ``county`` fixture runs on a gated one."""
    return GatedClock()


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread, all released at once; a result or the exception."""
    start = threading.Barrier(len(calls), timeout=20)
    results: list[Any] = [None] * len(calls)

    def work(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait()
            results[index] = call()
        except Exception as error:  # collected, so the test (not the thread) reports it
            results[index] = error

    threads = [
        threading.Thread(target=work, args=(i, call), name=f"racer-{i}")
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racing command hung"
    return results


def file_case(county: County, cast: Cast) -> Any:
    household, _ = county.services.households.register(
        cast.cadre,
        community_id="xingfu",
        grid_id="g1",
        head_name="赵六",
        member_count=2,
        address={"building": "7", "unit": "1", "room": "101"},
        origin={"township": "花溪镇", "village": "石板村"},
        relocated_on=date(2021, 6, 1),
    )
    case, _ = county.services.grievances.file(
        cast.cadre,
        household_id=household.id,
        category="facilities",
        urgency="normal",
        channel="hotline",
        summary="电梯停运",
    )
    return case


def notifications_after(county: County, position: int) -> list[Any]:
    """What the log recorded after a position (positions may have gaps: count, not subtract)."""
    return list(county.book.recorder.select_notifications(start=position + 1, limit=10_000))


def racing_commands(county: County, cast: Cast, case_id: str, count: int) -> list[Callable]:
    """Half notes by cadres, half urges by the supervisor, each with its own text."""
    grievances = county.services.grievances
    cadres = [cast.cadre, cast.other_cadre]

    def note(i: int) -> Callable[[], Any]:
        return lambda: grievances.note(cadres[i % 2], case_id, text=f"记录-{i}")

    def urge(i: int) -> Callable[[], Any]:
        return lambda: grievances.urge(cast.supervisor, case_id, note=f"催办-{i}")

    return [note(i) if i % 2 == 0 else urge(i) for i in range(count)]


def expected_texts(count: int) -> list[str]:
    return sorted(f"记录-{i}" if i % 2 == 0 else f"催办-{i}" for i in range(count))


@pytest.mark.parametrize("racers", [2, 8])
@pytest.mark.parametrize("forced", [False, True], ids=["started-together", "same-version"])
def test_concurrent_commands_on_one_grievance_are_all_recorded(
    county: County, cast: Cast, clock: GatedClock, racers: int, forced: bool
):
    case = file_case(county, cast)
    before = county.book.recorder.max_notification_id() or 0
    if forced:
        clock.hold(racers)  # every racer decides on version 1 before any saves

    results = run_together(racing_commands(county, cast, case.id, racers))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    views = [view for view, _ in results]
    positions = [position for _, position in results]
    assert sorted(view.version for view in views) == list(range(2, racers + 2))
    assert len(set(positions)) == racers
    if forced:
        # All decided on the same version; every loser re-decided after losing.
        assert clock.readings > racers

    events = list(county.book.events.get(UUID(case.id)))
    assert [event.originator_version for event in events] == list(range(1, racers + 2))
    free_text = FreeText(county.services.households.vault)
    texts = [
        free_text.reveal(
            case.household_id,
            event.text if isinstance(event, Grievance.Noted) else event.note,
        )
        for event in events[1:]
    ]
    assert sorted(texts) == expected_texts(racers)
    final = county.services.grievances.get(cast.cadre, case.id)
    assert final.version == 1 + racers
    assert final.status == "filed"

    recorded = notifications_after(county, before)
    assert len(recorded) == racers
    assert sorted(n.originator_version for n in recorded) == list(range(2, racers + 2))
    assert sorted(n.id for n in recorded) == sorted(positions)


@pytest.mark.parametrize("forced", [False, True], ids=["started-together", "same-version"])
def test_two_supervisors_assigning_at_once_one_wins_the_other_conflicts(
    county: County, cast: Cast, clock: GatedClock, forced: bool
):
    second_supervisor = actor_of(
        county.services.organisation.account(
            county.services.organisation.open_account(
                SYSTEM,
                username="super2",
                display_name="super2",
                role="supervisor",
                community_id="xingfu",
            )[0].id
        )
    )
    case = file_case(county, cast)
    before = county.book.recorder.max_notification_id() or 0
    choices: list[tuple[Actor, Actor]] = [
        (cast.supervisor, cast.cadre),
        (second_supervisor, cast.other_cadre),
    ]
    if forced:
        clock.hold(2)  # both decide on the filed case before either saves

    grievances = county.services.grievances
    results = run_together(
        [
            (
                lambda s=supervisor, a=assignee: grievances.assign(
                    s, case.id, assignee_id=a.account_id
                )
            )
            for supervisor, assignee in choices
        ]
    )

    won = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], StateConflict), lost[0]
    assert lost[0].state == "assigned"
    if forced:
        # Two first decisions, then the loser's second one, on the assigned case.
        assert clock.readings == 3

    winner_view, _ = results[won[0]]
    assert winner_view.assignee_id == choices[won[0]][1].account_id
    final = grievances.get(cast.cadre, case.id)
    assert (final.version, final.status, final.assignee_id) == (
        2,
        "assigned",
        winner_view.assignee_id,
    )
    recorded = notifications_after(county, before)
    assert [n.topic for n in recorded] == ["anju:Grievance.Assigned"]


@pytest.mark.parametrize("forced", [False, True], ids=["started-together", "same-version"])
def test_two_writers_with_the_same_if_match_one_wins_the_other_is_told_it_is_stale(
    county: County, cast: Cast, clock: GatedClock, forced: bool
):
    case = file_case(county, cast)
    household_id = county.services.grievances.get(cast.cadre, case.id).household_id
    households = county.services.households
    seen = households.get(cast.cadre, household_id).version
    before = county.book.recorder.max_notification_id() or 0
    if forced:
        clock.hold(2)

    results = run_together(
        [
            lambda: households.record_employment(
                cast.cadre, household_id, labour_force=2, employed=1, expected_version=seen
            ),
            lambda: households.record_employment(
                cast.other_cadre, household_id, labour_force=2, employed=2, expected_version=seen
            ),
        ]
    )

    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], VersionMismatch), lost[0]
    assert lost[0].current == seen + 1
    view, _ = won[0]
    assert households.get(cast.cadre, household_id) == view
    assert view.version == seen + 1
    assert len(notifications_after(county, before)) == 1
