"""The audit endpoints over HTTP: the sealed log in order, its verification, checkpoints."""

from __future__ import annotations

import pytest

from application.hash_chain import GENESIS, link
from tests.e2e.conftest import World, assert_problem


def test_the_audit_log_lists_every_event_in_order_with_actor_seal_and_masked_personal_data(
    world: World,
) -> None:
    household = world.household(id_number="522601198503150027")
    world.visit(household["id"])
    events = world.auditor.client.get("/v1/audit/events", params={"limit": 1000}).json()

    positions = [event["position"] for event in events]
    assert positions == sorted(positions) and len(positions) == len(set(positions))
    assert positions[-1] == world.head()
    registered = next(
        e
        for e in events
        if e["event_type"] == "Household.Registered" and e["aggregate_id"] == household["id"]
    )
    assert registered["aggregate_type"] == "Household"
    assert registered["version"] == 1
    assert registered["actor"] == world.cadre.id
    assert registered["data"]["phone"] == "138****5678"
    assert "13812345678" not in str(events) and "522601198503150027" not in str(events)
    assert all(len(event["hash"]) == 64 for event in events)


def test_each_events_hash_chains_from_the_one_before_it(world: World) -> None:
    world.household()
    events = world.auditor.client.get("/v1/audit/events", params={"limit": 1000}).json()
    verified = world.auditor.client.get("/v1/audit/verify").json()

    assert verified["head"] == {"position": events[-1]["position"], "hash": events[-1]["hash"]}
    # The first event's seal is the first link of the chain, from the genesis value.
    book = world.server.county.book
    first = book.recorder.select_notifications(start=1, limit=1)[0]
    expected = link(
        GENESIS, first.id, first.originator_id, first.originator_version, first.topic, first.state
    )
    assert events[0]["hash"] == expected.hex()


def test_the_audit_log_pages_after_a_position_and_filters_by_aggregate_and_actor(
    world: World,
) -> None:
    first = world.household()
    world.household(by=world.cadre2)
    world.visit(first["id"])
    everything = world.auditor.client.get("/v1/audit/events", params={"limit": 1000}).json()

    page = world.auditor.client.get(
        "/v1/audit/events", params={"after": everything[2]["position"], "limit": 3}
    ).json()
    assert page == everything[3:6]
    own = world.auditor.client.get(
        "/v1/audit/events", params={"aggregate_id": first["id"], "limit": 1000}
    ).json()
    assert own and {e["aggregate_id"] for e in own} == {first["id"]}
    by_cadre2 = world.auditor.client.get(
        "/v1/audit/events", params={"actor": world.cadre2.id, "limit": 1000}
    ).json()
    assert by_cadre2 == [e for e in everything if e["actor"] == world.cadre2.id]
    assert by_cadre2


def test_an_untouched_log_verifies_and_a_signed_checkpoint_is_listed(world: World) -> None:
    world.household()
    verified = world.auditor.client.get("/v1/audit/verify").json()
    assert verified["ok"] is True
    assert verified["first_bad_position"] is None
    assert verified["events_checked"] == world.head()

    signed = world.server.county.audit.checkpoint()
    listed = world.auditor.client.get("/v1/audit/checkpoints").json()
    assert listed[-1] == {
        "position": signed.position,
        "hash": signed.hash.hex(),
        "signed_at": listed[-1]["signed_at"],
        "signature": signed.signature.hex(),
        "key_id": signed.key_id,
    }
    assert world.auditor.client.get("/v1/audit/verify").json()["checkpoints_checked"] >= 1


@pytest.mark.parametrize("path", ["/v1/audit/events", "/v1/audit/verify", "/v1/audit/checkpoints"])
def test_only_the_auditor_reads_the_audit_endpoints(world: World, path: str) -> None:
    for account in (world.admin, world.cadre, world.supervisor):
        assert_problem(account.client.get(path), 403)
    assert_problem(world.anonymous.get(path), 401)
    assert world.auditor.client.get(path).status_code == 200
