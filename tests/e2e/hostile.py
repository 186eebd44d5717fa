"""What the hardening tests share: a walk over every read a county offers, and read models
compared with a rebuild of them.

A county that took in something it could not fold answers 500 on its lists, reports or
ledgers long after the request that did it; these checks catch that.
"""

from __future__ import annotations

from typing import Any

import httpx

from api.bootstrap import County
from tests.e2e.conftest import PROBLEM

Dump = dict[tuple[str, str], list[dict[str, Any]]]

# The reads of the HTTP contract that the app serves, for every role that may read them.
LISTS = ("/v1/me", "/v1/communities", "/v1/households", "/v1/visits", "/v1/grievances")
REPORTS = (
    "/v1/policies",
    "/v1/reports/workload",
    "/v1/reports/coverage",
    "/v1/reports/stars",
    "/v1/reports/late-entries",
)
GROUPINGS = ("category", "grid", "community")
LEDGERS = ("/v1/ledger/grievances",)
AUDIT = ("/v1/audit/events", "/v1/audit/verify", "/v1/audit/checkpoints")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Reads this file knows about; whatever else /openapi.json offers is walked too.
KNOWN = {*LISTS, *REPORTS, "/v1/reports/resolution", *LEDGERS, *AUDIT}


def reads_without_parameters(client: httpx.Client) -> set[str]:
    """Every GET under /v1 the app documents that needs no path parameter."""
    spec = client.get("/openapi.json")
    assert spec.status_code == 200, spec.text[:300]
    return {
        path
        for path, operations in spec.json()["paths"].items()
        if path.startswith("/v1/") and "get" in operations and "{" not in path
    }


def assert_county_still_answers(client: httpx.Client) -> None:
    """Every list, report, ledger (CSV and XLSX) and, for an auditor, audit read answers 200."""
    me = client.get("/v1/me")
    assert me.status_code == 200, f"/v1/me: {me.status_code} {me.text[:300]}"
    auditor = me.json()["role"] == "auditor"
    failures: list[str] = []

    def read(path: str, **params: str) -> httpx.Response:
        answer = client.get(path, params=params)
        if answer.status_code != 200:
            failures.append(f"{path} {params}: {answer.status_code} {answer.text[:200]}")
        return answer

    for path in (*LISTS, *REPORTS):
        read(path)
    for grouping in GROUPINGS:
        read("/v1/reports/resolution", group_by=grouping)
    offered = reads_without_parameters(client)
    ledgers = {*LEDGERS, *(path for path in offered if path.startswith("/v1/ledger/"))}
    for path in sorted(ledgers):
        read_ledger(read, path)
    audit = {*AUDIT, *(path for path in offered if path.startswith("/v1/audit/"))}
    if auditor:
        for path in sorted(audit):
            read(path)
    for path in sorted(offered - KNOWN - ledgers - audit):
        answer = client.get(path)
        if answer.status_code >= 500 or answer.status_code == 404:
            failures.append(f"{path}: {answer.status_code} {answer.text[:200]}")
    assert not failures, "\n".join(failures)


def read_ledger(read: Any, path: str) -> None:
    as_csv = read(path, format="csv")
    if as_csv.status_code == 200:
        assert as_csv.headers["content-type"].startswith("text/csv"), as_csv.headers
        as_csv.content.decode("utf-8-sig")
    as_xlsx = read(path, format="xlsx")
    if as_xlsx.status_code == 200:
        assert as_xlsx.headers["content-type"] == XLSX, as_xlsx.headers
        assert as_xlsx.content[:2] == b"PK", "an XLSX is a zip archive"


def assert_problem_answer(answer: httpx.Response) -> dict[str, Any]:
    """A 4xx as RFC 9457 problem+json, with no stack trace in it."""
    assert answer.headers.get("content-type", "").startswith(PROBLEM), answer.headers
    body = answer.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"{key} missing from {body}"
    assert body["status"] == answer.status_code, body
    assert "Traceback" not in answer.text, answer.text[:300]
    return body


def dump(county: County) -> Dump:
    """Every row of every live read-model table, ordered by id."""
    projections = county.services.projections
    return {
        (model.name, table.name): projections.store.select(model, table.name, order_by=("id",))
        for model in projections.models.values()
        for table in model.tables
    }


def assert_read_models_equal_a_rebuild(county: County) -> None:
    """Caught up, the read models hold exactly what a rebuild from position 0 makes."""
    projections = county.services.projections
    projections.wait_for(projections.head(), seconds=30)
    live = dump(county)
    projections.rebuild()
    rebuilt = dump(county)
    differing = [key for key in rebuilt if live.get(key) != rebuilt[key]]
    assert set(live) == set(rebuilt)
    assert not differing, f"read models differ from a rebuild in {differing}"
