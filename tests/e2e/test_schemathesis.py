"""Property-based checks of every operation in the app's own OpenAPI, with schemathesis.

Each operation gets a bounded number of generated requests (valid ones, and
invalid ones), sent over HTTP to the live server with a token that gets past
authentication: the admin's for organisation work, the supervisor's otherwise.
Half the time, path parameters and the ID fields of valid bodies name real
things, so the requests reach past 404 and 422 to the commands themselves.
Every answer must be below 500 and match what the app documents for it (body
schema and media type).
The SQLite store only: the other tests cover PostgreSQL, and this is the slow one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.e2e.conftest import World

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
BUDGET_SECONDS = 75.0
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def real_ids(world: World) -> dict[str, str]:
    household = world.household()["id"]
    visit = world.visit(household)["id"]
    case = world.case_in("in_progress", assignee=world.supervisor)
    return {
        "community_id": "xingfu",
        "account_id": world.cadre2.id,
        "token_id": world.cadre2.token_id,
        "household_id": household,
        "visit_id": visit,
        "grievance_id": case,
    }


def real_references(world: World, ids: dict[str, str]) -> dict[str, Any]:
    """Values for ID fields in bodies that name something that exists in xingfu."""
    return {
        "household_id": ids["household_id"],
        "visit_id": ids["visit_id"],
        "community_id": "xingfu",
        "grid_id": "g1",
        "assignee_id": world.supervisor.id,
        "cadre_id": world.cadre2.id,
        "into": world.case_in("filed"),
        "grievance_id": None,
        "life_event_id": None,
    }


def referring_to(references: dict[str, Any]) -> Any:
    """Rewrites a generated body's ID fields to name real things, so commands can succeed."""

    def rewrite(case: Any) -> Any:
        if isinstance(case.body, dict):
            for name, value in references.items():
                if name in case.body:
                    case.body[name] = value
        return case

    return rewrite


def describe(case: Any, response: requests.Response | None) -> str:
    status = response.status_code if response is not None else "no answer"
    text = response.text[:300] if response is not None else ""
    body = case.body if not isinstance(case.body, bytes) else case.body[:200]
    return (
        f"{case.method} {case.formatted_path} query={case.query} headers="
        f"{ {k: v for k, v in (case.headers or {}).items() if k.lower() != 'authorization'} } "
        f"body={str(body)[:300]} -> {status} {text}"
    )


Failures = dict[str, dict[str, list[str]]]  # check title -> operation -> examples


def explore(
    world: World, label: str, strategy: Any, count: int, auth: dict[str, str], found: Failures
) -> None:
    """Send ``count`` generated requests; note each answer that is a 5xx or off-schema."""

    def note(title: str, example: str) -> None:
        found.setdefault(title, {}).setdefault(label, []).append(example)

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def probe(case: Any) -> None:
        # A position beyond the log's head is answered 503 after 10 s, as the HTTP contract says:
        # that wait is tested on its own, not here.
        if isinstance(case.query, dict):
            case.query.pop("consistent_with", None)
        try:
            response = case.call(base_url=world.server.url, headers=auth, timeout=30)
        except (UnicodeError, ValueError, requests.exceptions.InvalidHeader):
            return  # the client could not even encode this request
        except requests.RequestException as error:
            note("No answer", f"{describe(case, None)}: {error}")
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseExceptionGroup as group:  # schemathesis's FailureGroup
            for failure in group.exceptions:
                title = str(getattr(failure, "title", type(failure).__name__))
                message = str(getattr(failure, "message", "")).strip().replace("\n", " ")
                note(title, f"{describe(case, response)}\n        {message[:300]}")

    # Unsatisfiable: nothing to generate in this mode (no input that can be made invalid).
    with contextlib.suppress(Unsatisfiable):
        probe()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_every_operation_against_its_own_schema(world: World) -> None:
    spec = world.anonymous.get("/openapi.json")
    assert spec.status_code == 200
    schema = schemathesis.openapi.from_dict(spec.json())
    ids = real_ids(world)
    references = real_references(world, ids)
    tokens = {"organisation": world.admin.token, "default": world.supervisor.token}
    found: Failures = {}
    exercised: list[str] = []
    started = time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        tags = operation.definition.raw.get("tags", [])
        token = tokens["organisation"] if "organisation" in tags else tokens["default"]
        auth = {"Authorization": f"Bearer {token}"}
        names = [p.name for p in operation.path_parameters]
        fixed = {name: ids[name] for name in names if name in ids}
        exercised.append(label)

        for mode, count in EXAMPLES.items():
            generated = operation.as_strategy(generation_mode=mode)
            grounded = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            if mode is GenerationMode.POSITIVE:
                grounded = grounded.map(referring_to(references))
            strategy = st.one_of(generated, grounded)
            explore(world, label, strategy, count, auth, found)
        assert time.monotonic() - started < BUDGET_SECONDS * 2, "schemathesis ran far too long"

    assert len(exercised) >= 30, exercised
    lines = []
    for title, by_operation in sorted(found.items()):
        lines.append(f"{title}: {len(by_operation)} operations")
        for label, examples in sorted(by_operation.items()):
            lines.append(f"  {label} ({len(examples)}x), e.g. {examples[0]}")
    assert not found, "\n" + "\n".join(lines)
