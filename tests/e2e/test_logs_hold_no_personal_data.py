"""The logs of a full run hold no name, phone or ID number.

The real `anju serve` runs as a process of its own (SQLite, or a fresh
PostgreSQL schema), its stdout and stderr captured to files, with the JSON logs
that `api/logs.py` configures. The first admin comes from `anju accounts
bootstrap`. Over HTTP the test then does what a county does in a day, and what
a careless or hostile caller does: personal data in valid and invalid bodies,
in query strings, in paths, under another role's token, in a reused
idempotency key. Once the server has stopped, every phone number, ID number and
name used, the malformed ones too, is looked for in everything it wrote.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from infrastructure.settings import Settings

ANJU = Path(sys.executable).parent / "anju"
SHANGHAI = ZoneInfo("Asia/Shanghai")
STARTUP_SECONDS = 30.0

# Every piece of personal data the run sends, valid or not. None may reach a log.
NAMES = ["欧阳翠凤", "诸葛青岚", "司马望舒", "上官红梅", "慕容秋生", "东方晓月"]
PHONES = ["13987654321", "18600007777", "15811112222", "13700135246", "+86 139-2468-1357"]
ID_NUMBERS = ["53010219850718432X", "522601199203096617", "522601197801028842"]
# Malformed ones, refused or accepted as free text: still personal data.
BAD_PHONES = ["1398765432l0abc", "138" + "0" * 40, "15500001111"]
BAD_ID_NUMBERS = ["52260119900101123X9", "5226011990010112" + "3" * 20, "522601199001011239"]
SECRETS = [*NAMES, *PHONES, *ID_NUMBERS, *BAD_PHONES, *BAD_ID_NUMBERS]


# -- the server as a process -------------------------------------------------------------


@dataclass
class Served:
    url: str
    data_dir: Path
    logs: list[Path]
    admin_token: str
    process: subprocess.Popen[bytes]
    clients: list[httpx.Client] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; wait for the exit (lines flushed)."""
        for made in self.clients:
            made.close()
        self.clients.clear()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        made = httpx.Client(base_url=self.url, headers=headers, timeout=30.0)
        self.clients.append(made)
        return made


def environment(settings: Settings) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANJU_")}
    env.update(
        ANJU_DATA_DIR=str(settings.data_dir),
        ANJU_COUNTY=settings.county,
        ANJU_MASTER_KEY=str(settings.master_key),
        ANJU_BLIND_INDEX_KEY=str(settings.blind_index_key),
        ANJU_SIGNING_KEY_FILE=str(settings.signing_key_file),
        PYTHONUNBUFFERED="1",
    )
    if settings.database_url:
        env["ANJU_DATABASE_URL"] = settings.database_url
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], logs: list[Path]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            written = "\n".join(path.read_text("utf-8", "replace") for path in logs)
            raise RuntimeError(f"anju serve exited with {process.returncode}:\n{written}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"anju serve did not answer /healthz at {url} in {STARTUP_SECONDS} s")


@pytest.fixture
def served(county_settings: Settings, tmp_path: Path) -> Iterator[Served]:
    env = environment(county_settings)
    bootstrap = subprocess.run(
        [str(ANJU), "accounts", "bootstrap", "--username", "root"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert bootstrap.returncode == 0, bootstrap.stderr
    (tmp_path / "bootstrap.out").write_bytes(bootstrap.stdout)
    (tmp_path / "bootstrap.err").write_bytes(bootstrap.stderr)
    token = bootstrap.stdout.decode().strip().splitlines()[-1]

    port = free_port()
    logs = [tmp_path / "bootstrap.out", tmp_path / "bootstrap.err"]
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    logs += [out, err]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(ANJU), "serve", "--port", str(port)], env=env, stdout=stdout, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}"
    live = Served(url, county_settings.data_dir, logs, token, process)
    try:
        wait_until_healthy(url, process, logs)
        yield live
    finally:
        live.stop()


# -- a day's work, and a careless caller's ------------------------------------------------


def household_body(name: str, phone: str | None, id_number: str | None, **more: Any) -> dict:
    body: dict[str, Any] = {
        "community_id": "xingfu",
        "grid_id": "g1",
        "head_name": name,
        "member_count": 3,
        "address": {"building": "3", "unit": "2", "room": "501"},
        "origin": {"township": "雷山镇", "village": "乌东村"},
        "relocated_on": "2019-06-15",
    }
    if phone is not None:
        body["phone"] = phone
    if id_number is not None:
        body["id_number"] = id_number
    body.update(more)
    return body


def expect(answer: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert answer.status_code in statuses, (
        f"{answer.request.url}: {answer.status_code} {answer.text}"
    )
    return answer.json() if answer.content and "json" in answer.headers["content-type"] else {}


def open_account(
    admin: httpx.Client, username: str, role: str, community: str | None = None
) -> str:
    body: dict[str, Any] = {"username": username, "display_name": f"{username}同志", "role": role}
    if community:
        body["community_id"] = community
    account_id = expect(admin.post("/v1/accounts", json=body), 201)["id"]
    return str(expect(admin.post(f"/v1/accounts/{account_id}/tokens"), 201)["token"])


def full_run(server: Served) -> None:
    admin = server.client(server.admin_token)
    for code, name in (("xingfu", "幸福社区"), ("anle", "安乐社区")):
        expect(
            admin.post(
                "/v1/communities",
                json={"id": code, "name": name, "township": "城关镇", "county": "示范县"},
            ),
            201,
        )
    for community, grid in (("xingfu", "g1"), ("xingfu", "g2"), ("anle", "g1")):
        expect(
            admin.post(
                f"/v1/communities/{community}/grids",
                json={"id": grid, "name": f"第{grid[-1]}网格"},
            ),
            201,
        )
    cadre = server.client(open_account(admin, "cadre1", "cadre", "xingfu"))
    supervisor = server.client(open_account(admin, "super1", "supervisor", "xingfu"))
    outsider = server.client(open_account(admin, "cadre9", "cadre", "anle"))
    auditor = server.client(open_account(admin, "audit1", "auditor"))
    anonymous = server.client()

    # Registrations with every field, some with a repeat under an idempotency key.
    ids = []
    for index, (name, phone, id_number) in enumerate(zip(NAMES, PHONES, ID_NUMBERS, strict=False)):
        key = {"Idempotency-Key": f"register-{index}"}
        body = household_body(name, phone, id_number)
        made = expect(cadre.post("/v1/households", json=body, headers=key), 201)
        again = expect(cadre.post("/v1/households", json=body, headers=key), 201)
        assert again["id"] == made["id"]
        ids.append(made["id"])
    # The same key with another person's data: refused.
    expect(
        cadre.post(
            "/v1/households",
            json=household_body(NAMES[3], PHONES[3], BAD_ID_NUMBERS[2]),
            headers={"Idempotency-Key": "register-0"},
        ),
        409,
        422,
    )
    # A phone is accepted as free text (no format is checked): still personal data.
    odd = expect(
        cadre.post("/v1/households", json=household_body(NAMES[4], BAD_PHONES[0], None)),
        201,
    )
    ids.append(odd["id"])
    # An ID number must pass its check: refused, and still personal data.
    expect(
        cadre.post("/v1/households", json=household_body(NAMES[4], PHONES[4], BAD_ID_NUMBERS[0])),
        422,
    )
    expect(cadre.post("/v1/households", json=household_body(NAMES[5], PHONES[4], None)), 201)

    # Bad input that carries personal data.
    refused = [
        household_body(NAMES[0], BAD_PHONES[1], ID_NUMBERS[0]),  # phone too long
        household_body(NAMES[1], PHONES[1], BAD_ID_NUMBERS[1]),  # ID number too long
        household_body(NAMES[2], PHONES[2], ID_NUMBERS[2], member_count=0),
        household_body(NAMES[0], PHONES[0], ID_NUMBERS[0], mobile=BAD_PHONES[2]),  # unknown field
        household_body(NAMES[1], int(PHONES[0]), ID_NUMBERS[1]),  # phone of the wrong type
        household_body(NAMES[2], PHONES[2], ID_NUMBERS[2], grid_id="no-such-grid"),
        household_body(NAMES[2], PHONES[2], ID_NUMBERS[2], relocated_on=BAD_ID_NUMBERS[0]),
    ]
    for body in refused:
        expect(cadre.post("/v1/households", json=body), 400, 404, 409, 422)
    broken = json.dumps(household_body(NAMES[0], PHONES[0], ID_NUMBERS[0]))[:-7]
    expect(
        cadre.post("/v1/households", content=broken, headers={"Content-Type": "application/json"}),
        400,
        422,
    )
    # Another community's cadre, a supervisor registering, no token at all.
    expect(outsider.post("/v1/households", json=household_body(NAMES[1], PHONES[1], None)), 403)
    expect(
        anonymous.post("/v1/households", json=household_body(NAMES[1], PHONES[1], ID_NUMBERS[1])),
        401,
    )
    expect(outsider.get(f"/v1/households/{ids[0]}"), 403, 404)

    # Reads: one, as of a moment, history, lists, a search by name and by phone.
    moment = (datetime.now(SHANGHAI) + timedelta(seconds=1)).isoformat()
    for household_id in ids:
        seen = expect(cadre.get(f"/v1/households/{household_id}"), 200)
        assert seen["phone"] is not None
        expect(supervisor.get(f"/v1/households/{household_id}/history"), 200)
        expect(cadre.get(f"/v1/households/{household_id}", params={"as_of": moment}), 200)
    expect(cadre.get("/v1/households", params={"limit": 50}), 200)
    for text in (NAMES[0], PHONES[0]):
        expect(cadre.get("/v1/households", params={"q": text}), 200)
    expect(auditor.get("/v1/households", params={"q": NAMES[1]}), 200, 403)

    # A grievance whose parties name people, read back.
    parties = [
        {"name": NAMES[2], "phone": PHONES[2], "id_number": ID_NUMBERS[2]},
        {"name": NAMES[3], "phone": BAD_PHONES[2]},
    ]
    case = expect(
        cadre.post(
            "/v1/grievances",
            json={
                "household_id": ids[0],
                "category": "facilities",
                "urgency": "urgent",
                "channel": "visit",
                "summary": "3栋2单元电梯停运两天",
                "parties": parties,
            },
        ),
        201,
    )
    expect(supervisor.get(f"/v1/grievances/{case['id']}"), 200)
    expect(supervisor.get(f"/v1/grievances/{case['id']}/history"), 200)
    expect(supervisor.get("/v1/grievances"), 200)
    expect(
        cadre.post(
            "/v1/grievances",
            json={
                "household_id": BAD_ID_NUMBERS[2],
                "category": "facilities",
                "urgency": "urgent",
                "channel": "visit",
                "summary": "电梯停运",
                "parties": parties,
            },
        ),
        404,
        422,
    )

    # Unknown IDs.
    for unknown in ("0b7f1c8e-3f7a-4a53-9a51-0c2f3c1d9a10", "no-such-household"):
        expect(cadre.get(f"/v1/households/{unknown}"), 404, 422)
        expect(supervisor.get(f"/v1/grievances/{unknown}"), 404, 422)

    # Erasure: a supervisor may not, an admin may; the erased household reads empty.
    erased = ids[1]
    expect(supervisor.post(f"/v1/households/{erased}/erase", json={"legal_basis": "申请"}), 403)
    expect(
        admin.post(f"/v1/households/{erased}/erase", json={"legal_basis": "本人依法申请删除"}), 200
    )
    gone = expect(cadre.get(f"/v1/households/{erased}"), 200)
    assert gone["erased"] is True and gone["phone"] is None
    expect(cadre.get(f"/v1/households/{erased}/history"), 200)
    expect(cadre.post("/v1/households", json=household_body(NAMES[1], PHONES[1], None)), 201)

    # Reports, the ledger, metrics and the audit trail.
    for report in ("workload", "coverage", "resolution", "late-entries"):
        expect(supervisor.get(f"/v1/reports/{report}"), 200)
    expect(supervisor.get("/v1/ledger/grievances", params={"format": "csv"}), 200)
    expect(anonymous.get("/metrics"), 200)
    expect(auditor.get("/v1/audit/events", params={"limit": 500}), 200)
    expect(auditor.get("/v1/audit/events", params={"aggregate_id": ids[0]}), 200)
    expect(auditor.get("/v1/audit/verify"), 200)
    expect(cadre.get("/v1/audit/events"), 403)


# -- reading what was written ----------------------------------------------------------


def forms(text: str) -> set[str]:
    """How a text could appear in a log line: as is, JSON-escaped, or percent-encoded."""
    escaped = json.dumps(text)[1:-1]
    return {text, escaped, escaped.replace("\\u", "\\U"), quote(text), quote(text, safe="")}


def everything_written(server: Served) -> dict[str, str]:
    """Each captured stream, and each log or text file under the data directory."""
    written = {str(path): path.read_text("utf-8", "replace") for path in server.logs}
    for path in server.data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".txt", ".jsonl", ".out", ".err"):
            written[str(path)] = path.read_text("utf-8", "replace")
    return written


def assert_no_personal_data_written(server: Served, secrets: list[str]) -> list[dict]:
    """Stops the server, then looks for each secret in all it wrote; the request lines."""
    server.stop()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert server.process.returncode in (0, -signal.SIGTERM), server.process.returncode
    written = everything_written(server)
    text = "\n".join(written.values())
    # The capture works: the access log is there, one JSON line per request.
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert requests, text[:2000]
    leaks = [
        (secret, form, name)
        for secret in secrets
        for form in forms(secret)
        for name, content in written.items()
        if form in content
    ]
    assert not leaks, "\n".join(
        f"{secret!r} (as {form!r}) in {name}: "
        + next(line for line in written[name].splitlines() if form in line)[:400]
        for secret, form, name in leaks
    )
    return requests


def test_the_logs_of_a_full_run_hold_no_phone_id_number_or_name(served: Served):
    full_run(served)

    requests = assert_no_personal_data_written(served, SECRETS)

    assert len(requests) > 50
    paths = {line["path"] for line in requests}
    assert "/v1/households" in paths and "/metrics" in paths
    statuses = {line["status"] for line in requests}
    assert statuses >= {200, 201, 401, 403, 404, 422}
    assert 500 not in statuses


def test_a_phone_or_id_number_sent_in_place_of_an_id_stays_out_of_the_logs(served: Served):
    """A caller who types a phone or ID number where an ID belongs (a lookup by mistake,
    a scanner, a hostile probe) must not get it written to the access log either."""
    caller = served.client(open_account(served.client(served.admin_token), "admin2", "admin"))
    secrets = [PHONES[1], ID_NUMBERS[0], BAD_ID_NUMBERS[0], NAMES[0]]
    for secret in secrets:
        encoded = quote(secret, safe="")
        expect(caller.get(f"/v1/households/{encoded}"), 404, 422)
        expect(caller.get(f"/v1/households/{encoded}/history"), 404, 422)
        expect(caller.get(f"/v1/grievances/{encoded}"), 404, 422)
        expect(caller.post(f"/v1/households/{encoded}/erase", json={"legal_basis": "申请"}), 404)
        expect(caller.get(f"/v1/no-such-route/{encoded}"), 404)

    requests = assert_no_personal_data_written(served, secrets)

    assert len(requests) >= 5 * len(secrets)
