"""An aggregate asked ``as_of`` a moment equals its state from the events recorded by then.

A generated county's history is read back from the log and each household's,
visit's and grievance's events are listed with their recorded times. The
expected state at a moment T is worked out without filtering by time: the
highest version among the aggregate's events recorded at or before T, loaded
by the library's repository at that version (which folds by version only) and
rendered by the same view the service uses for live reads. The service's
``get(..., as_of=T)`` must equal it, or raise ``NotFound`` when none of the
aggregate's events was recorded by T.

The moments are drawn with a fixed seed: some anywhere in the history, some
exactly at an event's recorded time (that event counts) and some a microsecond
before one (it does not), besides one before the county existed and one after
its last event.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.domain import Aggregate

from api.bootstrap import County
from application.actors import Actor
from application.casebook import Casebook
from application.errors import NotFound
from application.organisation import actor_of
from application.synthetic_county import SyntheticCounty, generate_county
from application.visits import visit_view
from domain.grievance import Grievance
from domain.household import Household
from domain.visit import Visit
from domain.vocabulary import Role

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 10, 31, 18, 0, tzinfo=SHANGHAI)  # before the test clock's first reading
# About 3,000 events over six weeks: visits amended and voided, cases that move
# through assignment, work, resolution, feedback, reopening, merging.
SHAPE: dict[str, Any] = {
    "communities": 1,
    "households_per_community": 60,
    "cadres_per_community": 6,
    "days": 42,
    "grievances_per_community_day": 8,
}
SEED = 20261031
RANDOM_MOMENTS = 40
# How many to check of each kind: (changed after it began, never changed). Nearly every case
# moves on, so the cases that never changed are the few filed on the last day.
SAMPLE = {"household": (20, 8), "visit": (16, 16), "grievance": (40, 1)}
EVERY_AGGREGATE_MOMENTS = 6
MICROSECOND = timedelta(microseconds=1)
PAGE = 1000


# == the log, read back =====================================================================


@dataclass
class Timeline:
    """One aggregate's events as (recorded time, version), in version order."""

    kind: str
    aggregate_id: UUID
    events: list[tuple[datetime, int]] = field(default_factory=list)

    def version_at(self, moment: datetime) -> int | None:
        """The highest version among the events recorded at or before ``moment``."""
        return max((version for stamp, version in self.events if stamp <= moment), default=None)

    @property
    def stamps(self) -> list[datetime]:
        return sorted({stamp for stamp, _ in self.events})

    @property
    def changed_later(self) -> bool:
        return len(self.stamps) > 1


KIND_OF_EVENT: list[tuple[type[Any], str]] = [
    (Household.Event, "household"),
    (Visit.Event, "visit"),
    (Grievance.Event, "grievance"),
]


def read_log(book: Casebook) -> tuple[dict[UUID, Timeline], list[datetime]]:
    """Every household's, visit's and grievance's timeline, and every recorded time in the log."""
    timelines: dict[UUID, Timeline] = {}
    every_stamp: list[datetime] = []
    start = 1
    while True:
        page = book.recorder.select_notifications(start, PAGE)
        for notification in page:
            event: Any = book.mapper.to_domain_event(notification)
            every_stamp.append(event.timestamp)
            kind = next((name for cls, name in KIND_OF_EVENT if isinstance(event, cls)), None)
            if kind is None:
                continue
            timeline = timelines.setdefault(
                event.originator_id, Timeline(kind, event.originator_id)
            )
            assert timeline.kind == kind
            timeline.events.append((event.timestamp, event.originator_version))
        if len(page) < PAGE:
            break
        start = page[-1].id + 1
    for timeline in timelines.values():
        versions = [version for _, version in timeline.events]
        assert versions == list(range(1, len(versions) + 1)), timeline
        # Recorded times never go back within an aggregate, so "the events recorded by T"
        # are always a prefix of its versions.
        stamps = [stamp for stamp, _ in timeline.events]
        assert stamps == sorted(stamps), timeline
    return timelines, every_stamp


# == the services, and the expectation worked out by version =================================


@dataclass(frozen=True)
class Kind:
    name: str
    read: Callable[[Actor, str, datetime | None], Any]  # the service's get
    render: Callable[[Actor, Any], Any]  # the view the service gives an aggregate


def kinds(county: County) -> dict[str, Kind]:
    services = county.services
    return {
        "household": Kind("household", services.households.get, services.households.view),
        "visit": Kind(
            "visit", services.visits.get, lambda _, visit: visit_view(visit, services.visits.texts)
        ),
        "grievance": Kind("grievance", services.grievances.get, services.grievances.view),
    }


@dataclass
class Tally:
    found: int = 0
    not_found: int = 0
    differs_from_live: int = 0
    event_at_the_moment_counted: int = 0  # at T the view differs from the view at T - 1µs
    kinds_found: set[str] = field(default_factory=set)


class Checker:
    def __init__(self, county: County, timelines: dict[UUID, Timeline]) -> None:
        self.book = county.book
        self.kinds = kinds(county)
        self.timelines = timelines
        self.expected_views: dict[tuple[UUID, int, Actor], Any] = {}
        self.live_views: dict[tuple[UUID, Actor], Any] = {}
        self.tally = Tally()

    def expected(self, actor: Actor, timeline: Timeline, moment: datetime) -> Any | None:
        """The view at ``moment`` from a fold by version alone; None before the first event."""
        version = timeline.version_at(moment)
        if version is None:
            return None
        key = (timeline.aggregate_id, version, actor)
        if key not in self.expected_views:
            aggregate: Aggregate = self.book.repository.get(timeline.aggregate_id, version=version)
            assert aggregate.version == version
            self.expected_views[key] = self.kinds[timeline.kind].render(actor, aggregate)
        return self.expected_views[key]

    def live(self, actor: Actor, timeline: Timeline) -> Any:
        key = (timeline.aggregate_id, actor)
        if key not in self.live_views:
            kind = self.kinds[timeline.kind]
            self.live_views[key] = kind.read(actor, str(timeline.aggregate_id), None)
        return self.live_views[key]

    def check(self, actor: Actor, timeline: Timeline, moment: datetime) -> None:
        kind = self.kinds[timeline.kind]
        aggregate_id = str(timeline.aggregate_id)
        expected = self.expected(actor, timeline, moment)
        where = f"{timeline.kind} {aggregate_id} as of {moment.isoformat()} for {actor.role}"
        if expected is None:
            with pytest.raises(NotFound):
                kind.read(actor, aggregate_id, moment)
            self.tally.not_found += 1
            return
        assert kind.read(actor, aggregate_id, moment) == expected, where
        self.tally.found += 1
        self.tally.kinds_found.add(timeline.kind)
        if expected != self.live(actor, timeline):
            self.tally.differs_from_live += 1
        if moment in timeline.stamps and expected != self.expected(
            actor, timeline, moment - MICROSECOND
        ):
            self.tally.event_at_the_moment_counted += 1


# == the generated county ===================================================================


@dataclass
class Generated:
    county: County
    summary: SyntheticCounty
    timelines: dict[UUID, Timeline]
    every_stamp: list[datetime]
    auditor: Actor
    supervisor: Actor

    @property
    def actors(self) -> list[Actor]:
        return [self.auditor, self.supervisor]

    def of_kind(self, kind: str) -> list[Timeline]:
        return [timeline for timeline in self.timelines.values() if timeline.kind == kind]


@pytest.fixture
def generated(county: County) -> Generated:
    summary = generate_county(county.book, county.services.vault, end=END, seed=SEED, **SHAPE)
    timelines, every_stamp = read_log(county.book)
    (community,) = summary.communities
    supervisor = actor_of(county.services.organisation.account(summary.supervisors[community]))
    assert supervisor.role is Role.SUPERVISOR
    return Generated(
        county,
        summary,
        timelines,
        every_stamp,
        Actor(account_id=summary.auditor_id, role=Role.AUDITOR),
        supervisor,
    )


def sample(generated: Generated, rng: random.Random) -> list[Timeline]:
    """Aggregates of each kind, mostly ones whose state changed after they began."""
    chosen: list[Timeline] = []
    for kind, (changed, unchanged) in SAMPLE.items():
        timelines = generated.of_kind(kind)
        later = [timeline for timeline in timelines if timeline.changed_later]
        once = [timeline for timeline in timelines if not timeline.changed_later]
        assert len(later) >= changed and len(once) >= unchanged, (kind, len(later), len(once))
        chosen += rng.sample(later, changed) + rng.sample(once, unchanged)
    return chosen


def random_moments(
    rng: random.Random, every_stamp: list[datetime], near: list[Timeline]
) -> Iterator[datetime]:
    """Anywhere in the history, at an event's recorded time, and a microsecond before one."""
    first, last = min(every_stamp), max(every_stamp)
    span = int((last - first) / MICROSECOND)
    stamps = sorted({stamp for timeline in near for stamp in timeline.stamps})
    yield first - timedelta(days=1)  # before the county existed
    yield last  # every event recorded
    for number in range(RANDOM_MOMENTS):
        if number % 3 == 0:
            yield first + rng.randrange(span + 1) * MICROSECOND
        elif number % 3 == 1:
            yield rng.choice(stamps)
        else:
            yield rng.choice(stamps) - MICROSECOND


# == the tests ==============================================================================


def test_the_generated_history_changes_aggregates_over_many_days(generated: Generated) -> None:
    assert 2_000 <= len(generated.every_stamp) <= 6_000
    assert max(generated.every_stamp) - min(generated.every_stamp) >= timedelta(days=30)
    for kind, (changed, unchanged) in SAMPLE.items():
        timelines = generated.of_kind(kind)
        assert sum(timeline.changed_later for timeline in timelines) >= changed, kind
        assert sum(not timeline.changed_later for timeline in timelines) >= unchanged, kind


def test_every_aggregate_as_of_a_random_moment_equals_its_state_from_the_events_recorded_by_then(
    generated: Generated,
) -> None:
    rng = random.Random(SEED)
    chosen = sample(generated, rng)
    moments = list(random_moments(rng, generated.every_stamp, chosen))
    checker = Checker(generated.county, generated.timelines)
    for timeline in chosen:
        # Its own edges too: each recorded time, and a microsecond before (the first: not yet).
        edges = [edge for stamp in timeline.stamps for edge in (stamp, stamp - MICROSECOND)]
        for moment in [*moments, *edges]:
            for actor in generated.actors:
                checker.check(actor, timeline, moment)

    tally = checker.tally
    assert tally.kinds_found == {"household", "visit", "grievance"}
    assert tally.not_found > 0, "some moments come before an aggregate began"
    # Not vacuous: ignoring the moment, or leaving out an event recorded exactly at it,
    # would give a different view in these cases.
    assert tally.differs_from_live > 0
    assert tally.event_at_the_moment_counted > 0
    assert tally.found > 1_000


def test_every_household_visit_and_grievance_in_the_log_as_of_a_few_random_moments_is_its_state_by_then(
    generated: Generated,
) -> None:
    rng = random.Random(SEED + 1)
    timelines = list(generated.timelines.values())
    moments = list(random_moments(rng, generated.every_stamp, timelines))[
        2 : 2 + EVERY_AGGREGATE_MOMENTS
    ]
    checker = Checker(generated.county, generated.timelines)
    for timeline in timelines:
        for moment in moments:
            checker.check(generated.auditor, timeline, moment)
    tally = checker.tally
    assert tally.found > 0 and tally.not_found > 0 and tally.differs_from_live > 0
