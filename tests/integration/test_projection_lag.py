"""With no projection running, status and /metrics show the lag growing; restarted, it is gone.

A small county is caught up and closed. The API server then runs with
``--no-projections`` and nothing else projects, while commands append events
in this process: `anju projections status` and ``/metrics`` must both show the
lag, in events and in seconds, and show it growing. `anju projections run`
then catches every read model up to zero lag, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from api.bootstrap import County, open_county
from application.actors import SYSTEM, Actor
from application.organisation import actor_of
from infrastructure.settings import Settings
from tests.integration.projection_processes import (
    StatusRow,
    eventually,
    notification_ids,
    parse_metrics,
    parse_status,
    run_anju,
    start_anju,
    stop,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MODELS = {"organisation", "casework"}
LAG_EVENTS = "anju_projection_lag_events"
LAG_SECONDS = "anju_projection_lag_seconds"
PROCESSED = "anju_projection_events_processed_total"


def found_county(county: County) -> Actor:
    """A community with one grid and a cadre; the cadre, who can register and visit."""
    org = county.services.organisation
    org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
    org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")
    view, _ = org.open_account(
        SYSTEM, username="cadre1", display_name="cadre1", role="cadre", community_id="xingfu"
    )
    return actor_of(org.account(view.id))


def casework(county: County, cadre: Actor, households: int) -> None:
    """Register households and log a visit to each, as the cadre."""
    for number in range(households):
        view, _ = county.services.households.register(
            cadre,
            community_id="xingfu",
            grid_id="g1",
            head_name=f"张{number}",
            member_count=3,
            phone="13812345678",
            address={"building": "1", "unit": "2", "room": f"{301 + number}"},
            origin={"township": "花溪镇", "village": "石板村"},
            relocated_on=date(2021, 3, 1),
        )
        county.services.visits.log(
            cadre,
            household_id=view.id,
            visited_at=datetime.now(SHANGHAI) - timedelta(hours=1),
            channel="in_person",
            purpose="routine",
            notes="入户走访",
        )


def status(settings: Settings) -> tuple[int, dict[str, StatusRow]]:
    """The log head and each live model's row, as `anju projections status` prints them."""
    done = run_anju(settings, "projections", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    head = int(done.stdout.split("log head ", 1)[1].split()[0])
    rows = parse_status(done.stdout)
    assert set(rows) == MODELS, done.stdout
    return head, rows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metrics(client: httpx.Client) -> str:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return answer.text


def test_with_the_projection_stopped_the_lag_grows_and_a_restarted_run_catches_up_to_zero(
    county_settings: Settings, tmp_path: Path
) -> None:
    county = open_county(county_settings)
    try:
        cadre = found_county(county)
        casework(county, cadre, households=3)
        county.services.projections.catch_up()
    finally:
        county.close()
    head, caught_up = status(county_settings)
    for row in caught_up.values():
        assert (row.position, row.lag_events, row.lag_seconds) == (head, 0, 0.0)

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        server = start_anju(
            county_settings,
            "serve",
            "--no-projections",
            "--port",
            str(port),
            stdout=out,
            stderr=out,
        )
        try:

            def healthy() -> bool:
                assert server.poll() is None, log.read_text("utf-8")
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            assert eventually(healthy, 30), log.read_text("utf-8")
            county = open_county(county_settings)  # appends; it runs no projection
            try:
                check_lag_and_catch_up(county, cadre, county_settings, http, caught_up, tmp_path)
            finally:
                county.close()
            server.send_signal(signal.SIGTERM)
            # uvicorn shuts down, then re-raises the signal it caught.
            assert server.wait(timeout=15) in (0, -signal.SIGTERM), log.read_text("utf-8")
        finally:
            stop(server)


def check_lag_and_catch_up(
    county: County,
    cadre: Actor,
    settings: Settings,
    http: httpx.Client,
    caught_up: dict[str, StatusRow],
    tmp_path: Path,
) -> None:
    # Stopped: both the command and /metrics show a lag, which grows.
    casework(county, cadre, households=2)
    first_head, first = status(settings)
    first_metrics = metrics(http)
    casework(county, cadre, households=3)
    time.sleep(1.0)  # the oldest waiting event ages by a second at least
    second_head, second = status(settings)
    second_metrics = metrics(http)
    assert second_head > first_head > caught_up["casework"].position
    for model in MODELS:
        before, after = first[model], second[model]
        assert before.position == after.position == caught_up[model].position
        assert before.processed == after.processed == caught_up[model].processed
        assert before.lag_events == first_head - before.position > 0
        assert after.lag_events == second_head - after.position > before.lag_events
        assert 0 < before.lag_seconds < after.lag_seconds
    for name in (LAG_EVENTS, LAG_SECONDS, PROCESSED):
        assert set(parse_metrics(first_metrics, name)) == MODELS, first_metrics
    lag_events = parse_metrics(first_metrics, LAG_EVENTS), parse_metrics(second_metrics, LAG_EVENTS)
    lag_seconds = (
        parse_metrics(first_metrics, LAG_SECONDS),
        parse_metrics(second_metrics, LAG_SECONDS),
    )
    processed = parse_metrics(first_metrics, PROCESSED), parse_metrics(second_metrics, PROCESSED)
    for model in MODELS:
        assert 0 < lag_events[0][model] < lag_events[1][model], (first_metrics, second_metrics)
        assert lag_events[1][model] == second[model].lag_events
        assert 0 < lag_seconds[0][model] < lag_seconds[1][model], (first_metrics, second_metrics)
        assert processed[0][model] == processed[1][model] == caught_up[model].processed

    # Restarted: `anju projections run` brings every model to zero lag, and stops on SIGTERM.
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        runner = start_anju(settings, "projections", "run", stdout=out, stderr=out)
        try:

            def caught_up_again() -> bool:
                assert runner.poll() is None, log.read_text("utf-8")
                lags = parse_metrics(metrics(http), LAG_EVENTS)
                return set(lags) == MODELS and not any(lags.values())

            assert eventually(caught_up_again, 30), metrics(http)
            head, final = status(settings)
            events = len(notification_ids(county.book))
            assert head == second_head
            now_metrics = metrics(http)
            for model in MODELS:
                row = final[model]
                assert (row.position, row.lag_events, row.lag_seconds) == (head, 0, 0.0)
                assert row.processed == events > caught_up[model].processed
                assert parse_metrics(now_metrics, LAG_SECONDS)[model] == 0.0
                assert parse_metrics(now_metrics, PROCESSED)[model] == events
            runner.send_signal(signal.SIGTERM)
            try:
                code = runner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise AssertionError("`anju projections run` ignored SIGTERM for 10 s") from None
            assert code == 0, log.read_text("utf-8")
        finally:
            stop(runner)
