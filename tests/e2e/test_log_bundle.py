"""County replay: `anju log export`, then `anju log verify | replay` on a fresh machine.

A county's history (five weeks of synthetic casework written before the server
starts, then commands over HTTP) is exported from a live server with its
signing key. The bundle alone is copied to a "fresh machine": a directory with
nothing else, run with only PATH, HOME and an empty ANJU_DATA_DIR (no database
URL, master key or signing key). There it must verify, and every replayed
report must equal, as parsed JSON, what the server answers over HTTP for the
same moment. Any one byte changed, a truncated bundle, or a bundle checked
against another key must fail verification, and replay must then print no report.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.bootstrap import County, open_county
from application.synthetic_county import SyntheticCounty, generate_county
from infrastructure.log_bundle import BundleError, verify_bundle
from infrastructure.settings import Settings
from infrastructure.signing import Signer, write_new_key
from tests.e2e.conftest import SHANGHAI, LiveServer, World, iso, now, running

ANJU = Path(sys.executable).parent / "anju"
SUBPROCESS_SECONDS = 120
REPLAY_WORKERS = 4
RANDOM_FLIPS = 30
FLIP_SEED = 20261120
REPORT_KEYS = frozenset({"items", "week", "group_by", "households_total"})
HEX = "0123456789abcdef"
BASE64 = string.ascii_letters + string.digits + "+/"
PRINTABLE = [chr(code) for code in range(0x21, 0x7F)]

FLAGS = {
    "week": "--week",
    "from": "--from",
    "to": "--to",
    "group_by": "--group-by",
    "community_id": "--community-id",
    "grid_id": "--grid-id",
}

Answer = dict[str, Any]


# -- the county: a synthetic history, a signing key, a live server -------------------------


@pytest.fixture
def signed_settings(county_settings: Settings, tmp_path: Path) -> Settings:
    """The e2e store's settings, with a checkpoint signing key kept outside the data."""
    key = tmp_path / "county-keys" / "county.key"
    write_new_key(key)
    return county_settings.model_copy(update={"signing_key_file": key})


@pytest.fixture
def synthetic(signed_settings: Settings) -> SyntheticCounty:
    """Five weeks of casework in two communities, in the log before the server starts.

    Written first so that the log's timestamps rise with its positions: the
    bootstrap admin and the HTTP commands come after, at the present.
    """
    county = open_county(signed_settings)
    try:
        return generate_county(
            county.book,
            county.services.vault,
            communities=2,
            households_per_community=40,
            cadres_per_community=3,
            days=35,
            visits_per_cadre_day=3,
            grievances_per_community_day=2,
            end=now(),
            seed=5,
            timezone=signed_settings.timezone,
        )
    finally:
        county.close()


@pytest.fixture
def server(signed_settings: Settings, synthetic: SyntheticCounty) -> Iterator[LiveServer]:
    """Overrides the e2e ``server``: the same live server, with a signing key and a history."""
    with running(signed_settings) as (url, app):
        county: County = app.state.county
        token = county.services.organisation.bootstrap_admin("root", "根管理员")
        live = LiveServer(url=url, app=app, admin_token=token.token)
        try:
            yield live
        finally:
            live.close_clients()


@dataclass
class History:
    world: World
    synthetic: SyntheticCounty
    settled: datetime  # 18:00 nine days ago: inside the synthetic weeks
    midway: datetime  # between two HTTP commands, after the visits and before the cases


def posted(client: httpx.Client, path: str, body: dict[str, Any], status: int = 200) -> Answer:
    answer = client.post(path, json=body)
    assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text[:500]}"
    return dict(answer.json())


@pytest.fixture
def history(world: World, synthetic: SyntheticCounty) -> History:
    """On top of the synthetic weeks, households, visits (one late) and cases over HTTP."""
    today = now().date()
    settled = datetime.combine(today - timedelta(days=9), clock_time(18), SHANGHAI)
    supervisor = world.supervisor.client
    h1 = world.household()
    h2 = world.household(grid_id="g2")
    h3 = world.household(by=world.outsider, community_id="anle", grid_id="g1")
    for household, cadre in ((h1, world.cadre), (h2, world.cadre2)):
        path = f"/v1/households/{household['id']}/contact-cadre"
        posted(supervisor, path, {"cadre_id": cadre.id})
    world.visit(h1["id"])
    late = world.visit(h2["id"], by=world.cadre2, visited_at=iso(now() - timedelta(days=8)))
    assert late["late_logged"] is True, late
    world.visit(h3["id"], by=world.outsider, channel="phone")
    posted(
        world.cadre.client,
        f"/v1/households/{h2['id']}/life-events",
        {"kind": "illness", "occurred_on": today.isoformat(), "note": "住院"},
        201,
    )
    time.sleep(0.05)
    midway = now()
    time.sleep(0.05)
    world.case_in("filed")
    world.case_in("assigned", category="housing")
    world.case_in("in_progress", assignee=world.cadre2, category="health")
    world.case_in("resolved", category="employment")
    closed = world.case_in("resolved", category="education")
    world.act(
        world.supervisor, closed, "feedback", {"rating": "basically_satisfied", "solved": True}
    )
    world.case_in("assigned", received_at=iso(now() - timedelta(days=4)), category="employment")
    withdrawn = world.case_in("filed", category="health", urgency="normal")
    world.act(world.cadre, withdrawn, "withdraw", {"reason": "居民撤回"})
    return History(world, synthetic, settled, midway)


# -- exporting, and a machine with nothing but the bundle ---------------------------------


def anju(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ANJU), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        check=False,
    )


def server_environment(settings: Settings, home: Path) -> dict[str, str]:
    """The server's settings as the ANJU_* variables a county operator would set."""
    assert settings.master_key and settings.signing_key_file
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANJU_DATA_DIR": str(settings.data_dir),
        "ANJU_COUNTY": settings.county,
        "ANJU_TIMEZONE": settings.timezone,
        "ANJU_MASTER_KEY": settings.master_key,
        "ANJU_BLIND_INDEX_KEY": str(settings.blind_index_key),
        "ANJU_SIGNING_KEY_FILE": str(settings.signing_key_file),
    }
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return env


@dataclass
class Exported:
    path: Path
    header: dict[str, Any]
    events: int  # how many events the server's log holds
    head: int  # the log's head position
    key_id: str  # the server's signing key id


def export(server: LiveServer, path: Path) -> Exported:
    """`anju log export PATH` with the server's settings, while the server runs."""
    settings = server.county.settings
    head = server.head()
    path.parent.mkdir(parents=True, exist_ok=True)
    home = path.parent / "home"
    home.mkdir(exist_ok=True)
    result = anju("log", "export", str(path), env=server_environment(settings, home), cwd=home)
    assert result.returncode == 0, result.stderr
    events = server.events_since(0)
    assert server.head() == head, "something was written while exporting"
    signer = server.county.audit.signer
    assert signer is not None
    assert result.stdout.startswith(f"exported {events} events up to position {head} to "), (
        result.stdout
    )
    assert f"(key id {signer.key_id}," in result.stdout, result.stdout
    with path.open("rb") as bundle:
        header = json.loads(bundle.readline())
    assert header["head"]["position"] == head, header
    return Exported(path, header, events, head, signer.key_id)


@pytest.fixture
def bundle(server: LiveServer, tmp_path: Path) -> Exported:
    """A bundle of the synthetic county and the bootstrap admin, fresh from the server."""
    return export(server, tmp_path / "export" / "county.jsonl")


class FreshMachine:
    """A directory holding only the bundle, and the environment of a machine with nothing else."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir()
        self.home = root / "home"
        self.home.mkdir()

    def receive(self, bundle: Path) -> Path:
        copy = self.root / bundle.name
        shutil.copyfile(bundle, copy)
        return copy

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "HOME": str(self.home), "ANJU_DATA_DIR": str(self.data)}

    def anju(self, *args: str) -> subprocess.CompletedProcess[str]:
        return anju(*args, env=self.env, cwd=self.root)

    def verify(self, bundle: Path, *extra: str) -> tuple[int, Answer]:
        result = self.anju("log", "verify", str(bundle), *extra)
        return result.returncode, parsed(result)

    def replay(self, bundle: Path, ask: Ask, as_of: str | None) -> Answer:
        moment = ["--as-of", as_of] if as_of is not None else []
        result = self.anju("log", "replay", str(bundle), *ask.cli(), *moment)
        assert result.returncode == 0, f"{ask} as of {as_of}: {result.stderr}{result.stdout}"
        return parsed(result)

    def replays(self, bundle: Path, asks: list[Ask], as_of: str | None = None) -> dict[Ask, Answer]:
        with ThreadPoolExecutor(max_workers=REPLAY_WORKERS) as pool:
            answers = pool.map(lambda ask: self.replay(bundle, ask, as_of), asks)
            return dict(zip(asks, answers, strict=True))


def parsed(result: subprocess.CompletedProcess[str]) -> Answer:
    try:
        return dict(json.loads(result.stdout))
    except ValueError:
        pytest.fail(f"not JSON on stdout: {result.stdout!r} (stderr: {result.stderr!r})")


# -- the reports asked, over HTTP and from the command line -------------------------------


@dataclass(frozen=True)
class Ask:
    """One report with its query: the same over HTTP and as `anju log replay` options."""

    report: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        report: str,
        *,
        week: str | None = None,
        since: date | None = None,
        until: date | None = None,
        group_by: str | None = None,
        community_id: str | None = None,
        grid_id: str | None = None,
    ) -> Ask:
        given = {
            "week": week,
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "group_by": group_by,
            "community_id": community_id,
            "grid_id": grid_id,
        }
        return cls(report, tuple((k, v) for k, v in given.items() if v is not None))

    def http(self) -> dict[str, str]:
        return dict(self.params)

    def cli(self) -> list[str]:
        options = ["--report", self.report]
        for name, value in self.params:
            options += [FLAGS[name], value]
        return options

    def __str__(self) -> str:
        return f"{self.report}({', '.join(f'{k}={v}' for k, v in self.params)})"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def asks_around(day: date) -> list[Ask]:
    """Every report, with weeks and date ranges around ``day``, county-wide and narrowed."""
    return [
        Ask.of("workload", week=iso_week(day)),
        Ask.of("workload", week=iso_week(day - timedelta(days=7))),
        Ask.of("workload", week=iso_week(day), community_id="c01", grid_id="g2"),
        Ask.of("coverage"),
        Ask.of("coverage", community_id="c02"),
        Ask.of("resolution", group_by="category"),
        Ask.of("resolution", group_by="grid"),
        Ask.of("resolution", group_by="category", since=day - timedelta(days=14), until=day),
        Ask.of("resolution", group_by="grid", since=day - timedelta(days=10)),
        Ask.of("resolution", group_by="community", until=day - timedelta(days=3)),
        Ask.of("late-entries"),
        Ask.of("late-entries", since=day - timedelta(days=20), until=day - timedelta(days=2)),
    ]


MIDWAY_ASKS = [
    Ask.of("workload"),
    Ask.of("coverage", community_id="xingfu"),
    Ask.of("resolution", group_by="grid"),
    Ask.of("late-entries"),
]


def served(client: httpx.Client, asks: list[Ask], **moment: str | int) -> dict[Ask, Answer]:
    """The server's answers over HTTP: live (``consistent_with``) or ``as_of`` a moment."""
    found = {}
    for ask in asks:
        answer = client.get(f"/v1/reports/{ask.report}", params={**ask.http(), **moment})
        assert answer.status_code == 200, f"{ask} {moment}: {answer.status_code} {answer.text}"
        found[ask] = dict(answer.json())
    return found


def assert_same(replayed: dict[Ask, Answer], *servers: dict[Ask, Answer], when: str) -> None:
    """Each replayed report equals one of the server's answers (the first, unless the clock
    crossed a deadline or a day between two live readings), as parsed JSON."""
    for ask, answer in replayed.items():
        expected = [each[ask] for each in servers]
        assert answer in expected, (
            f"{ask} {when}: the replay differs from the server\n"
            f"replay: {json.dumps(answer, ensure_ascii=False)}\n"
            f"server: {json.dumps(expected[0], ensure_ascii=False)}"
        )


def assert_lifelike(
    server: LiveServer, settled: dict[Ask, Answer], live: dict[Ask, Answer]
) -> None:
    """The history is worth replaying: cases in many states, visits in past weeks, late ones."""
    projections = server.county.services.projections
    rows = projections.store.select(projections.models["casework"], "grievances")
    statuses = {row["status"] for row in rows}
    assert statuses >= {"filed", "assigned", "in_progress", "resolved", "closed", "withdrawn"}
    for ask, answer in settled.items():
        if ask.report == "workload" and len(ask.params) == 1:  # county-wide, one past week
            assert sum(row["visits"] for row in answer["items"]) > 0, ask
        if ask.report == "resolution" and len(ask.params) == 1:
            assert sum(row["filed"] for row in answer["items"]) >= 10, ask
    by_category = live[Ask.of("resolution", group_by="category")]["items"]
    assert sum(row["filed"] for row in by_category) >= 20 and len(by_category) >= 3
    assert live[Ask.of("late-entries")]["items"]
    coverage = live[Ask.of("coverage")]
    assert coverage["households_total"] >= 80 and coverage["pending_mandatory"], coverage


# -- the acceptance criterion ----------------------------------------------------------------


def test_a_bundle_exported_from_the_server_verifies_and_replays_its_reports_exactly_on_a_fresh_machine(
    server: LiveServer, history: History, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    auditor = history.world.auditor.client
    today = now().date()
    settled_asks = asks_around(history.settled.date())
    live_asks = [Ask.of("workload"), *asks_around(today)]

    # The server's answers: as of two past moments, live, and as of the export.
    settled = served(auditor, settled_asks, as_of=iso(history.settled))
    midway = served(auditor, MIDWAY_ASKS, as_of=iso(history.midway))
    head = server.head()
    live_before = served(auditor, live_asks, consistent_with=head)
    exported = export(server, tmp_path / "export" / "county.jsonl")
    live_after = served(auditor, live_asks, consistent_with=head)
    exported_at = exported.header["exported_at"]
    at_export = served(auditor, live_asks, as_of=exported_at)
    assert_lifelike(server, settled, live_before)
    assert exported.header["county"] == server.county.settings.county
    assert exported.header["timezone"] == "Asia/Shanghai"
    assert history.midway < datetime.fromisoformat(exported_at) <= now()

    # A fresh machine: the bundle, PATH, HOME and an empty data directory; nothing else.
    machine = FreshMachine(tmp_path_factory.mktemp("fresh-machine"))
    copy = machine.receive(exported.path)
    for extra in ((), ("--key-id", exported.key_id)):
        status, verified = machine.verify(copy, *extra)
        assert status == 0, verified
        assert verified["ok"] is True, verified
        assert verified["signature_ok"] is True, verified
        assert verified["events_checked"] == exported.events, verified
        assert verified["head"]["position"] == exported.head, verified
        assert verified["first_bad_position"] is None and verified["problem"] is None, verified
        assert verified["problems"] == [], verified
        assert verified["checkpoints_checked"] >= 1, verified
        assert verified["key_id"] == exported.key_id, verified
        assert verified["exported_at"] == exported_at, verified

    # Every report replayed equals the server's over HTTP, as parsed JSON.
    assert_same(machine.replays(copy, settled_asks, iso(history.settled)), settled, when="settled")
    assert_same(machine.replays(copy, MIDWAY_ASKS, iso(history.midway)), midway, when="midway")
    replayed = machine.replays(copy, live_asks)  # as of the export, by default
    assert_same(replayed, at_export, when=f"as of the export ({exported_at})")
    assert_same(replayed, live_before, live_after, when="live at the export")

    # Replay left nothing behind on the machine but the bundle itself.
    assert sorted(p.name for p in machine.root.iterdir()) == sorted(["data", "home", copy.name])
    assert list(machine.data.iterdir()) == []


# -- any byte changed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Flip:
    """One byte of the bundle, and the byte put in its place."""

    name: str
    offset: int
    byte: int
    event_position: int | None = None  # where the chain must break, for a state or a seal


def lines_of(data: bytes) -> list[tuple[int, bytes]]:
    """Each line with its offset in the file."""
    found, start = [], 0
    for line in data.splitlines(keepends=True):
        found.append((start, line))
        start += len(line)
    return found


def value_at(line: bytes, key: str, where: float = 0.5) -> int:
    """The offset in ``line`` of a character inside ``key``'s value (a string or a number)."""
    marker = f'"{key}":'.encode()
    start = line.index(marker) + len(marker)
    if line[start : start + 1] == b'"':
        start += 1
        end = line.index(b'"', start)
    else:
        end = start
        while line[end : end + 1].isdigit():
            end += 1
    return start + min(int((end - start) * where), end - start - 1)


def other(current: int, alphabet: str) -> int:
    """A different character of the same alphabet, so the JSON stays well formed."""
    choices = [c for c in alphabet if ord(c) != current]
    return ord(choices[(current * 7) % len(choices)])


def flips_of(data: bytes) -> list[Flip]:
    """Chosen bytes in every part of the bundle, then random ones anywhere."""
    lines = lines_of(data)
    header, trailer = lines[0], lines[-1]
    checkpoints = [(s, line) for s, line in lines if line.startswith(b'{"checkpoint"')]
    events = [(s, line) for s, line in lines[1:-1] if line.startswith(b'{"position"')]
    assert checkpoints and len(events) >= 100, (len(checkpoints), len(events))
    assert len(lines) == 1 + len(checkpoints) + len(events) + 1
    flips: list[Flip] = []

    def flip(name: str, line: tuple[int, bytes], key: str, alphabet: str, **kw: Any) -> None:
        start, text = line
        at = value_at(text, key, kw.pop("where", 0.5))
        flips.append(Flip(name, start + at, other(text[at], alphabet), **kw))

    for key in ("county", "timezone", "exported_at", "public_key", "key_id"):
        alphabet = HEX if key in ("public_key", "key_id") else string.digits
        if key in ("county", "timezone"):
            alphabet = string.ascii_lowercase
        flip(f"header {key}", header, key, alphabet, where=0.1)
    flip("header head hash", header, "hash", HEX)
    flip("header head position", header, "position", string.digits[1:], where=0)
    for key, alphabet in (
        ("position", string.digits[1:]),
        ("hash", HEX),
        ("signed_at", string.digits),
        ("signature", HEX),
        ("key_id", HEX),
    ):
        flip(f"checkpoint {key}", checkpoints[0], key, alphabet, where=0.1)
    for name, line in (
        ("first", events[0]),
        ("early", events[len(events) // 10]),
        ("middle", events[len(events) // 2]),
        ("late", events[-5]),
        ("last", events[-1]),
    ):
        position = json.loads(line[1])["position"]
        flip(f"{name} event state", line, "state", BASE64, where=0.4, event_position=position)
        flip(f"{name} event hash", line, "hash", HEX, event_position=position)
        flip(f"{name} event position", line, "position", string.digits[1:], where=0)
        flip(f"{name} event topic", line, "topic", string.ascii_lowercase, where=0.8)
        flip(f"{name} event originator id", line, "originator_id", HEX, where=0.9)
        flip(f"{name} event version", line, "version", string.digits[1:], where=0)
    flip("trailer events", trailer, "events", string.digits[1:], where=0)
    flip("trailer sha256", trailer, "sha256", HEX)
    flip("trailer signature", trailer, "signature", HEX)
    rng = random.Random(FLIP_SEED)
    for number in range(RANDOM_FLIPS):
        offset = rng.randrange(len(data))
        byte = ord(rng.choice([c for c in PRINTABLE if ord(c) != data[offset]]))
        flips.append(Flip(f"random {number} at {offset}", offset, byte))
    for name, at in (("first byte", 0), ("last newline", len(data) - 1)):
        flips.append(Flip(name, at, ord("x")))
    return flips


def changed(data: bytes, flip: Flip) -> bytes:
    assert data[flip.offset] != flip.byte
    return data[: flip.offset] + bytes([flip.byte]) + data[flip.offset + 1 :]


def verification(path: Path, key_id: str | None = None) -> Any:
    """What verifying finds: a BundleCheck, or None for a file that is not a bundle at all."""
    try:
        return verify_bundle(path, key_id)
    except BundleError:
        return None


def assert_no_report(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, result.stdout
    printed = parsed(result)
    assert printed["ok"] is False, printed
    assert not REPORT_KEYS & printed.keys(), printed


def test_a_bundle_with_any_one_byte_changed_fails_verification_and_replays_nothing(
    bundle: Exported, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = bundle.path.read_bytes()
    assert data.isascii() and data.endswith(b"\n")
    check = verification(bundle.path, bundle.key_id)
    assert check is not None and check.ok, check
    assert check.chain.events_checked == bundle.events

    flips = flips_of(data)
    assert len(flips) >= 70
    spot = tmp_path / "flipped.jsonl"
    for flip in flips:
        spot.write_bytes(changed(data, flip))
        found = verification(spot)
        assert found is None or not found.ok, f"{flip}: verifies with one byte changed"
        if flip.event_position is not None:
            assert found is not None, flip
            assert found.chain.first_bad_position == flip.event_position, (flip, found.chain)
            assert found.chain.problem == "seal does not match event", (flip, found.chain)

    # Through the command line on a fresh machine: verify and replay both refuse.
    machine = FreshMachine(tmp_path_factory.mktemp("fresh-machine"))
    by_name = {flip.name: flip for flip in flips}
    cases = []
    for name in ("header public_key", "middle event state", "trailer sha256", "last newline"):
        path = machine.root / f"{name.replace(' ', '-')}.jsonl"
        path.write_bytes(changed(data, by_name[name]))
        cases.append(path)
    replay = Ask.of("resolution", group_by="grid")

    def both(path: Path) -> tuple[Any, ...]:
        return (
            path,
            machine.anju("log", "verify", str(path)),
            machine.anju("log", "replay", str(path), *replay.cli()),
        )

    with ThreadPoolExecutor(max_workers=REPLAY_WORKERS) as pool:
        for path, verified, replayed in pool.map(both, cases):
            assert verified.returncode == 1, (path.name, verified.stdout)
            record = parsed(verified)
            assert record["ok"] is False, (path.name, record)
            assert record["problems"] or record["problem"], (path.name, record)
            assert_no_report(replayed)
    middle = parsed(machine.anju("log", "verify", str(cases[1])))
    assert middle["first_bad_position"] == by_name["middle event state"].event_position, middle
    assert middle["signature_ok"] is False, middle


def test_a_bundle_with_one_letter_of_its_trailer_signature_in_upper_case_fails_verification(
    bundle: Exported, tmp_path: Path
) -> None:
    data = bundle.path.read_bytes()
    start, trailer = lines_of(data)[-1]
    at = value_at(trailer, "signature", 0)
    while not chr(trailer[at]).islower():
        at += 1
    spot = tmp_path / "upper.jsonl"
    spot.write_bytes(changed(data, Flip("trailer signature upper", start + at, trailer[at] - 32)))
    found = verification(spot)
    assert found is None or not found.ok, "verifies with one byte of the trailer changed"


def test_a_truncated_bundle_or_one_checked_against_another_key_fails_verification(
    bundle: Exported, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = bundle.path.read_bytes()
    lines = data.splitlines(keepends=True)
    trailer = lines[-1]
    machine = FreshMachine(tmp_path_factory.mktemp("fresh-machine"))
    copy = machine.receive(bundle.path)
    other_key = tmp_path / "other" / "other.key"
    write_new_key(other_key)
    other_id = Signer(other_key).key_id
    assert other_id != bundle.key_id

    truncated = machine.root / "truncated.jsonl"
    truncated.write_bytes(b"".join(lines[:-1]))
    cut = machine.root / "cut.jsonl"
    cut.write_bytes(data[: len(data) // 2])
    status, record = machine.verify(copy, "--key-id", other_id)
    assert status == 1, record
    assert record["ok"] is False and record["signature_ok"] is True, record
    assert record["key_id"] == bundle.key_id, record
    assert record["problems"] == [
        f"signed by key {bundle.key_id}, not by the expected key {other_id}"
    ], record
    status, record = machine.verify(truncated)
    assert status == 1, record
    assert record["ok"] is False and record["signature_ok"] is False, record
    assert record["events_checked"] == bundle.events, record
    assert record["problems"] == ["the bundle ends without its trailer (truncated)"], record
    assert_no_report(machine.anju("log", "replay", str(truncated), "--report", "coverage"))
    status, record = machine.verify(cut)
    assert status == 1 and record["ok"] is False, record

    # Lines removed, repeated or added anywhere: none of them verifies.
    events = [i for i, line in enumerate(lines) if line.startswith(b'{"position"')]
    edits = {
        "without its last event": lines[: events[-1]] + lines[events[-1] + 1 :],
        "without an event in the middle": lines[: events[50]] + lines[events[50] + 1 :],
        "without its checkpoints": [lines[0], *lines[events[0] :]],
        "with an event twice": [*lines[: events[9]], lines[events[9]], *lines[events[9] :]],
        "with two lines after its trailer": [*lines, trailer, b"{}\n"],
        "empty": [],
        "only its header": lines[:1],
    }
    spot = tmp_path / "edited.jsonl"
    for name, edited in edits.items():
        spot.write_bytes(b"".join(edited))
        found = verification(spot)
        assert found is None or not found.ok, f"a bundle {name} verifies"
    (machine.root / "notes.jsonl").write_text('{"hello": "world"}\n', "utf-8")
    (machine.root / "county.jsonl.gz").write_bytes(data)  # not gzip-compressed
    for name in ("nothing.jsonl", "notes.jsonl", "county.jsonl.gz"):
        status, record = machine.verify(machine.root / name)
        assert status == 1 and record["ok"] is False and record["problems"], record


def test_a_bundle_with_one_line_appended_after_its_trailer_fails_verification(
    bundle: Exported, tmp_path: Path
) -> None:
    data = bundle.path.read_bytes()
    trailer = data.splitlines(keepends=True)[-1]
    spot = tmp_path / "appended.jsonl"
    for appended in (trailer, b'{"anything":"at all"}\n'):
        spot.write_bytes(data + appended)
        found = verification(spot)
        assert found is None or not found.ok, f"verifies with {appended!r} appended"
