"""A believable demo county: one resettlement community with weeks of casework behind it.

The seeder works only through the real services, acting as each account would:
the system sets up the community and its accounts, cadres register households,
visit them and file grievances, supervisors dispatch, urge, extend and close,
assignees accept and resolve. A ``DemoClock`` that the seeder moves forward
through the simulated weeks makes every event recorded at a realistic past
moment, in log order, and never later than the real present.

Everything is drawn from one ``random.Random(rng_seed)``, so a seed always tells
the same story (only the generated IDs and ciphertexts differ).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from threading import Lock
from zoneinfo import ZoneInfo

from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from application.services import CaseServices
from domain.deadlines import MANDATORY_VISIT_DAYS
from domain.vocabulary import GrievanceStatus, LifeEventKind, Role, Urgency

# -- the clock ----------------------------------------------------------------


class DemoClock:
    """A clock the seeder moves through simulated time (satisfies ``ports.Clock``).

    Each reading is one ``step`` after the previous one, so recorded times
    strictly increase; ``advance_to`` jumps forward (never back). No reading is
    ever later than the real present (``real_now``): the clock waits for real
    time rather than run ahead of it. Before it is first advanced it reads the
    real time, like the system clock.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        timezone: str = "Asia/Shanghai",
        step: timedelta = timedelta(milliseconds=1),
        real_now: Callable[[], datetime] | None = None,
    ) -> None:
        if step <= timedelta(0):
            raise ValueError("the step must be positive")
        self.zone = ZoneInfo(timezone)
        self._real = real_now or (lambda: datetime.now(self.zone))
        self._step = step
        self._lock = Lock()
        self._now: datetime | None = None
        if start is not None:
            self.advance_to(start)

    @classmethod
    def ending_now(cls, timezone: str = "Asia/Shanghai", *, weeks: int = 4) -> DemoClock:
        """A clock set to the start of a demo of ``weeks`` weeks that ends at the real present."""
        clock = cls(timezone=timezone)
        clock.advance_to(demo_timeline(clock.real_now(), weeks)[1])
        return clock

    def real_now(self) -> datetime:
        """The real present, which no reading may pass."""
        return _aware(self._real(), "real_now").astimezone(self.zone)

    @property
    def current(self) -> datetime | None:
        """The latest reading or jump, ``None`` before the first."""
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Jump forward to ``moment`` (capped at the real present); earlier moments are ignored."""
        moment = _aware(moment, "moment").astimezone(self.zone)
        with self._lock:
            moment = min(moment, self.real_now())
            if self._now is None or moment > self._now:
                self._now = moment

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            start = self._now or self.real_now()
        self.advance_to(start + delta)

    def now(self) -> datetime:
        with self._lock:
            ceiling = self.real_now()
            if self._now is None:
                reading = ceiling
            else:
                reading = min(self._now + self._step, ceiling)
                # At the real present: wait for real time to move on.
                for _ in range(100_000):
                    if reading > self._now:
                        break
                    reading = self.real_now()
                else:
                    reading = self._now + timedelta(microseconds=1)
            self._now = reading
            return reading


def demo_timeline(present: datetime, weeks: int) -> tuple[datetime, datetime]:
    """When a demo's history starts and when its set-up starts.

    The history covers ``weeks`` whole ISO weeks and the current one so far: it
    starts on the Monday ``weeks`` weeks before this week's. The set-up (the
    community, its accounts, the households) is recorded in the days before.
    """
    zone = present.tzinfo
    monday = present.date() - timedelta(days=present.weekday() + 7 * weeks)
    history = datetime.combine(monday, time(0, 0), tzinfo=zone)
    setup = datetime.combine(history.date() - timedelta(days=SETUP_DAYS), time(8, 30), tzinfo=zone)
    return history, setup


SETUP_DAYS = 3


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


# -- what the seeder hands back -----------------------------------------------


@dataclass
class DemoCast:
    """The accounts of the demo community, by role, and what was created."""

    community_id: str
    grid_ids: list[str]
    admin: str
    supervisors: list[str]
    cadres: list[str]
    auditor: str
    usernames: dict[str, str]  # account ID -> username
    household_ids: list[str]
    grievance_ids: list[str]
    history_from: datetime
    history_to: datetime
    households: int = 0
    contact_reassignments: int = 0
    employment_records: int = 0
    tag_changes: int = 0
    visits: int = 0
    late_logged_visits: int = 0
    amended_visits: int = 0
    voided_visits: int = 0
    life_events: int = 0
    mandatory_visits: int = 0
    grievances: int = 0
    grievance_statuses: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    extensions: int = 0
    urges: int = 0
    reopened: int = 0
    declines: int = 0
    commands: int = 0
    last_position: int = 0

    def summary(self) -> str:
        """One line saying what the demo holds."""
        statuses = ", ".join(f"{n} {status}" for status, n in self.grievance_statuses.items())
        return (
            f"{self.households} households, {len(self.cadres)} cadres, {self.visits} visits "
            f"({self.late_logged_visits} late-logged), {self.life_events} life events and "
            f"{self.grievances} grievances ({statuses}) in {self.community_id}, "
            f"{self.history_from:%Y-%m-%d} to {self.history_to:%Y-%m-%d}"
        )


DEMO_USERNAMES = {
    "admin": "admin",
    "supervisor": "super01",
    "cadre": "cadre01",
    "auditor": "auditor",
}


def demo_accounts() -> list[tuple[str, str]]:
    """(role, username) of one demo account per role, for handing out tokens."""
    return list(DEMO_USERNAMES.items())


# -- the county's people and places --------------------------------------------

COMMUNITY = ("xingfu", "幸福社区", "城关镇", "示范县")
GRID_COUNT = 8
GRID_NUMERALS = "一二三四五六七八九十"
FLOORS, UNITS, ROOMS_PER_FLOOR = 11, 2, 2

SURNAMES: dict[str, int] = {
    "王": 70, "李": 70, "张": 65, "刘": 52, "陈": 45, "杨": 60, "黄": 24, "赵": 20,
    "吴": 40, "周": 16, "徐": 13, "孙": 12, "马": 11, "朱": 11, "胡": 10,
    "罗": 30, "龙": 18, "韦": 12, "潘": 14, "石": 12,
}  # fmt: skip
MALE_GIVEN = "国建明华军平志文德永成林海强勇福贵忠富荣光学云兴祥发伟刚斌涛江洪昌金顺才正"
FEMALE_GIVEN = "秀英兰芳丽梅琴玉珍凤霞红燕萍莲花春桂娟敏静艳慧琳翠菊"
YOUNG_GIVEN = "晓婷磊鑫杰浩宇欣雪雨倩佳俊洁思超丹蕾琪凯阳帆蓉"

# Origin townships (迁出地) with their villages and the county code of their ID numbers.
ORIGINS: dict[str, tuple[str, list[str]]] = {
    "白岩镇": ("522623", ["岩脚村", "新寨村", "坪上村", "大湾村"]),
    "高坡乡": ("522623", ["高坡村", "甲定村", "云顶村"]),
    "平寨镇": ("522627", ["平寨村", "乌沙村", "大坪村", "岑板村"]),
    "洛香镇": ("522631", ["洛香村", "弄邦村", "四寨村"]),
    "定威乡": ("522632", ["定威村", "计怀村", "高同村"]),
    "望丰乡": ("522634", ["望丰村", "乌的村", "公统村"]),
    "龙场镇": ("522328", ["龙场村", "坡脚村", "罗家寨村", "纳坝村"]),
}
ORIGIN_WEIGHTS = [22, 12, 18, 14, 10, 9, 15]

TAG_RATES = {
    "low_income": 0.18,
    "left_behind_children": 0.12,
    "disability": 0.08,
    "no_labour": 0.05,
    "party_member": 0.07,
}
ELDERLY_ALONE_RATE = 0.06
ZERO_EMPLOYMENT_RATE = 0.07

PHONE_PREFIXES = (
    [f"13{d}" for d in range(10)]
    + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + [f"18{d}" for d in range(10)]
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

ROUTINE_NOTES = [
    "入户走访，了解家庭生产生活情况，家中一切正常。",
    "走访了解就业情况，家中劳动力在园区扶贫车间务工，收入稳定。",
    "宣传城乡居民医保缴费政策，提醒按时缴纳。",
    "查看室内用电用气安全，提醒不要在楼道给电动车充电。",
    "了解子女上学情况，孩子已在社区学校就读，无困难。",
    "宣传防范电信网络诈骗知识，发放宣传资料。",
    "询问近期生活有无困难，户主表示暂无诉求。",
    "协助办理社保卡信息变更，讲解养老保险政策。",
    "了解后续扶持政策落实情况，住户对安置房总体满意。",
    "通知参加社区周末就业招聘会，住户表示会去看看。",
]
TAG_NOTES = {
    "elderly_alone": [
        "看望独居老人，身体状况尚可，帮助打扫卫生。",
        "为老人测量血压，叮嘱按时服药、注意防寒保暖。",
    ],
    "low_income": ["核实低保家庭人口和收入变化情况，无变化。"],
    "left_behind_children": ["了解留守儿童学习生活情况，与外出务工的父母视频联系。"],
    "disability": ["了解残疾人两项补贴发放情况，已按月到账。"],
    "no_labour": ["了解家庭基本生活保障情况，落实兜底政策。"],
    "party_member": ["与党员户交流，传达支部近期学习安排和志愿服务活动。"],
}
ZERO_EMPLOYMENT_NOTE = "零就业家庭走访，了解劳动力就业意愿，推荐社区公益性岗位。"
PHONE_NOTES = [
    "电话联系，户主在外省务工，家中老人身体健康。",
    "电话回访了解近况，无新增诉求。",
    "电话通知领取春季农资补贴，住户已知晓。",
]
ONLINE_NOTES = [
    "微信视频联系外出务工人员，了解务工和返乡安排。",
    "通过楼栋微信群联系，通知参加就业招聘会。",
]

LIFE_EVENT_NOTES: dict[str, list[str]] = {
    "wedding": ["长子结婚，婚期在本周末。", "女儿出嫁，在社区活动中心办酒。"],
    "funeral": ["户主父亲病故，家中办理丧事。", "老人因病去世，家属正在料理后事。"],
    "illness": [
        "户主因高血压住院治疗（县人民医院）。",
        "家中老人摔伤骨折住院。",
        "孩子急性肺炎住院治疗。",
    ],
    "family_change": ["家庭成员在工地务工时受伤。", "夫妻离婚，子女随母亲生活。"],
    "dispute": ["与楼下住户因漏水问题发生纠纷。", "与邻居因门口堆放杂物发生争执。"],
    "disaster": ["家中厨房失火，部分物品受损，无人员伤亡。", "老家房屋因暴雨受损。"],
}
MANDATORY_NOTES: dict[str, str] = {
    "wedding": "上门祝贺，宣传婚事新办、移风易俗，提醒控制宴席规模。",
    "funeral": "上门慰问家属，协助联系殡葬服务，宣传文明治丧。",
    "illness": "到医院看望，了解医保报销和大病救助办理情况。",
    "family_change": "上门慰问，了解家庭困难，协助申请临时救助。",
    "dispute": "上门了解纠纷经过，组织双方初步调解，情绪已稳定。",
    "disaster": "现场查看受损情况，协助申请临时救助，排查安全隐患。",
}
LIFE_EVENT_WEIGHTS = {
    "illness": 35,
    "dispute": 20,
    "wedding": 15,
    "funeral": 15,
    "family_change": 10,
    "disaster": 5,
}


@dataclass(frozen=True)
class Matter:
    """A kind of grievance residents raise, and how it is usually settled."""

    category: str
    urgency: str
    summary: str
    resolution: str
    outcome: str = "resolved"


MATTERS: list[Matter] = [
    Matter("employment", "normal", "家中两个劳动力都没有工作，希望推荐就近就业岗位",
           "已推荐到园区扶贫车间（服装加工）上岗，月收入约2600元"),
    Matter("employment", "urgent", "在扶贫车间务工，工资已拖欠两个月未发",
           "协调人社部门和企业负责人，拖欠工资已全部结清"),
    Matter("employment", "normal", "想参加电工技能培训，咨询报名方式",
           "已报名县人社局免费技能培训，下月开班", "explained"),
    Matter("employment", "normal", "外出务工返乡，希望申请公益性岗位",
           "经审核符合条件，安排为小区保洁公益性岗位"),
    Matter("housing", "urgent", "卫生间楼板渗水，已经渗到楼下住户家",
           "联系施工单位重做防水层，闭水试验不再渗漏"),
    Matter("housing", "normal", "客厅墙体出现裂缝，担心房屋质量有问题",
           "住建部门现场查看为抹灰层收缩裂缝，不影响结构安全，已修补"),
    Matter("housing", "complex", "安置房不动产权证一直没有办下来",
           "已统一报送不动产登记中心，办证进度已告知住户"),
    Matter("housing", "normal", "入户门锁损坏，无法正常反锁", "物业维修人员已更换门锁"),
    Matter("housing", "normal", "要求将安置房调换到一楼",
           "经核实不符合调换条件，已向住户解释安置政策", "not_supported"),
    Matter("environment", "normal", "楼道内堆放大量杂物，影响通行",
           "组织楼栋长和住户清理楼道杂物，已恢复通行"),
    Matter("environment", "normal", "小区垃圾清运不及时，垃圾桶周边异味大",
           "协调环卫公司将清运频次增加为每日两次"),
    Matter("environment", "normal", "晚上广场舞音响声音太大，影响休息",
           "与广场舞队协商，约定晚上九点前结束并降低音量"),
    Matter("environment", "normal", "有住户在绿化带里种菜、养鸡",
           "上门劝导，住户已自行清理，绿化带已恢复"),
    Matter("safety", "urgent", "有人在楼道里给电动车充电，存在火灾隐患",
           "开展入户宣传并清理楼道电动车，已增设集中充电桩"),
    Matter("safety", "urgent", "楼上有人高空抛物，砸坏楼下停放的电动车",
           "调取监控找到当事人，已赔偿损失并签订承诺书"),
    Matter("safety", "emergency", "单元楼道燃气味很浓，怀疑管道漏气",
           "燃气公司抢修人员到场关阀检修，更换了漏气接头"),
    Matter("safety", "urgent", "楼栋消防栓打开没有水",
           "物业联系消防维保单位修复供水阀门，已检测正常"),
    Matter("neighbour_dispute", "normal", "与楼下住户因卫生间渗水赔偿问题发生争执",
           "网格员组织双方调解，维修费用协商分担，签订调解协议"),
    Matter("neighbour_dispute", "normal", "与邻居因门口堆放物品发生口角",
           "上门调解，双方各自清理门前物品，握手言和"),
    Matter("neighbour_dispute", "complex", "与原籍同村村民因老家土地边界发生纠纷",
           "联系迁出地村委会共同调解，双方确认边界并签字"),
    Matter("social_assistance", "normal", "家庭收入下降，申请低保，材料已交还没有回复",
           "经入户核查符合条件，已纳入低保，从下月起发放"),
    Matter("social_assistance", "normal", "残疾人两项补贴这个月没有到账",
           "核实为银行卡信息变更导致，已重新登记并补发到账"),
    Matter("social_assistance", "normal", "独居老人希望申请居家养老上门服务",
           "已纳入社区居家养老服务对象，每周上门服务两次"),
    Matter("social_assistance", "urgent", "家中突发变故生活困难，申请临时救助",
           "经审批发放临时救助金2000元"),
    Matter("education", "normal", "孩子转学到社区学校，学籍转接手续办不下来",
           "协调教育局办理学籍转接，孩子已正常入学"),
    Matter("education", "normal", "希望社区开设四点半课堂，解决放学后无人看管",
           "社区新时代文明实践站已开设四点半课堂，志愿者辅导作业"),
    Matter("education", "normal", "咨询孩子上高中的教育资助政策",
           "已讲解资助政策并协助提交申请材料", "explained"),
    Matter("health", "normal", "慢性病门诊报销比例不清楚，咨询报销政策",
           "社区卫生服务站讲解政策，协助办理慢病卡", "explained"),
    Matter("health", "normal", "老人行动不便，希望家庭医生上门看病",
           "已与家庭医生签约，每月上门随访一次"),
    Matter("health", "normal", "搬迁后医保关系还在老家，看病报销不方便",
           "协助办理医保关系转移接续"),
    Matter("facilities", "urgent", "单元电梯故障停运，老人上下楼很困难",
           "电梯维保单位更换控制板，电梯已恢复运行"),
    Matter("facilities", "urgent", "单元楼停水两天了，一直没有通知",
           "自来水公司抢修主管破裂处，已恢复供水"),
    Matter("facilities", "normal", "楼道感应灯坏了好几层，晚上看不见", "物业已更换楼道感应灯"),
    Matter("facilities", "normal", "入户燃气一直没有开通，只能用电磁炉做饭",
           "协调燃气公司上门安装燃气表并完成通气"),
    Matter("facilities", "emergency", "家里突然停电，同楼其他住户有电",
           "供电所排查为入户线路老化短路，已更换线路"),
    Matter("policy", "normal", "咨询搬迁后续扶持资金什么时候发放",
           "向住户解释后续扶持资金发放政策和时间安排", "explained"),
    Matter("policy", "complex", "老家耕地流转收益分配有异议",
           "联系迁出地乡镇和村委会核对流转合同，按合同约定补发收益"),
    Matter("policy", "normal", "户口迁到社区的手续怎么办理",
           "讲解户口迁移政策，协助到派出所办理", "explained"),
    Matter("policy", "normal", "要求再分一套安置房给已成家的儿子",
           "按搬迁时户籍人口核定安置面积，诉求不予支持，已解释政策", "not_supported"),
    Matter("other", "normal", "希望社区多组织老年人文艺活动",
           "社区已组建老年文艺队，每周二、四在活动室开展活动"),
    Matter("other", "normal", "快递没有地方存放，经常丢件", "协调快递企业在小区设置快递驿站"),
]  # fmt: skip

PROGRESS_NOTES = [
    "已联系物业维修人员，约定明天上门查看。",
    "已与相关部门对接，等待答复。",
    "已电话告知居民办理进度。",
    "已上门核实情况，正在协调解决。",
]
INTAKE_CHANNELS = {"visit": 35, "walk_in": 20, "hotline": 12, "wechat": 15, "online": 10,
                   "opinion_box": 8}  # fmt: skip

# Scenarios: how far a case has come by now. Every one of these appears at least
# once; the rest of the cases are drawn by weight.
REQUIRED_SCENARIOS = [
    "filed", "filed_overdue", "assigned", "assigned_overdue", "in_progress",
    "in_progress_overdue", "extended", "resolved", "closed", "closed_basic",
    "closed_unsolved", "closed_by_supervisor", "closed_late", "reopened", "withdrawn",
    "merged", "escalated", "escalated_twice", "declined",
]  # fmt: skip
SCENARIO_WEIGHTS = {
    "closed": 30, "closed_basic": 8, "closed_unsolved": 3, "closed_late": 3, "resolved": 7,
    "in_progress": 9, "in_progress_overdue": 2, "assigned": 4, "filed": 3, "withdrawn": 2,
    "closed_by_supervisor": 3, "escalated": 2, "declined": 2, "merged": 1,
}  # fmt: skip


# -- the seeder's working state --------------------------------------------------


@dataclass
class _Home:
    id: str
    grid: str
    head: str
    tags: set[str]
    members: int
    labour: int
    employed: int
    building: str
    unit: str
    room: str
    contacts: list[tuple[datetime, str]] = field(default_factory=list)  # (since, cadre)
    last_visit: datetime | None = None

    def cadre_at(self, moment: datetime) -> str:
        current = self.contacts[0][1]
        for since, cadre in self.contacts:
            if since <= moment:
                current = cadre
        return current


@dataclass
class _Worker:
    id: str
    username: str
    name: str
    grid: str | None
    actor: Actor
    weekly_target: int = 0


@dataclass
class _Ref:
    """An aggregate ID known only once the planned command has run."""

    id: str | None = None

    def get(self) -> str:
        if self.id is None:
            raise RuntimeError("a demo step ran before the step that creates its subject")
        return self.id


@dataclass(frozen=True)
class _Planned:
    case: _Ref
    home: _Home
    matter: Matter
    received: datetime
    filed: datetime


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    run: Callable[[], None] = field(compare=False)


@dataclass
class _Step:
    hours: float  # after the case was received
    verb: str
    args: dict[str, object] = field(default_factory=dict)


HOUR = timedelta(hours=1)
ZERO = timedelta(0)


class _Seeder:
    def __init__(
        self,
        services: CaseServices,
        clock: DemoClock,
        rng: random.Random,
        households: int,
        weeks: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.s = services
        self.clock = clock
        self.rng = rng
        self.household_count = households
        self.weeks = weeks
        self.progress = progress
        self.zone = clock.zone
        self.present = clock.real_now()
        self.limit = self.present - timedelta(minutes=10)
        self.history_from, self.setup_from = demo_timeline(self.present, weeks)
        self.actions: list[_Action] = []
        self.seq = itertools.count()
        self.id_numbers: set[str] = set()
        self.done = 0
        self.total = 0
        self.homes: list[_Home] = []
        self.workers: list[_Worker] = []
        self.supervisors: list[_Worker] = []
        self.pace = 1.0
        self.policy = self.s.grievances.policies.in_effect_at(self.history_from)
        self.cast = DemoCast(
            community_id=COMMUNITY[0],
            grid_ids=[],
            admin="",
            supervisors=[],
            cadres=[],
            auditor="",
            usernames={},
            household_ids=[],
            grievance_ids=[],
            history_from=self.history_from,
            history_to=self.limit,
        )

    # -- running ------------------------------------------------------------------

    def run(self) -> DemoCast:
        current = self.clock.current
        if current is not None and current > self.setup_from:
            raise ValueError(
                f"the demo clock already reads {current}; the demo history starts {self.setup_from}"
            )
        if self.household_count < 1 or self.weeks < 1:
            raise ValueError("a demo needs at least one household and one week")
        cadre_count = max(GRID_COUNT, round(self.household_count / 10))
        self.total = 1 + GRID_COUNT + cadre_count + 4 + 3 * self.household_count
        self.setup(cadre_count)
        self.plan_history()
        self.total = self.done + len(self.actions)
        self.actions.sort()
        for action in self.actions:
            self.clock.advance_to(action.at)
            action.run()
            self.tick()
        self.finish()
        if self.progress:
            self.progress(self.total, self.total)
        return self.cast

    def tick(self) -> None:
        self.done += 1
        self.cast.commands += 1
        if self.progress and self.done % 25 == 0:
            self.progress(self.done, max(self.total, self.done))

    def at(self, moment: datetime, run: Callable[[], None]) -> None:
        if moment > self.limit:
            raise AssertionError(f"a demo step was planned in the future: {moment}")
        self.actions.append(_Action(moment, next(self.seq), run))

    def now_at(self, moment: datetime) -> None:
        self.clock.advance_to(moment)

    # -- set-up: the community, its accounts and households -----------------------

    def setup(self, cadre_count: int) -> None:
        org = self.s.organisation
        code, name, township, county = COMMUNITY
        moment = self.setup_from
        self.now_at(moment)
        org.found_community(SYSTEM, code=code, name=name, township=township, county=county)
        self.tick()
        grid_ids = [f"g{i + 1}" for i in range(GRID_COUNT)]
        for index, grid in enumerate(grid_ids):
            moment += timedelta(seconds=self.rng.uniform(20, 60))
            self.now_at(moment)
            org.add_grid(SYSTEM, code, code=grid, name=f"第{GRID_NUMERALS[index]}网格")
            self.tick()
        self.cast.grid_ids = grid_ids

        used_names: set[str] = set()

        def open_account(
            username: str, display: str, role: Role, grid: str | None = None
        ) -> _Worker:
            nonlocal moment
            moment += timedelta(seconds=self.rng.uniform(30, 120))
            self.now_at(moment)
            community = code if role in (Role.CADRE, Role.SUPERVISOR) else None
            view, _ = org.open_account(
                SYSTEM,
                username=username,
                display_name=display,
                role=role.value,
                community_id=community,
                grid_id=grid,
            )
            self.tick()
            self.cast.usernames[view.id] = username
            return _Worker(view.id, username, display, grid, actor_of(org.account(view.id)))

        def person(young: bool) -> str:
            while True:
                candidate = self.person_name(young=young)
                if candidate not in used_names:
                    used_names.add(candidate)
                    return candidate

        admin = open_account(DEMO_USERNAMES["admin"], "县大数据中心管理员", Role.ADMIN)
        self.supervisors = [
            open_account(DEMO_USERNAMES["supervisor"], person(False), Role.SUPERVISOR),
            open_account("super02", person(False), Role.SUPERVISOR),
        ]
        auditor = open_account(
            DEMO_USERNAMES["auditor"], f"{person(False)}（县纪委监委）", Role.AUDITOR
        )
        for index in range(cadre_count):
            grid = grid_ids[index % GRID_COUNT]
            worker = open_account(f"cadre{index + 1:02d}", person(True), Role.CADRE, grid)
            self.workers.append(worker)
        self.cast.admin = admin.id
        self.cast.supervisors = [s.id for s in self.supervisors]
        self.cast.auditor = auditor.id
        self.cast.cadres = [w.id for w in self.workers]
        self.set_weekly_targets()

        # Households: each cadre links about ten in its own grid; a grid is one or more buildings.
        linked = [self.workers[k % cadre_count] for k in range(self.household_count)]
        per_grid = Counter(worker.grid for worker in linked)
        slots: dict[str, list[tuple[str, str, str]]] = {}
        for index, grid in enumerate(grid_ids):
            capacity = FLOORS * UNITS * ROOMS_PER_FLOOR
            buildings = max(1, math.ceil(per_grid[grid] / capacity))
            every = [
                (f"{index + 1 + GRID_COUNT * b}栋", f"{u}单元", f"{f}{r:02d}")
                for b in range(buildings)
                for u in range(1, UNITS + 1)
                for f in range(1, FLOORS + 1)
                for r in range(1, ROOMS_PER_FLOOR + 1)
            ]
            slots[grid] = self.rng.sample(every, per_grid[grid])
        supervisor = self.supervisors[0].actor
        moment = max(moment, datetime.combine(moment.date(), time(9, 0), tzinfo=self.zone))
        # About 200 s a household, faster when there are too many for the office hours left.
        office_seconds = (SETUP_DAYS - 0.5) * 9 * 3600
        self.pace = min(1.0, office_seconds / (self.household_count * 200))
        for worker in linked:
            assert worker.grid is not None
            moment += timedelta(seconds=self.rng.uniform(40, 150) * self.pace)
            moment = self.working_time(moment)
            self.register(worker, slots[worker.grid].pop(), moment, supervisor)
            moment += timedelta(seconds=self.rng.uniform(60, 150) * self.pace)
        if moment >= self.history_from:
            raise AssertionError("the set-up ran into the history")

    def set_weekly_targets(self) -> None:
        for worker in self.workers:
            kind = self.rng.random()
            if kind < 0.35:
                worker.weekly_target = self.rng.randint(20, 25)  # meets the quota
            elif kind < 0.85:
                worker.weekly_target = self.rng.randint(12, 19)
            else:
                worker.weekly_target = self.rng.randint(5, 9)

    def working_time(self, moment: datetime) -> datetime:
        """The same moment if within office hours, else 09:00 on the next working morning."""
        local = moment.astimezone(self.zone)
        if local.hour >= 18:
            day = local.date() + timedelta(days=1)
            return datetime.combine(day, time(9, 0), tzinfo=self.zone) + timedelta(
                seconds=self.rng.uniform(0, 600)
            )
        return moment

    def register(
        self, worker: _Worker, slot: tuple[str, str, str], moment: datetime, supervisor: Actor
    ) -> _Home:
        rng = self.rng
        elderly_alone = rng.random() < ELDERLY_ALONE_RATE
        tags = {tag for tag, rate in TAG_RATES.items() if rng.random() < rate}
        if elderly_alone:
            tags.add("elderly_alone")
            tags.discard("left_behind_children")
            members = 1
        else:
            members = rng.choices([1, 2, 3, 4, 5, 6, 7], [3, 10, 20, 28, 21, 12, 6])[0]
            if "left_behind_children" in tags:
                members = max(members, 3)
        male = rng.random() < (0.55 if elderly_alone else 0.78)
        head = self.person_name(young=False, male=male)
        born = self.birth_date(elderly_alone or rng.random() < 0.15)
        township = rng.choices(list(ORIGINS), ORIGIN_WEIGHTS)[0]
        region, villages = ORIGINS[township]
        if "no_labour" in tags or elderly_alone:
            labour = 0
        else:
            labour = min(members, rng.choices([1, 2, 3, 4], [25, 50, 18, 7])[0])
        if labour and rng.random() < ZERO_EMPLOYMENT_RATE:
            employed = 0
        else:
            employed = rng.randint(max(1, labour - 1), labour) if labour else 0
        phone = None if elderly_alone and rng.random() < 0.3 else self.phone_number()
        building, unit, room = slot

        self.now_at(moment)
        view, _ = self.s.households.register(
            worker.actor,
            community_id=COMMUNITY[0],
            grid_id=worker.grid or "",
            head_name=head,
            member_count=members,
            phone=phone,
            id_number=self.id_number(region, born, male),
            address={"building": building, "unit": unit, "room": room},
            origin={"township": township, "village": rng.choice(villages)},
            relocated_on=self.relocation_date(),
            tags=sorted(tags),
        )
        self.tick()
        self.now_at(moment + timedelta(seconds=rng.uniform(5, 40) * self.pace))
        self.s.households.assign_contact_cadre(supervisor, view.id, cadre_id=worker.id)
        self.tick()
        self.now_at(moment + timedelta(seconds=rng.uniform(45, 90) * self.pace))
        note = None
        if labour and not employed:
            note = "家庭劳动力均未就业，列为零就业家庭重点帮扶"
        elif employed:
            note = rng.choice(["在园区扶贫车间务工", "在县城务工", "外出务工（浙江）", None])
        self.s.households.record_employment(
            worker.actor, view.id, labour_force=labour, employed=employed, note=note
        )
        self.tick()
        self.cast.employment_records += 1
        home = _Home(
            id=view.id,
            grid=worker.grid or "",
            head=head,
            tags=tags,
            members=members,
            labour=labour,
            employed=employed,
            building=building,
            unit=unit,
            room=room,
            contacts=[(moment, worker.id)],
        )
        self.homes.append(home)
        self.cast.household_ids.append(view.id)
        self.cast.households += 1
        return home

    # -- personal details ---------------------------------------------------------

    def person_name(self, *, young: bool, male: bool | None = None) -> str:
        rng = self.rng
        surname = rng.choices(list(SURNAMES), list(SURNAMES.values()))[0]
        if male is None:
            male = rng.random() < 0.5
        if young:
            pool = YOUNG_GIVEN + (MALE_GIVEN if male else FEMALE_GIVEN)
        else:
            pool = MALE_GIVEN if male else FEMALE_GIVEN
        length = 2 if rng.random() < 0.72 else 1
        return surname + "".join(rng.choice(pool) for _ in range(length))

    def birth_date(self, old: bool) -> date:
        year = self.rng.randint(1938, 1956) if old else self.rng.randint(1957, 2000)
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    def id_number(self, region: str, born: date, male: bool) -> str:
        """A valid ID number no other head of the demo has (one is refused twice)."""
        while True:
            sequence = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            body = f"{region}{born:%Y%m%d}{sequence:03d}"
            total = sum(int(d) * weight for d, weight in zip(body, ID_WEIGHTS, strict=True))
            number = body + ID_CHECK[total % 11]
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def phone_number(self) -> str:
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def relocation_date(self) -> date:
        start = date(2017, 3, 1)
        return start + timedelta(days=self.rng.randrange((date(2020, 12, 20) - start).days))

    # -- the weeks of history ---------------------------------------------------

    def plan_history(self) -> None:
        self.plan_reassignments()
        self.plan_routine_visits()
        self.plan_corrections()
        self.plan_life_events()
        self.plan_household_updates()
        self.plan_grievances()

    def daytime(self, day: date, start: float = 8.5, end: float = 18.5) -> datetime:
        hours = self.rng.uniform(start, end)
        return datetime.combine(day, time(0, 0), tzinfo=self.zone) + timedelta(hours=hours)

    def days(self) -> list[date]:
        first, last = self.history_from.date(), self.limit.date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def plan_reassignments(self) -> None:
        """A couple of households change contact cadre (who was responsible when)."""
        by_grid: dict[str, list[_Worker]] = {}
        for worker in self.workers:
            by_grid.setdefault(worker.grid or "", []).append(worker)
        candidates = [h for h in self.homes if len(by_grid.get(h.grid, [])) > 1]
        day = self.history_from.date() + timedelta(days=1)
        supervisor = self.supervisors[0].actor
        for home in self.rng.sample(candidates, min(2, len(candidates))):
            moment = self.daytime(day, 9, 11)
            old = home.cadre_at(moment)
            new = self.rng.choice([w for w in by_grid[home.grid] if w.id != old])
            home.contacts.append((moment, new.id))

            def run(home_id: str = home.id, cadre: str = new.id) -> None:
                self.s.households.assign_contact_cadre(supervisor, home_id, cadre_id=cadre)
                self.cast.contact_reassignments += 1

            self.at(moment, run)

    def plan_routine_visits(self) -> None:
        weekday_weight = [1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.05]
        per_week = sum(weekday_weight)
        # Most households keep one contact cadre throughout; look the others up each time.
        steady: dict[str, list[_Home]] = {}
        for home in self.homes:
            if len(home.contacts) == 1:
                steady.setdefault(home.contacts[0][1], []).append(home)
        moved = [home for home in self.homes if len(home.contacts) > 1]
        for day in self.days():
            for worker in self.workers:
                expected = worker.weekly_target * weekday_weight[day.weekday()] / per_week
                count = int(expected + self.rng.random())
                for _ in range(count):
                    visited_at = self.daytime(day)
                    if visited_at > self.limit - timedelta(minutes=30):
                        continue
                    linked = steady.get(worker.id, []) + [
                        h for h in moved if h.cadre_at(visited_at) == worker.id
                    ]
                    if not linked:
                        break
                    home = self.least_recent(linked)
                    self.plan_routine_visit(worker, home, visited_at)

    def least_recent(self, homes: Sequence[_Home]) -> _Home:
        pair = [self.rng.choice(homes) for _ in range(3)]
        oldest = datetime.min.replace(tzinfo=self.zone)
        return min(pair, key=lambda h: h.last_visit or oldest)

    def plan_routine_visit(self, worker: _Worker, home: _Home, visited_at: datetime) -> _Ref:
        rng = self.rng
        channel = rng.choices(["in_person", "phone", "online"], [80, 14, 6])[0]
        if "elderly_alone" in home.tags:
            channel = "in_person"
        if visited_at.hour >= 18 and channel == "in_person" and rng.random() < 0.5:
            channel = "phone"
        if channel == "phone":
            notes = rng.choice(PHONE_NOTES)
        elif channel == "online":
            notes = rng.choice(ONLINE_NOTES)
        else:
            pool = list(ROUTINE_NOTES)
            for tag in home.tags:
                pool += TAG_NOTES.get(tag, []) * 2
            if home.labour and not home.employed:
                pool += [ZERO_EMPLOYMENT_NOTE] * 3
            notes = rng.choice(pool)
        home.last_visit = max(home.last_visit or visited_at, visited_at)
        return self.plan_visit(worker.actor, home, visited_at, channel, "routine", notes)

    def record_delay(self, visited_at: datetime) -> datetime:
        """When a cadre gets round to logging a visit: mostly soon, sometimes days later."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            delay = timedelta(hours=rng.uniform(50, 140))  # late-logged (补录)
        elif roll < 0.15:
            delay = timedelta(hours=rng.uniform(2, 20))
        else:
            delay = timedelta(minutes=rng.uniform(2, 90))
        if visited_at + delay > self.limit:
            delay = min(timedelta(minutes=rng.uniform(2, 20)), self.limit - visited_at)
        return self.by_day(visited_at + delay)

    def by_day(self, moment: datetime) -> datetime:
        """``morning(moment)``, unless that would be in the future."""
        pushed = self.morning(moment)
        return pushed if pushed <= self.limit else moment

    def plan_visit(
        self,
        actor: Actor,
        home: _Home,
        visited_at: datetime,
        channel: str,
        purpose: str,
        notes: str,
        *,
        recorded_at: datetime | None = None,
        life_event: _Ref | None = None,
        case: _Ref | None = None,
    ) -> _Ref:
        ref = _Ref()
        recorded = recorded_at or self.record_delay(visited_at)

        def run() -> None:
            view, _ = self.s.visits.log(
                actor,
                household_id=home.id,
                visited_at=visited_at,
                channel=channel,
                purpose=purpose,
                notes=notes,
                life_event_id=life_event.get() if life_event else None,
                grievance_id=case.get() if case else None,
            )
            ref.id = view.id
            self.cast.visits += 1
            self.cast.late_logged_visits += int(view.late_logged)
            self.cast.mandatory_visits += int(purpose == "mandatory")

        self.at(recorded, run)
        return ref

    def plan_corrections(self) -> None:
        """A few visits amended, two voided: one a duplicate entry, one the wrong household."""
        rng = self.rng
        cutoff = self.limit - timedelta(days=2)
        workers = [w for w in self.workers if any(h.cadre_at(cutoff) == w.id for h in self.homes)]
        for index in range(min(6, len(workers))):
            worker = workers[index]
            homes = [h for h in self.homes if h.cadre_at(cutoff) == worker.id]
            home = rng.choice(homes)
            day = self.history_from.date() + timedelta(
                days=rng.randrange(max(1, self.weeks * 7 - 3))
            )
            visited_at = self.daytime(day, 9, 17)
            recorded = visited_at + timedelta(minutes=rng.uniform(5, 40))
            if recorded + 2 * HOUR > self.limit:
                continue
            if index < 3:
                ref = self.plan_visit(
                    worker.actor, home, visited_at, "in_person", "routine",
                    "入户走访，了解家庭近况。", recorded_at=recorded,
                )  # fmt: skip
                amended = rng.choice(
                    [
                        "入户走访，了解家庭近况。户主反映孩子下学期转学，已告知办理流程。",
                        "入户走访，了解家庭近况。老人血压偏高，已联系家庭医生随访。",
                        "入户走访，了解家庭近况。家中一名劳动力有就业意愿，已登记推荐。",
                    ]
                )
                self.at(
                    recorded + timedelta(hours=rng.uniform(1, 20)),
                    partial(self.amend, worker, ref, amended),
                )
            elif index == 3:
                self.plan_visit(
                    worker.actor, home, visited_at, "in_person", "routine",
                    "入户走访，宣传医保缴费政策。", recorded_at=recorded,
                )  # fmt: skip
                duplicate = self.plan_visit(
                    worker.actor, home, visited_at, "in_person", "routine",
                    "入户走访，宣传医保缴费政策。", recorded_at=recorded + timedelta(minutes=3),
                )  # fmt: skip
                self.at(
                    recorded + timedelta(hours=rng.uniform(1, 6)),
                    partial(self.void, worker, duplicate, "网络卡顿导致重复提交，作废重复记录"),
                )
            elif index == 4:
                others = [h for h in homes if h is not home]
                if not others:
                    continue
                wrong = self.plan_visit(
                    worker.actor, home, visited_at, "in_person", "routine",
                    "入户走访，了解就业情况。", recorded_at=recorded,
                )  # fmt: skip
                fixed_at = recorded + timedelta(hours=rng.uniform(1, 6))
                self.at(
                    fixed_at,
                    partial(self.void, worker, wrong, "误选同楼栋其他住户，作废后重新录入"),
                )
                self.plan_visit(
                    worker.actor, others[0], visited_at, "in_person", "routine",
                    "入户走访，了解就业情况。", recorded_at=fixed_at + timedelta(minutes=4),
                )  # fmt: skip
            else:
                # A supervisor corrects a cadre's record after a spot check.
                ref = self.plan_visit(
                    worker.actor, home, visited_at, "phone", "routine",
                    "电话联系了解近况。", recorded_at=recorded,
                )  # fmt: skip
                self.at(
                    recorded + timedelta(hours=rng.uniform(1, 20)),
                    partial(
                        self.amend,
                        self.supervisors[0],
                        ref,
                        "电话联系了解近况。经核实户主当时在外务工，由其妻子接听。",
                        "抽查回访发现记录不完整，补充接听人信息",
                    ),
                )

    def amend(self, worker: _Worker, ref: _Ref, notes: str, reason: str = "") -> None:
        self.s.visits.amend(
            worker.actor, ref.get(), notes=notes, reason=reason or "补充遗漏的走访内容"
        )
        self.cast.amended_visits += 1

    def void(self, worker: _Worker, ref: _Ref, reason: str) -> None:
        self.s.visits.void(worker.actor, ref.get(), reason=reason)
        self.cast.voided_visits += 1

    # -- life events and their mandatory visits (五访) ------------------------------

    def plan_life_events(self) -> None:
        rng = self.rng
        count = max(len(LifeEventKind), round(self.household_count * self.weeks / 60))
        kinds = [kind.value for kind in LifeEventKind]
        kinds += rng.choices(
            list(LIFE_EVENT_WEIGHTS), list(LIFE_EVENT_WEIGHTS.values()), k=count - len(kinds)
        )
        overdue = set(rng.sample(range(count), max(2, count // 8)))
        last_day = (self.limit - 12 * HOUR).date()
        for index, kind in enumerate(kinds):
            days_due = MANDATORY_VISIT_DAYS[LifeEventKind(kind)]
            force_overdue = index in overdue
            latest = last_day - timedelta(days=days_due + 2) if force_overdue else last_day
            if latest < self.history_from.date():
                force_overdue, latest = False, last_day
            span = (latest - self.history_from.date()).days
            occurred = self.history_from.date() + timedelta(days=rng.randint(0, max(0, span)))
            homes = self.homes
            if kind == "illness":
                frail = [h for h in homes if h.tags & {"elderly_alone", "disability"}]
                if frail and rng.random() < 0.5:
                    homes = frail
            home = rng.choice(homes)
            reported = self.daytime(occurred, 8, 20) + timedelta(hours=rng.uniform(0, 26))
            reported = self.by_day(min(reported, self.limit - timedelta(minutes=5)))
            self.plan_life_event(home, kind, occurred, reported, force_overdue)

    def plan_life_event(
        self, home: _Home, kind: str, occurred: date, reported: datetime, overdue: bool
    ) -> None:
        rng = self.rng
        cadre = self.worker(home.cadre_at(reported))
        event = _Ref()
        note = rng.choice(LIFE_EVENT_NOTES[kind])

        def run() -> None:
            recorded, _ = self.s.households.report_life_event(
                cadre.actor, home.id, kind=kind, occurred_on=occurred, note=note
            )
            event.id = recorded.life_event_id
            self.cast.life_events += 1

        self.at(reported, run)
        due_by = occurred + timedelta(days=MANDATORY_VISIT_DAYS[LifeEventKind(kind)])
        due_end = datetime.combine(due_by + timedelta(days=1), time(0, 0), tzinfo=self.zone)
        window_end = min(due_end, self.limit) - HOUR
        start = reported + HOUR / 2
        notes = MANDATORY_NOTES[kind]
        if overdue:
            if rng.random() < 0.5 and start < window_end:
                # Only a phone call: it counts as a contact but does not satisfy the visit.
                called = start + (window_end - start) * rng.random()
                self.plan_visit(
                    cadre.actor, home, called, "phone", "mandatory", "电话慰问，约定近日上门。",
                    life_event=event, recorded_at=called + timedelta(minutes=rng.uniform(3, 30)),
                )  # fmt: skip
            return
        if start >= window_end:
            late_from = max(start, due_end + 2 * HOUR)
            if late_from + HOUR < self.limit:
                visited = late_from + (self.limit - HOUR - late_from) * rng.random() * 0.5
                self.plan_mandatory(cadre, home, visited, notes, event)
            return
        roll = rng.random()
        if due_end > self.limit and roll < 0.35:
            return  # still pending: not yet visited, not yet due
        if roll > 0.88:
            called = start + (window_end - start) * rng.random() * 0.3
            self.plan_visit(
                cadre.actor, home, called, "phone", "mandatory", "电话慰问，了解基本情况。",
                life_event=event, recorded_at=called + timedelta(minutes=rng.uniform(3, 30)),
            )  # fmt: skip
            start = called + HOUR
            if start >= window_end:
                return
        visited = start + (window_end - start) * rng.random()
        self.plan_mandatory(cadre, home, visited, notes, event)

    def plan_mandatory(
        self, cadre: _Worker, home: _Home, visited: datetime, notes: str, event: _Ref
    ) -> None:
        morning = self.morning(visited)
        if morning + 2 * HOUR < self.limit:
            visited = morning
        recorded = min(visited + timedelta(minutes=self.rng.uniform(5, 120)), self.limit)
        self.plan_visit(
            cadre.actor, home, visited, "in_person", "mandatory", notes,
            life_event=event, recorded_at=recorded,
        )  # fmt: skip

    def worker(self, account_id: str) -> _Worker:
        for worker in [*self.workers, *self.supervisors]:
            if worker.id == account_id:
                return worker
        raise KeyError(account_id)

    # -- tags and employment over the weeks --------------------------------------------

    def plan_household_updates(self) -> None:
        rng = self.rng
        days = self.days()[:-1] or self.days()
        changes = max(2, self.household_count // 30)
        for _ in range(changes):
            home = rng.choice(self.homes)
            moment = self.daytime(rng.choice(days), 9, 17)
            if not home.labour:
                continue
            if home.employed:
                if rng.random() < 0.3:
                    employed, note = 0, "务工企业停产，家庭劳动力暂时失业"
                elif home.employed < home.labour:
                    employed, note = home.employed + 1, "新增一人在县城务工"
                else:
                    employed, note = home.employed, "核实就业情况，仍在园区务工"
            else:
                employed, note = 1, "经推荐在园区扶贫车间就业"
            home.employed = employed
            self.at(moment, self.employment_step(home, moment, employed, note))
        tagged = 0
        for home in rng.sample(self.homes, len(self.homes)):
            if tagged >= max(2, self.household_count // 60):
                break
            moment = self.daytime(rng.choice(days), 9, 17)
            if "low_income" not in home.tags and home.members > 1:
                add, remove = ["low_income"], []
            elif "left_behind_children" in home.tags:
                add, remove = [], ["left_behind_children"]  # parents now work nearby
            else:
                continue
            home.tags = (home.tags | set(add)) - set(remove)
            cadre = self.worker(home.cadre_at(moment)).actor

            def run(
                home_id: str = home.id,
                add: list[str] = add,
                remove: list[str] = remove,
                cadre: Actor = cadre,
            ) -> None:
                self.s.households.change_tags(cadre, home_id, add=add, remove=remove)
                self.cast.tag_changes += 1

            self.at(moment, run)
            tagged += 1

    def employment_step(
        self, home: _Home, moment: datetime, employed: int, note: str
    ) -> Callable[[], None]:
        cadre = self.worker(home.cadre_at(moment))
        labour = home.labour

        def run() -> None:
            self.s.households.record_employment(
                cadre.actor, home.id, labour_force=labour, employed=employed, note=note
            )
            self.cast.employment_records += 1

        return run

    # -- grievances --------------------------------------------------------------------

    def plan_grievances(self) -> None:
        rng = self.rng
        count = max(len(REQUIRED_SCENARIOS), round(self.household_count / 5))
        scenarios = list(REQUIRED_SCENARIOS)
        scenarios += rng.choices(
            list(SCENARIO_WEIGHTS), list(SCENARIO_WEIGHTS.values()), k=count - len(scenarios)
        )
        rng.shuffle(scenarios)
        planned: list[_Planned] = []
        merges = 0
        for scenario in scenarios:
            if scenario == "merged":
                merges += 1
                continue
            planned.append(self.plan_case(scenario))
        for _ in range(merges):
            self.plan_merge(planned)

    def choose_matter(self, scenario: str) -> Matter:
        if scenario in ("in_progress_overdue", "closed_late"):
            pool = [m for m in MATTERS if m.urgency in ("urgent", "emergency")]
        elif scenario == "extended":
            pool = [m for m in MATTERS if m.urgency == "normal" and m.outcome == "resolved"]
        elif scenario in ("filed", "filed_overdue", "assigned", "assigned_overdue", "in_progress"):
            pool = [m for m in MATTERS if m.urgency in ("normal", "complex")]
        elif scenario in ("escalated", "escalated_twice"):
            # Matters that need departments beyond the grid.
            pool = [m for m in MATTERS if m.outcome == "resolved" and (
                m.urgency == "complex" or m.category in ("housing", "facilities", "safety"))]  # fmt: skip
        elif scenario == "reopened":
            pool = [m for m in MATTERS if m.category in ("housing", "facilities", "environment")
                    and m.outcome == "resolved"]  # fmt: skip
        elif scenario == "closed_unsolved":
            pool = [m for m in MATTERS if m.outcome != "resolved"]
        else:
            pool = [m for m in MATTERS if m.outcome == "resolved" or self.rng.random() < 0.5]
        return self.rng.choice(pool)

    def choose_home(self, matter: Matter) -> _Home:
        rng = self.rng
        preferred: list[_Home] = []
        if matter.category == "employment":
            preferred = [h for h in self.homes if h.labour and not h.employed]
        elif matter.category == "social_assistance":
            wanted = {"low_income", "disability", "elderly_alone", "no_labour"}
            preferred = [h for h in self.homes if h.tags & wanted]
        elif matter.category == "education":
            preferred = [h for h in self.homes if h.members >= 3]
        if preferred and rng.random() < 0.8:
            return rng.choice(preferred)
        return rng.choice(self.homes)

    def windows(self, urgency: str) -> tuple[float, float]:
        respond = self.policy.respond_within[Urgency(urgency)] / HOUR
        resolve = self.policy.resolve_within[Urgency(urgency)] / HOUR
        return respond, resolve

    def plan_case(self, scenario: str) -> _Planned:
        rng = self.rng
        matter = self.choose_matter(scenario)
        home = self.choose_home(matter)
        respond, resolve = self.windows(matter.urgency)
        emergency = matter.urgency == "emergency"
        channel = rng.choices(list(INTAKE_CHANNELS), list(INTAKE_CHANNELS.values()))[0]
        if emergency:
            channel = rng.choice(["hotline", "walk_in", "visit"])
        elif channel == "opinion_box" and not scenario.startswith(("closed", "resolved")):
            channel = "wechat"
        grid_cadres = [w for w in self.workers if w.grid == home.grid]
        supervisor, reviewer = self.supervisors[0], self.supervisors[1]
        steps: list[_Step] = []

        # Intake: a visit that raised it, or a call, a walk-in, a message, the box.
        t = 0.0
        if channel == "visit":
            t = rng.uniform(0.2, 3 if not emergency else 0.5)
            steps.append(_Step(t, "intake_visit"))
            t += rng.uniform(0.05, 0.4)
        elif channel == "opinion_box":
            t = rng.uniform(12, 60)
        elif channel in ("online", "wechat"):
            t = rng.uniform(0.3, 6)
        else:
            t = rng.uniform(0.1, 0.4 if emergency else 1.5)
        steps.append(_Step(t, "file"))

        def after(low: float, high: float) -> float:
            nonlocal t
            t += rng.uniform(low, high)
            return t

        def assign(assignee: _Worker, by: _Worker = supervisor) -> None:
            steps.append(
                _Step(after(respond * 0.04, respond * 0.25), "assign", {"to": assignee, "by": by})
            )

        def accept(assignee: _Worker) -> None:
            steps.append(_Step(after(respond * 0.04, respond * 0.3), "accept", {"by": assignee}))

        def note(assignee: _Worker) -> None:
            steps.append(_Step(after(2, max(3, resolve * 0.2)), "note", {"by": assignee}))

        def resolve_case(assignee: _Worker, late: bool = False) -> None:
            share = rng.uniform(1.05, 1.3) if late else rng.uniform(0.12, 0.6)
            # A complex case may take two months; in a demo it settles within about two weeks.
            when = max(t + 1.2, min(resolve, 360) * share)
            if late:
                urged = resolve + (when - resolve) * rng.uniform(0.2, 0.6)
                steps.append(_Step(max(t + 0.1, urged), "urge", {"by": supervisor}))
            if rng.random() < 0.6:
                visited = max(t + 0.2, when - rng.uniform(0.5, 2))
                steps.append(_Step(visited, "follow_up", {"by": assignee}))
            steps.append(_Step(when, "resolve", {"by": assignee, "outcome": matter.outcome}))
            set_t(when)

        def set_t(value: float) -> None:
            nonlocal t
            t = value

        def feedback(rating: str, solved: bool) -> None:
            steps.append(
                _Step(
                    after(6, 60), "feedback", {"by": reviewer, "rating": rating, "solved": solved}
                )
            )

        cadre = rng.choice(grid_cadres) if grid_cadres else self.worker(home.contacts[0][1])
        if rng.random() < 0.5:
            cadre = self.worker(home.cadre_at(self.limit))
        lo, hi = 0.0, math.inf  # how long ago it was received, in hours

        if scenario == "filed":
            hi = respond * 0.7
        elif scenario == "filed_overdue":
            lo, hi = respond + 6, respond + 120
        elif scenario == "assigned":
            assign(cadre)
            hi = respond * 0.9
        elif scenario == "assigned_overdue":
            assign(cadre)
            steps.append(_Step(max(t, respond) + rng.uniform(2, 20), "urge", {"by": supervisor}))
            lo, hi = steps[-1].hours + 1, steps[-1].hours + 72
        elif scenario == "in_progress":
            assign(cadre)
            accept(cadre)
            note(cadre)
            hi = resolve * 0.85
        elif scenario == "in_progress_overdue":
            assign(cadre)
            accept(cadre)
            note(cadre)
            set_t(max(t, resolve) + rng.uniform(3, 20))
            steps.append(_Step(t, "urge", {"by": supervisor}))
            if rng.random() < 0.5:
                steps.append(_Step(after(24, 48), "urge", {"by": supervisor}))
            lo, hi = t + 1, t + 96
        elif scenario == "extended":
            assign(cadre)
            accept(cadre)
            note(cadre)
            set_t(max(t + 2, resolve * rng.uniform(0.7, 0.9)))
            days = rng.choice([10, 15, 20, 30])
            steps.append(_Step(t, "extend", {"by": supervisor, "days": days}))
            lo, hi = t + 1, resolve + days * 24 - 24
        elif scenario == "resolved":
            assign(cadre)
            accept(cadre)
            resolve_case(cadre)
            lo, hi = t + 1, t + 40
        elif scenario in ("closed", "closed_basic", "closed_unsolved", "closed_late"):
            assign(cadre)
            accept(cadre)
            resolve_case(cadre, late=scenario == "closed_late")
            if scenario == "closed":
                feedback("satisfied", True)
            elif scenario == "closed_unsolved":
                feedback("basically_satisfied", False)
            else:
                feedback(rng.choice(["satisfied", "basically_satisfied"]), True)
        elif scenario == "closed_by_supervisor":
            assign(cadre)
            accept(cadre)
            resolve_case(cadre)
            steps.append(_Step(after(72, 120), "close", {"by": supervisor}))
        elif scenario == "reopened":
            assign(cadre)
            accept(cadre)
            resolve_case(cadre)
            steps.append(
                _Step(
                    after(12, 48),
                    "feedback",
                    {"by": reviewer, "rating": "unsatisfied", "solved": False},
                )
            )
            steps.append(
                _Step(after(2, 10), "note", {"by": cadre, "text": "已再次联系维修单位返工处理。"})
            )
            lo, hi = t + 1, t + 120
        elif scenario == "withdrawn":
            if rng.random() < 0.5:
                assign(cadre)
            steps.append(_Step(after(4, 48), "withdraw", {"by": cadre}))
        elif scenario == "escalated":
            assign(cadre)
            accept(cadre)
            steps.append(_Step(after(4, 24), "escalate", {"by": cadre}))
            assign(supervisor)
            accept(supervisor)
            resolve_case(supervisor)
            feedback(rng.choice(["satisfied", "basically_satisfied"]), True)
        elif scenario == "escalated_twice":
            assign(cadre)
            accept(cadre)
            steps.append(_Step(after(4, 24), "escalate", {"by": cadre}))
            assign(supervisor)
            accept(supervisor)
            steps.append(_Step(after(12, 48), "escalate", {"by": supervisor}))
        elif scenario == "declined":
            others = [w for w in grid_cadres if w is not cadre] or [supervisor]
            assign(cadre)
            steps.append(_Step(after(0.5, 6), "decline", {"by": cadre}))
            other = rng.choice(others)
            assign(other)
            accept(other)
            resolve_case(other)
            feedback("satisfied", True)
        else:
            raise ValueError(f"unknown scenario {scenario}")

        received = self.received_at(steps, lo, hi, matter.urgency, channel)
        case = _Ref()
        self.plan_case_steps(case, home, matter, channel, received, steps)
        if (
            matter.category == "employment"
            and scenario in ("closed", "closed_basic")
            and home.labour
            and not home.employed
        ):
            moment = received + timedelta(hours=steps[-1].hours + rng.uniform(24, 72))
            if moment < self.limit:
                home.employed = 1
                self.at(moment, self.employment_step(home, moment, 1, "经社区推荐实现就业"))
        filed = next(step.hours for step in steps if step.verb == "file")
        return _Planned(case, home, matter, received, received + timedelta(hours=filed))

    def received_at(
        self, steps: list[_Step], lo: float, hi: float, urgency: str, channel: str
    ) -> datetime:
        """When the resident raised it: late enough that each step is past, early enough for hi.

        Outside an emergency, nobody works at night: a step that would fall between
        22:00 and 07:00 waits for the next morning (the hotline and online messages
        still come in at any hour).
        """
        history = (self.limit - self.history_from) / HOUR
        last = max(step.hours for step in steps)
        lower = max(lo, last + 0.5)
        upper = min(hi, history)
        if lower > upper:
            # A short history: squeeze the case's timeline to fit.
            factor = max(0.05, (upper - 0.5) / lower)
            for step in steps:
                step.hours *= factor
            lower = upper = max(0.5, upper)
        received = self.limit - timedelta(hours=self.rng.uniform(lower, upper))
        if urgency == "emergency":
            return received
        start = received if channel in ("hotline", "online", "wechat") else self.morning(received)
        previous = start
        moved: list[tuple[_Step, datetime]] = []
        for step in sorted(steps, key=lambda s: s.hours):
            moment = max(self.morning(received + timedelta(hours=step.hours)), previous)
            moment += timedelta(seconds=self.rng.uniform(20, 90)) if moment == previous else ZERO
            moved.append((step, moment))
            previous = moment
        if previous <= self.limit:
            for step, moment in moved:
                step.hours = (moment - start) / HOUR
            return start
        return received

    def morning(self, moment: datetime) -> datetime:
        """The moment itself by day; at night (22:00-07:00) early the next morning."""
        local = moment.astimezone(self.zone)
        if 7 <= local.hour < 22:
            return moment
        day = local.date() + timedelta(days=1 if local.hour >= 22 else 0)
        return datetime.combine(day, time(7, 30), tzinfo=self.zone) + timedelta(
            minutes=self.rng.uniform(0, 90)
        )

    def plan_case_steps(
        self,
        case: _Ref,
        home: _Home,
        matter: Matter,
        channel: str,
        received: datetime,
        steps: list[_Step],
    ) -> None:
        rng = self.rng
        filer = self.worker(home.cadre_at(received))
        visit: _Ref | None = None
        parties: list[object] | None = None
        if matter.category == "neighbour_dispute":
            neighbours = [h for h in self.homes if h.grid == home.grid and h is not home]
            if neighbours:
                other = rng.choice(neighbours)
                parties = [
                    {"role": "申请人", "name": home.head, "household_id": home.id},
                    {"role": "被申请人", "name": other.head, "household_id": other.id},
                ]
        description = None
        if rng.random() < 0.6:
            description = f"{home.building}{home.unit}{home.room}住户反映：{matter.summary}。"

        for step in steps:
            moment = received + timedelta(hours=step.hours)
            by = step.args.get("by")
            actor = by.actor if isinstance(by, _Worker) else filer.actor
            if step.verb == "intake_visit":
                visit = self.plan_visit(
                    filer.actor, home, received, "in_person", "routine",
                    f"入户走访，户主反映：{matter.summary}。已登记诉求。", recorded_at=moment,
                )  # fmt: skip
            elif step.verb == "follow_up":
                self.plan_visit(
                    actor, home, moment, "in_person", "follow_up",
                    f"上门回访：{matter.resolution}。", case=case,
                    recorded_at=moment + timedelta(minutes=rng.uniform(3, 20)),
                )  # fmt: skip
            else:
                run = self.case_step(case, step, actor, matter, home, channel, received,
                                     description, parties, visit)  # fmt: skip
                self.at(moment, run)

    def case_step(
        self,
        case: _Ref,
        step: _Step,
        actor: Actor,
        matter: Matter,
        home: _Home,
        channel: str,
        received: datetime,
        description: str | None,
        parties: list[object] | None,
        visit: _Ref | None,
    ) -> Callable[[], None]:
        rng = self.rng
        g = self.s.grievances
        verb, args = step.verb, step.args

        if verb == "file":

            def file() -> None:
                view, _ = g.file(
                    actor,
                    household_id=home.id,
                    category=matter.category,
                    urgency=matter.urgency,
                    channel=channel,
                    summary=matter.summary,
                    description=description,
                    received_at=received,
                    visit_id=visit.get() if visit else None,
                    parties=parties,
                )
                case.id = view.id
                self.cast.grievances += 1
                self.cast.grievance_ids.append(view.id)

            return file
        if verb == "assign":
            to = args["to"]
            assert isinstance(to, _Worker)
            assign_note = rng.choice([None, "请尽快联系住户", "请于时限内办结并反馈"])
            return lambda: self.ignore(
                g.assign(actor, case.get(), assignee_id=to.id, note=assign_note)
            )
        if verb == "accept":
            return lambda: self.ignore(g.accept(actor, case.get()))
        if verb == "decline":

            def decline() -> None:
                g.decline(
                    actor, case.get(), reason="涉及燃气公司专业维修，非本人能力范围，建议改派"
                )
                self.cast.declines += 1

            return decline
        if verb == "note":
            text = str(args.get("text") or rng.choice(PROGRESS_NOTES))
            return lambda: self.ignore(g.note(actor, case.get(), text=text))
        if verb == "urge":

            def urge() -> None:
                g.urge(actor, case.get(), note="已超期，请加快办理并当日反馈进展")
                self.cast.urges += 1

            return urge
        if verb == "extend":
            days = int(str(args["days"]))

            def extend() -> None:
                g.extend(
                    actor, case.get(), days=days, reason="需协调住建部门和施工单位，申请延期办理"
                )
                self.cast.extensions += 1

            return extend
        if verb == "escalate":

            def escalate() -> None:
                g.escalate(actor, case.get(), reason="涉及多个部门，网格层面无法协调，提请上级协调")
                self.cast.escalations += 1

            return escalate
        if verb == "resolve":
            outcome = str(args["outcome"])
            return lambda: self.ignore(
                g.resolve(actor, case.get(), resolution=matter.resolution, outcome=outcome)
            )
        if verb == "feedback":
            rating, solved = str(args["rating"]), bool(args["solved"])
            comments: dict[str, list[str | None]] = {
                "satisfied": ["处理及时，非常满意", "感谢社区", None],
                "basically_satisfied": ["基本满意，希望以后更快一些", "理解政策规定", None],
                "unsatisfied": ["问题还没有解决，渗漏依旧", "维修后又出现同样的问题"],
            }
            comment = rng.choice(comments[rating])

            def feedback() -> None:
                view, _ = g.give_feedback(
                    actor, case.get(), rating=rating, solved=solved, comment=comment
                )
                self.cast.reopened += int(view.reopen_count > 0 and rating == "unsatisfied")

            return feedback
        if verb == "close":
            return lambda: self.ignore(
                g.close(actor, case.get(), note="三次电话回访未接通，按规定办结销号")
            )
        if verb == "withdraw":
            return lambda: self.ignore(
                g.withdraw(actor, case.get(), reason="居民表示问题已自行解决，申请撤回")
            )
        raise ValueError(f"unknown step {verb}")

    @staticmethod
    def ignore(_: object) -> None:
        return None

    def plan_merge(self, planned: list[_Planned]) -> None:
        """A second household reports the same matter; a supervisor merges it into the first."""
        rng = self.rng
        old_enough = [p for p in planned if p.filed < self.limit - 12 * HOUR]
        same_place = [p for p in old_enough if p.matter.category in ("facilities", "environment")]
        target = rng.choice(same_place or old_enough or planned)
        neighbours = [h for h in self.homes if h.building == target.home.building]
        home = rng.choice([h for h in neighbours if h is not target.home] or self.homes)
        received = target.received + timedelta(hours=rng.uniform(0.5, 3))
        filed = max(
            received + timedelta(minutes=rng.uniform(10, 60)),
            target.filed + timedelta(minutes=rng.uniform(5, 30)),
        )
        merged = filed + timedelta(hours=rng.uniform(1, 6))
        if merged > self.limit:  # only when the history is too short to hold it
            filed = max(target.filed + timedelta(seconds=1), self.limit - HOUR)
            received = min(received, filed)
            merged = self.limit
        matter = target.matter
        duplicate = Matter(
            matter.category, matter.urgency, f"同单元住户反映：{matter.summary}", matter.resolution
        )
        case = _Ref()
        filer = self.worker(home.cadre_at(filed))
        step = _Step((filed - received) / HOUR, "file")
        self.at(
            filed,
            self.case_step(
                case, step, filer.actor, duplicate, home, "wechat", received, None, None, None
            ),
        )
        supervisor = self.supervisors[0].actor

        def merge() -> None:
            self.s.grievances.merge(supervisor, case.get(), into=target.case.get())

        self.at(merged, merge)

    # -- the tally -----------------------------------------------------------------

    def finish(self) -> None:
        supervisor = self.supervisors[0].actor
        statuses: Counter[str] = Counter()
        for case_id in self.cast.grievance_ids:
            view = self.s.grievances.get(supervisor, case_id)
            statuses[view.status] += 1
        self.cast.grievance_statuses = {
            status.value: statuses.get(status.value, 0) for status in GrievanceStatus
        }
        self.cast.last_position = self.s.book.recorder.max_notification_id() or 0


def seed_demo(
    services: CaseServices,
    clock: DemoClock,
    *,
    rng_seed: int = 7,
    households: int = 300,
    weeks: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> DemoCast:
    """Seed an empty county with one community and ``weeks`` weeks of casework ending now.

    ``services`` must read time from ``clock``. The set-up (community, grids,
    accounts, households) is recorded in the days before the history starts;
    the history then runs up to a few minutes before the real present.
    ``progress(done, total)`` is called every few commands and once at the end.
    """
    if services.clock is not clock:
        raise ValueError("the services must be wired to the demo clock")
    rng = random.Random(rng_seed)  # noqa: S311 - demo data, not secrets
    seeder = _Seeder(services, clock, rng, households, weeks, progress)
    return seeder.run()
