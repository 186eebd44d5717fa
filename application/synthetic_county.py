"""A large, lifelike county history, generated fast, for read-model tests and benchmarks.

It simulates months of casework day by day through the domain aggregates (so
every rule holds) and appends each day's events to the log in the order they
happened, in one write per day. A seed makes it repeatable.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate

from application.casebook import Casebook
from application.policies import load_policy_book
from application.ports import PersonalDataVault
from domain.grievance import Grievance
from domain.household import Household, Sealed
from domain.organisation import Account, Community
from domain.visit import Visit
from domain.vocabulary import (
    Category,
    HouseholdTag,
    IntakeChannel,
    LifeEventKind,
    Outcome,
    Rating,
    Urgency,
    VisitChannel,
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
TOWNSHIPS = ["乌蒙镇", "龙场镇", "果瓦乡", "新民镇", "中寨乡"]


@dataclass
class SyntheticCounty:
    communities: list[str]
    cadres: dict[str, list[str]]  # community code -> cadre account ids
    supervisors: dict[str, str]  # community code -> supervisor account id
    auditor_id: str
    households: int = 0
    events: int = 0
    start: datetime | None = None
    end: datetime | None = None


@dataclass(order=True)
class _Step:
    due: datetime
    serial: int
    grievance_id: UUID = field(compare=False)


class _Day:
    """One day's clock: each action happens a little after the one before."""

    def __init__(self, day: date, zone: ZoneInfo) -> None:
        self.now = datetime.combine(day, time(8, 0), zone)

    def tick(self, rng: random.Random) -> datetime:
        self.now += timedelta(seconds=rng.randint(5, 40))
        return self.now


class _Generator:
    def __init__(
        self,
        book: Casebook,
        vault: PersonalDataVault,
        *,
        seed: int,
        zone: ZoneInfo,
    ) -> None:
        self.book = book
        self.vault = vault
        self.rng = random.Random(seed)  # noqa: S311 - repeatable data, no secrets
        self.zone = zone
        self.policies = load_policy_book()
        self.pending: list[Any] = []
        self.households: dict[UUID, Household] = {}
        self.by_community: dict[str, list[UUID]] = {}
        self.visits: list[Visit] = []
        self.grievances: dict[UUID, Grievance] = {}
        self.steps: list[_Step] = []
        self.serial = 0
        self.events = 0

    # -- writing ----------------------------------------------------------------

    def keep(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.pending.extend(aggregate.collect_events())

    def flush(self) -> None:
        if self.pending:
            self.book.events.put(self.pending)
            self.events += len(self.pending)
            self.pending = []

    # -- the organisation ---------------------------------------------------------

    def organisation(
        self, communities: int, grids: int, cadres: int, at: datetime
    ) -> SyntheticCounty:
        admin = Account.open(
            username="synthetic_admin",
            display_name="系统管理员",
            role="admin",
            community_id=None,
            grid_id=None,
            township=None,
            actor="system",
            now=at,
        )
        actor = str(admin.id)
        auditor = Account.open(
            username="synthetic_auditor",
            display_name="县审计员",
            role="auditor",
            community_id=None,
            grid_id=None,
            township=None,
            actor=actor,
            now=at,
        )
        self.keep(admin, auditor)
        county = SyntheticCounty([], {}, {}, str(auditor.id))
        for number in range(1, communities + 1):
            code = f"c{number:02d}"
            community = Community.found(
                code=code,
                name=f"安居第{number}社区",
                township=TOWNSHIPS[number % len(TOWNSHIPS)],
                county="示范县",
                actor=actor,
                now=at,
            )
            for grid in range(1, grids + 1):
                community.add_grid(code=f"g{grid}", name=f"第{grid}网格", actor=actor, now=at)
            supervisor = Account.open(
                username=f"{code}_super",
                display_name=f"{code}社区书记",
                role="supervisor",
                community_id=code,
                grid_id=None,
                township=None,
                actor=actor,
                now=at,
            )
            accounts = [
                Account.open(
                    username=f"{code}_cadre{index:02d}",
                    display_name=self.name(),
                    role="cadre",
                    community_id=code,
                    grid_id=f"g{index % grids + 1}",
                    township=None,
                    actor=actor,
                    now=at,
                )
                for index in range(cadres)
            ]
            self.keep(community, supervisor, *accounts)
            county.communities.append(code)
            county.supervisors[code] = str(supervisor.id)
            county.cadres[code] = [str(account.id) for account in accounts]
        self.flush()
        return county

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=2))

    # -- households -----------------------------------------------------------------

    def register(self, county: SyntheticCounty, per_community: int, day: _Day) -> None:
        rng = self.rng
        for code in county.communities:
            cadres = county.cadres[code]
            for number in range(per_community):
                household_id = uuid4()
                self.vault.create_key(household_id)
                cadre = cadres[number % len(cadres)]
                now = day.tick(rng)
                household = Household.register(
                    household_id=household_id,
                    community_id=code,
                    grid_id=f"g{cadres.index(cadre) % 8 + 1}",
                    sealed=Sealed(
                        head_name=self.vault.seal(household_id, self.name()),
                        phone=self.vault.seal(
                            household_id, f"13{rng.randint(100000000, 999999999)}"
                        ),
                        id_number=None,
                    ),
                    member_count=rng.randint(1, 7),
                    address={
                        "building": str(rng.randint(1, 40)),
                        "unit": str(rng.randint(1, 4)),
                        "room": str(rng.randint(101, 1806)),
                    },
                    origin={
                        "township": rng.choice(TOWNSHIPS),
                        "village": f"{rng.randint(1, 30)}组",
                    },
                    relocated_on=(now - timedelta(days=rng.randint(200, 900))).date(),
                    tags=rng.sample([tag.value for tag in HouseholdTag], k=rng.randint(0, 2)),
                    actor=cadre,
                    now=now,
                )
                household.assign_contact_cadre(
                    cadre_id=cadre, actor=county.supervisors[code], now=now
                )
                if rng.random() < 0.4:
                    labour = rng.randint(0, household.member_count)
                    household.record_employment(
                        labour_force=labour,
                        employed=rng.randint(0, labour),
                        note=None,
                        actor=cadre,
                        now=now,
                    )
                self.keep(household)
                self.households[household_id] = household
                self.by_community.setdefault(code, []).append(household_id)
        county.households = len(self.households)
        self.flush()

    # -- a day of casework ----------------------------------------------------------

    def day(
        self, county: SyntheticCounty, today: date, visits_per_cadre: int, grievances: int
    ) -> None:
        clock = _Day(today, self.zone)
        rng = self.rng
        weekday = today.weekday() < 5
        for code in county.communities:
            linked = self._linked(code)
            for cadre in county.cadres[code]:
                if weekday:
                    for _ in range(rng.randint(visits_per_cadre - 2, visits_per_cadre + 2)):
                        self.visit(cadre, rng.choice(linked[cadre]), clock)
            for _ in range(rng.randint(0, grievances * 2)):
                self.file(county, code, clock)
            self.household_change(county, code, clock)
        self.run_steps(county, clock)
        if rng.random() < 0.5 and self.visits:
            visit = self.visits[rng.randrange(len(self.visits))]
            if not visit.voided:
                if rng.random() < 0.5:
                    visit.void(reason="重复录入", actor=visit.visitor_id, now=clock.tick(rng))
                else:
                    visit.amend(
                        notes="补充走访情况",
                        reason="记录不全",
                        actor=visit.visitor_id,
                        now=clock.tick(rng),
                    )
                self.keep(visit)
        self.flush()

    def _linked(self, code: str) -> dict[str, list[UUID]]:
        linked: dict[str, list[UUID]] = {}
        for household_id in self.by_community[code]:
            cadre = self.households[household_id].contact_cadre_id
            if cadre is not None:
                linked.setdefault(cadre, []).append(household_id)
        return linked

    def visit(self, cadre: str, household_id: UUID, clock: _Day, purpose: str = "routine") -> Visit:
        rng = self.rng
        now = clock.tick(rng)
        late = rng.random() < 0.03
        visited_at = now - timedelta(hours=rng.randint(50, 240) if late else rng.randint(0, 6))
        household = self.households[household_id]
        life_event_id = None
        if purpose == "mandatory" and household.life_events:
            life_event_id = max(household.life_events)
        visit = Visit.log(
            visit_id=uuid4(),
            household_id=str(household_id),
            visited_at=visited_at,
            channel=rng.choices(
                [VisitChannel.IN_PERSON, VisitChannel.PHONE, VisitChannel.ONLINE], [6, 3, 1]
            )[0].value,
            purpose=purpose,
            notes="入户走访，了解家庭近况",
            life_event_id=life_event_id,
            grievance_id=None,
            actor=cadre,
            now=now,
        )
        self.keep(visit)
        self.visits.append(visit)
        return visit

    def household_change(self, county: SyntheticCounty, code: str, clock: _Day) -> None:
        rng = self.rng
        households = self.by_community[code]
        for _ in range(rng.randint(0, max(1, len(households) // 300))):
            household = self.households[rng.choice(households)]
            cadre = household.contact_cadre_id or county.supervisors[code]
            now = clock.tick(rng)
            kind = rng.choice(list(LifeEventKind))
            occurred_on = (now - timedelta(days=rng.randint(0, 3))).date()
            household.report_life_event(
                life_event_id=uuid4().hex,
                kind=kind.value,
                occurred_on=occurred_on,
                note=None,
                actor=cadre,
                now=now,
            )
            self.keep(household)
            if rng.random() < 0.7:
                self.visit(cadre, household.id, clock, purpose="mandatory")
        if rng.random() < 0.2:
            household = self.households[rng.choice(households)]
            grid = f"g{rng.randint(1, 8)}"
            if grid != household.grid_id:
                address = {"building": str(rng.randint(1, 40)), "unit": "1", "room": "101"}
                household.move(
                    grid_id=grid,
                    address=address,
                    actor=county.supervisors[code],
                    now=clock.tick(rng),
                )
                self.keep(household)
        if rng.random() < 0.2:
            household = self.households[rng.choice(households)]
            cadre = rng.choice(county.cadres[code])
            if cadre != household.contact_cadre_id:
                household.assign_contact_cadre(
                    cadre_id=cadre, actor=county.supervisors[code], now=clock.tick(rng)
                )
                self.keep(household)
        if rng.random() < 0.3:
            household = self.households[rng.choice(households)]
            tag = rng.choice(list(HouseholdTag)).value
            change = {"remove": [tag]} if tag in household.tags else {"add": [tag]}
            household.change_tags(
                add=change.get("add", []),
                remove=change.get("remove", []),
                actor=county.supervisors[code],
                now=clock.tick(rng),
            )
            self.keep(household)

    # -- grievances -----------------------------------------------------------------

    def file(self, county: SyntheticCounty, code: str, clock: _Day) -> None:
        rng = self.rng
        household = self.households[rng.choice(self.by_community[code])]
        now = clock.tick(rng)
        received_at = now - timedelta(hours=rng.choice([0, 0, 0, 1, 5, 30, 80]))
        urgency = rng.choices(list(Urgency), [1, 4, 12, 2])[0]
        deadlines = self.policies.in_effect_at(received_at).deadlines_for(urgency, received_at)
        grievance = Grievance.file(
            grievance_id=uuid4(),
            household_id=str(household.id),
            community_id=code,
            grid_id=household.grid_id,
            category=rng.choice(list(Category)).value,
            urgency=urgency.value,
            channel=rng.choice(list(IntakeChannel)).value,
            summary=rng.choice(
                [
                    "楼道灯不亮",
                    "要求办理低保",
                    "邻里噪音纠纷",
                    "电梯故障",
                    "孩子入学咨询",
                    "就业培训报名",
                ]
            ),
            description=None,
            received_at=received_at,
            visit_id=None,
            parties=None,
            deadlines=deadlines,
            actor=household.contact_cadre_id or county.supervisors[code],
            now=now,
        )
        self.keep(grievance)
        self.grievances[grievance.id] = grievance
        self.schedule(grievance, now, hours=rng.uniform(0.5, 40))

    def schedule(self, grievance: Grievance, after: datetime, hours: float) -> None:
        self.serial += 1
        heapq.heappush(self.steps, _Step(after + timedelta(hours=hours), self.serial, grievance.id))

    def run_steps(self, county: SyntheticCounty, clock: _Day) -> None:
        end_of_day = datetime.combine(clock.now.date(), time(23, 0), self.zone)
        while self.steps and self.steps[0].due <= end_of_day:
            step = heapq.heappop(self.steps)
            grievance = self.grievances[step.grievance_id]
            clock.now = max(clock.now, step.due)
            self.advance(county, grievance, clock)

    def advance(self, county: SyntheticCounty, case: Grievance, clock: _Day) -> None:
        """One move in a case's life; schedules the next unless the case has ended."""
        rng = self.rng
        supervisor = county.supervisors[case.community_id]
        now = clock.tick(rng)
        roll = rng.random()
        if case.status == "filed":
            if roll < 0.03:
                case.withdraw(reason="居民撤回", actor=supervisor, now=now)
            elif roll < 0.05 and len(self.grievances) > 1:
                case.merge_into(into=str(next(iter(self.grievances))), actor=supervisor, now=now)
            elif roll < 0.08 and case.level != "county":
                case.escalate(reason="需上级协调", actor=supervisor, now=now)
            else:
                case.assign(
                    assignee_id=rng.choice(county.cadres[case.community_id]),
                    note=None,
                    actor=supervisor,
                    now=now,
                )
        elif case.status == "assigned":
            assignee = case.assignee_id or supervisor
            if roll < 0.08:
                case.decline(reason="不在职责范围", actor=assignee, now=now)
            else:
                case.accept(actor=assignee, now=now)
        elif case.status == "in_progress":
            assignee = case.assignee_id or supervisor
            if roll < 0.05 and not case.extended:
                case.extend(
                    days=rng.randint(3, 30), reason="需协调多部门", actor=supervisor, now=now
                )
            elif roll < 0.09:
                case.urge(note="请加快办理", actor=supervisor, now=now)
            elif roll < 0.14:
                case.note(text="已联系相关部门", actor=assignee, now=now)
            else:
                outcome = rng.choices(list(Outcome), [8, 3, 1])[0]
                case.resolve(
                    resolution="已处理完毕", outcome=outcome.value, actor=assignee, now=now
                )
        elif case.status == "resolved":
            if roll < 0.1:
                case.close(note="居民未反馈，按期销号", actor=supervisor, now=now)
            else:
                rating = rng.choices(list(Rating), [7, 2, 1])[0]
                case.give_feedback(
                    rating=rating.value,
                    solved=rating is not Rating.UNSATISFIED or roll < 0.2,
                    comment=None,
                    # The callback is never made by the cadre being judged.
                    actor=supervisor if supervisor not in case.resolvers else "system",
                    now=now,
                )
        self.keep(case)
        if case.status in ("filed", "assigned", "in_progress", "resolved"):
            self.schedule(case, now, hours=rng.expovariate(1 / 30))


def generate_county(
    book: Casebook,
    vault: PersonalDataVault,
    *,
    communities: int = 2,
    households_per_community: int = 2000,
    cadres_per_community: int = 25,
    days: int = 270,
    visits_per_cadre_day: int = 5,
    grievances_per_community_day: int = 15,
    end: datetime | None = None,
    seed: int = 7,
    timezone: str = "Asia/Shanghai",
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticCounty:
    """Append a synthetic county's history, ending at ``end``, to an empty casebook."""
    zone = ZoneInfo(timezone)
    end = end or datetime.now(zone)
    first = (end - timedelta(days=days)).date()
    generator = _Generator(book, vault, seed=seed, zone=zone)
    start_day = _Day(first - timedelta(days=1), zone)
    county = generator.organisation(communities, 8, cadres_per_community, start_day.now)
    generator.register(county, households_per_community, start_day)
    for offset in range(days):
        generator.day(
            county,
            first + timedelta(days=offset),
            visits_per_cadre_day,
            grievances_per_community_day,
        )
        if progress is not None:
            progress(offset + 1, days)
    county.events = generator.events
    county.start = start_day.now
    county.end = end
    return county
