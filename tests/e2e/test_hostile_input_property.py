"""Every command of the HTTP contract, driven over HTTP with generated hostile input (hypothesis).

Bodies are valid ones with some fields swapped for hostile values: control characters,
NUL, bidi overrides, lone surrogates, huge strings, emoji, SQL, numbers where text is
expected; dates of year 1 and 9999, naive datetimes, offsets out of range; deep nesting,
wrong types and extra fields; now and then a whole body of junk, a hostile path id, an
If-Match of junk. No answer may be a 5xx, every 4xx is problem+json and records nothing.
Afterwards every list, report and ledger answers 200, no report left an event unfolded,
and the read models equal a rebuild of them from the log.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Account, World, grievance_body, household_body, now, visit_body
from tests.e2e.hostile import (
    assert_county_still_answers,
    assert_problem_answer,
    assert_read_models_equal_a_rebuild,
)

EXAMPLES = 60
BUDGET_SECONDS = 180.0
JSON_HEADERS = {"Content-Type": "application/json"}

# -- hostile values ---------------------------------------------------------------------

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
EMOJI = ["😀", "👨‍👩‍👧", "🏳️‍🌈", "🧑\u200d💻", "\U0001f600" * 3]
SPECIAL_TEXTS = [
    "",
    " ",
    "\u0000",
    "电梯\u0000停运",
    "' OR '1'='1",
    "'; DROP TABLE events; --",
    "Robert'); DROP TABLE households;--",
    "\u202egnp.exe",
    "abc\u2066def\u2069",
    "\ud800",
    "a\udfffb",
    "%00",
    "../../etc/passwd",
    "${jndi:ldap://x/a}",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x","y")',
    "\x1b[31m红\x1b[0m",
    "\r\n\t",
    "\ufeff",
    "NaN",
    "null",
    "0",
    "-1",
    "1e309",
    "2026-11-20T09:30:00+08:00",
]


@dataclass(frozen=True)
class Huge:
    """A long run of one character, written out only when sent (a short repr for hypothesis)."""

    character: str
    count: int

    def text(self) -> str:
        return self.character * self.count


HUGE = st.sampled_from(
    [Huge("长", 10_001), Huge("x", 100_000), Huge("😀", 5_000), Huge("\u0000", 999)]
)
PIECES = st.one_of(
    st.characters(codec="utf-8", categories=["Cc"]),
    st.sampled_from(BIDI),
    st.sampled_from(EMOJI),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(),
)
SHORT_TEXTS = st.one_of(st.lists(PIECES, max_size=30).map("".join), st.sampled_from(SPECIAL_TEXTS))
TEXTS = st.one_of(SHORT_TEXTS, HUGE)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, 10**400, 1.5, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
ODD_MOMENTS = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "2026-11-20T09:30:00",
    "2026-11-20T09:30:00+24:00",
    "2026-11-20T09:30:00+14:01",
    "2026-11-20T09:30:00+99:99",
    "2026-02-30T00:00:00+08:00",
    "2026-13-01",
    "1990-01-01",
    "1989-12-31",
    "1999-12-31T23:59:59+08:00",
    "2000-01-01T00:00:00+14:00",
    "yesterday",
    "今天上午",
    12345,
    True,
    1.5e12,
]


def recent(hours: int, offset: timezone) -> str:
    """A plausible moment (so commands can succeed), at any offset."""
    return (datetime.now(UTC) - timedelta(hours=hours)).astimezone(offset).isoformat()


MOMENTS = st.one_of(
    st.sampled_from(ODD_MOMENTS),
    st.datetimes(
        min_value=datetime.min,
        max_value=datetime.max,
        timezones=st.one_of(st.none(), OFFSETS),
    ).map(datetime.isoformat),
    st.dates().map(lambda day: day.isoformat()),
    st.builds(recent, st.integers(min_value=0, max_value=24 * 365 * 5), OFFSETS),
    TEXTS,
)


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` levels: built as text, beyond what json.dumps will nest."""

    depth: int
    objects: bool


DEPTHS = st.one_of(st.sampled_from([50, 500, 900, 1000, 3000]), st.integers(2, 3000))
DEEP = st.builds(Deep, DEPTHS, st.booleans())
SCALARS = st.one_of(TEXTS, NUMBERS)
STRUCTURES = st.one_of(
    DEEP,
    st.lists(SCALARS, max_size=5),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=4),
    st.lists(st.dictionaries(st.text(max_size=8), st.lists(SCALARS, max_size=2)), max_size=3),
)
VALUES = st.one_of(TEXTS, TEXTS, NUMBERS, STRUCTURES)
COLLECTIONS = st.one_of(STRUCTURES, STRUCTURES, VALUES)


def values_for(key: str, valid: Any) -> st.SearchStrategy[Any]:
    """Hostile values, aimed at what the field holds: moments, collections or text."""
    if key in DATE_FIELDS:
        return MOMENTS
    if isinstance(valid, list | dict):
        return COLLECTIONS
    return VALUES


EXTRAS = st.dictionaries(
    st.one_of(st.text(max_size=20), st.sampled_from(["id", "actor", "version", "__proto__"])),
    VALUES,
    min_size=1,
    max_size=3,
)
IF_MATCH = st.one_of(
    *[st.none()] * 6,
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(str.strip),
    st.integers(min_value=-5, max_value=10**20).map(lambda n: f'"{n}"'),
)
DATE_FIELDS = {"visited_at", "received_at", "occurred_on", "relocated_on"}
DAY_FIELDS = {"occurred_on", "relocated_on"}
FREE_TEXT_FIELDS = {
    "head_name",
    "notes",
    "summary",
    "description",
    "reason",
    "text",
    "note",
    "resolution",
    "comment",
    "name",
    "display_name",
    "township",
    "county",
    "village",
    "building",
    "unit",
    "room",
    "legal_basis",
}
# Odd but acceptable: what a command should record, and every read model then fold.
PLAUSIBLE_TEXTS = st.one_of(
    st.text(
        st.one_of(
            st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
            st.characters(min_codepoint=0x20, max_codepoint=0x7E),
            st.sampled_from(["😀", "🏳", "\u200d", "\t", "\n", "\ufeff", "\u00a0"]),
        ),
        min_size=1,
        max_size=60,
    ).filter(str.strip),
    st.sampled_from(["' OR '1'='1", "'; DROP TABLE events; --", '=HYPERLINK("x")', "长" * 199]),
)
PLAUSIBLE_MOMENTS = st.builds(recent, st.integers(min_value=0, max_value=24 * 365 * 5), OFFSETS)
PLAUSIBLE_DAYS = st.integers(min_value=0, max_value=365 * 30).map(
    lambda days: (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
)


def plausible(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The template with its free text and moments odd but acceptable."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for key, value in template.items():
        if key in DAY_FIELDS:
            fields[key] = PLAUSIBLE_DAYS
        elif key in DATE_FIELDS:
            fields[key] = PLAUSIBLE_MOMENTS
        elif key in FREE_TEXT_FIELDS and isinstance(value, str):
            fields[key] = st.one_of(st.just(value), PLAUSIBLE_TEXTS)
        elif isinstance(value, dict):
            fields[key] = plausible(value)
        else:
            fields[key] = st.just(value)
    return st.fixed_dictionaries(fields)


# How a body is made hostile; "plausible" bodies are odd but valid, so the folds see them too.
SHAPES = ["plausible", "plausible", "one", "one", "one", "fields", "extra", "drop", "whole"]


@st.composite
def hostile(draw: st.DrawFn, template: dict[str, Any]) -> Any:
    """The template with some fields hostile, or fields added or dropped, or all junk.

    Mostly one field is hostile and the rest valid, so the command gets past its other checks.
    """
    shape = draw(st.sampled_from(SHAPES))
    if shape == "plausible":
        return draw(plausible(template))
    if shape == "whole" or not template:
        return draw(st.one_of(STRUCTURES, SCALARS, st.just({})))
    body = dict(template)
    most = 1 if shape == "one" else 3
    keys = draw(st.lists(st.sampled_from(sorted(template)), min_size=1, max_size=most, unique=True))
    for key in keys:
        if isinstance(body[key], dict) and draw(st.booleans()):
            body[key] = draw(hostile(body[key]))
        else:
            body[key] = draw(values_for(key, template[key]))
    if shape == "extra":
        body.update(draw(EXTRAS))
    if shape == "drop":
        body.pop(keys[0], None)
    return body


def encoded(body: Any) -> bytes:
    """JSON text with \\u escapes (so lone surrogates travel) and deep values spliced in."""
    deep: dict[str, Deep] = {}

    def placeholder(value: Any) -> Any:
        if isinstance(value, Deep):
            name = f"@@deep-{len(deep)}@@"
            deep[name] = value
            return name
        if isinstance(value, Huge):
            return value.text()
        if isinstance(value, dict):
            return {str(k): placeholder(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholder(v) for v in value]
        return value

    text = json.dumps(placeholder(body), ensure_ascii=True, allow_nan=True)
    for name, value in deep.items():
        opening, closing = ('{"a":', "}") if value.objects else ("[", "]")
        text = text.replace(f'"{name}"', opening * value.depth + '"x"' + closing * value.depth)
    return text.encode("ascii")


# -- the commands -----------------------------------------------------------------------


@dataclass
class Command:
    """One command of the HTTP contract: who sends it, where, and a body that would succeed."""

    label: str
    by: Callable[[], Account]
    path: str  # "{id}" is the target, replaced now and then by hostile text
    targets: list[str]
    template: Callable[[], dict[str, Any]]


@dataclass
class Scene:
    households: list[str]
    visits: list[str]
    cases: list[str]
    spare_case: str
    account: str


def scene(world: World) -> Scene:
    households = [world.household()["id"] for _ in range(3)]
    visits = [world.visit(households[0])["id"] for _ in range(3)]
    supervisor = world.supervisor
    cases = [
        world.case_in(status, assignee=supervisor)
        for status in ("filed", "assigned", "in_progress", "in_progress", "resolved", "resolved")
    ]
    return Scene(households, visits, cases, world.case_in("filed"), world.cadre2.id)


def command_groups(world: World, s: Scene) -> list[list[Command]]:
    """Every command of the HTTP contract, in groups that share a budget of examples."""
    cadre, supervisor, admin = (
        (lambda: world.cadre),
        (lambda: world.supervisor),
        (lambda: world.admin),
    )
    address = {"building": "5", "unit": "1", "room": "302"}
    verbs: list[tuple[str, Callable[[], Account], Callable[[], dict[str, Any]]]] = [
        ("assign", supervisor, lambda: {"assignee_id": world.supervisor.id, "note": "请尽快处理"}),
        ("accept", supervisor, lambda: {}),
        ("decline", supervisor, lambda: {"reason": "不在我的网格"}),
        ("note", supervisor, lambda: {"text": "已联系物业 🛠"}),
        ("escalate", supervisor, lambda: {"reason": "需要街道协调"}),
        ("extend", supervisor, lambda: {"days": 10, "reason": "等待配件"}),
        ("urge", supervisor, lambda: {"note": "请加快"}),
        ("resolve", supervisor, lambda: {"resolution": "已更换电梯主板", "outcome": "resolved"}),
        ("feedback", cadre, lambda: {"rating": "satisfied", "solved": True, "comment": "满意"}),
        ("close", supervisor, lambda: {"note": "回访无人接听"}),
        ("withdraw", supervisor, lambda: {"reason": "居民撤回"}),
        ("merge", supervisor, lambda: {"into": s.spare_case}),
    ]
    household_commands = [
        Command("register household", cadre, "/v1/households", [], household_body),
        Command(
            "contact-cadre",
            supervisor,
            "/v1/households/{id}/contact-cadre",
            s.households,
            lambda: {"cadre_id": s.account},
        ),
        Command(
            "move",
            cadre,
            "/v1/households/{id}/move",
            s.households,
            lambda: {"grid_id": "g2", "address": address},
        ),
        Command(
            "tags",
            cadre,
            "/v1/households/{id}/tags",
            s.households,
            lambda: {"add": ["disability"], "remove": ["low_income"]},
        ),
        Command(
            "employment",
            cadre,
            "/v1/households/{id}/employment",
            s.households,
            lambda: {"labour_force": 3, "employed": 2, "note": "两人在园区务工"},
        ),
        Command(
            "life-events",
            cadre,
            "/v1/households/{id}/life-events",
            s.households,
            lambda: {"kind": "illness", "occurred_on": now().date().isoformat(), "note": "住院"},
        ),
    ]
    visit_commands = [
        Command("log visit", cadre, "/v1/visits", [], lambda: visit_body(s.households[1])),
        Command(
            "amend visit",
            cadre,
            "/v1/visits/{id}/amend",
            s.visits,
            lambda: {"notes": "更正：楼道灯已修好", "reason": "记录有误"},
        ),
        Command(
            "void visit", cadre, "/v1/visits/{id}/void", s.visits, lambda: {"reason": "重复录入"}
        ),
    ]
    grievance_commands = [
        Command(
            "file grievance",
            cadre,
            "/v1/grievances",
            [],
            lambda: grievance_body(
                s.households[0],
                description="详细情况 📋",
                received_at=(now() - timedelta(hours=3)).isoformat(),
                visit_id=s.visits[0],
                parties=["张三", {"name": "李四", "age": 61}],
            ),
        ),
    ] + [
        Command(f"grievance {verb}", by, f"/v1/grievances/{{id}}/{verb}", s.cases, template)
        for verb, by, template in verbs
    ]
    organisation_commands = [
        Command(
            "communities",
            admin,
            "/v1/communities",
            [],
            lambda: {
                "id": f"c{uuid.uuid4().hex[:6]}",
                "name": "和平社区",
                "township": "城关镇",
                "county": "示范县",
            },
        ),
        Command(
            "grids",
            admin,
            "/v1/communities/{id}/grids",
            ["xingfu", "anle"],
            lambda: {"id": f"g{uuid.uuid4().hex[:6]}", "name": "第九网格"},
        ),
        Command(
            "accounts",
            admin,
            "/v1/accounts",
            [],
            lambda: {
                "username": f"u{uuid.uuid4().hex[:6]}",
                "display_name": "新干部",
                "role": "cadre",
                "community_id": "xingfu",
                "grid_id": "g1",
            },
        ),
        Command("tokens", admin, "/v1/accounts/{id}/tokens", [s.account], lambda: {}),
    ]
    return [
        household_commands[:1],
        household_commands[1:],
        visit_commands[:1],
        visit_commands[1:],
        grievance_commands[:1],
        grievance_commands[1:],
        organisation_commands[:2],
        organisation_commands[2:],
    ]


# -- the property -----------------------------------------------------------------------


@dataclass
class Findings:
    by_label: dict[str, list[str]] = field(default_factory=dict)
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)

    def note(self, label: str, example: str) -> None:
        self.by_label.setdefault(label, []).append(example)

    def report(self) -> str:
        lines = []
        for label, examples in sorted(self.by_label.items()):
            lines.append(f"{label} ({len(examples)}x), e.g. {examples[0]}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Request:
    command: Command
    target: str | None
    body: Any
    if_match: str | None
    idempotency_key: bool
    chinese: bool


def requests_for(command: Command) -> st.SearchStrategy[Request]:
    targets: st.SearchStrategy[str | None] = st.none()
    if command.targets:
        real = st.sampled_from(command.targets)
        targets = st.one_of(real, real, real, SHORT_TEXTS)
    # A fresh template per example: some hold ids that must be new each time.
    bodies = st.just(None).flatmap(lambda _: hostile(command.template()))
    return st.builds(
        Request, st.just(command), targets, bodies, IF_MATCH, st.booleans(), st.booleans()
    )


def explore(world: World, group: list[Command], found: Findings) -> None:
    """Up to EXAMPLES hostile requests to the commands of one group."""
    recorder = world.server.county.book.recorder

    def probe(request: Request) -> None:
        command = request.command
        path = command.path
        if request.target is not None:
            path = path.replace("{id}", quote(request.target, safe="", errors="surrogatepass"))
        headers = dict(JSON_HEADERS)
        if request.if_match is not None:
            headers["If-Match"] = request.if_match
        if request.idempotency_key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if request.chinese:
            headers["Accept-Language"] = "zh-CN"
        content = encoded(request.body)
        before = recorder.max_notification_id()
        try:
            answer = command.by().client.post(path, content=content, headers=headers)
        except httpx.HTTPError as error:
            found.note(f"{command.label}: no answer", f"{path} {content[:200]!r}: {error}")
            return
        found.sent += 1
        found.statuses[answer.status_code] = found.statuses.get(answer.status_code, 0) + 1
        if answer.status_code < 300:
            found.successes[command.label] = found.successes.get(command.label, 0) + 1
        seen = f"{path[:80]} {content[:200]!r} -> {answer.status_code} {answer.text[:200]}"
        if answer.status_code >= 500:
            found.note(f"{command.label}: {answer.status_code}", seen)
        elif answer.status_code < 300 and not isinstance(answer.json(), dict):
            found.note(f"{command.label}: not a representation", seen)
        elif answer.status_code >= 400:
            try:
                assert_problem_answer(answer)
            except (AssertionError, ValueError) as error:
                found.note(f"{command.label}: not problem+json", f"{seen}: {error}")
            if recorder.max_notification_id() != before:
                found.note(f"{command.label}: a refusal recorded events", seen)

    for request in (seed for command in group for seed in known_killers(command)):
        probe = example(request=request)(probe)
    run = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(given(request=st.sampled_from(group).flatmap(requests_for))(probe))
    run()


def known_killers(command: Command) -> list[Request]:
    """Each field of the command in turn given what the review found breaking a county."""
    target = command.targets[0] if command.targets else None
    seeds = []
    for key, valid in command.template().items():
        body = command.template()
        body[key] = killer_for(key, valid)
        seeds.append(Request(command, target, body, None, False, False))
    return seeds


def killer_for(key: str, valid: Any) -> Any:
    if key in DAY_FIELDS:
        return "0001-01-01"
    if key in DATE_FIELDS:
        return "0001-01-01T00:00:00+14:00"
    if isinstance(valid, list | dict):
        return Deep(900, objects=False)
    if isinstance(valid, bool):
        return 1
    if isinstance(valid, int):
        return True
    return f"{valid}\u0000"


REPORT_PATHS = (
    "/v1/reports/workload",
    "/v1/reports/coverage",
    "/v1/reports/resolution",
    "/v1/reports/stars",
    "/v1/reports/late-entries",
)


def assert_every_event_was_folded(world: World) -> None:
    """Whatever got in, the reports folded it all (`unfolded_events` 0 where reported)."""
    for path in REPORT_PATHS:
        answer = world.supervisor.client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
        assert answer.json().get("unfolded_events", 0) == 0, f"{path}: {answer.text[:300]}"


def test_hostile_input_to_every_command_never_breaks_the_county(world: World) -> None:
    started = time.monotonic()
    found = Findings()
    for group in command_groups(world, scene(world)):
        explore(world, group, found)
    seconds = time.monotonic() - started
    print(f"{found.sent} requests in {seconds:.1f} s; statuses {sorted(found.statuses.items())}")
    print(f"accepted: {sorted(found.successes.items())}")
    assert not found.by_label, "\n" + found.report()
    assert found.statuses.get(201, 0) + found.statuses.get(200, 0) > 0, "nothing ever succeeded"
    assert_county_still_answers(world.supervisor.client)
    assert_county_still_answers(world.auditor.client)
    assert_every_event_was_folded(world)
    ready = world.anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text[:300]
    assert_read_models_equal_a_rebuild(world.server.county)
    assert time.monotonic() - started < BUDGET_SECONDS, "the hostile run took too long"
