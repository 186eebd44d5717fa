"""Households: registration, tags, employment, life events, contact cadre, moves."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import InvalidCommand, StateConflict
from domain.household import Household, Sealed
from tests.fakes import SHANGHAI
from tests.unit.replaying import replay, state_of

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
TODAY = date(2026, 11, 2)
CADRE = "cadre-1"
SUPERVISOR = "supervisor-1"
ADDRESS = {"building": "3", "unit": "2", "room": "501"}
ORIGIN = {"township": "花溪镇", "village": "石板村"}
SEALED = Sealed(head_name="sealed:name", phone="sealed:phone", id_number=None)


def register(now: datetime = NOW, **overrides: Any) -> Household:
    fields: dict[str, Any] = {
        "household_id": uuid4(),
        "community_id": "xingfu",
        "grid_id": "g1",
        "sealed": SEALED,
        "member_count": 4,
        "address": dict(ADDRESS),
        "origin": dict(ORIGIN),
        "relocated_on": date(2021, 3, 1),
        "tags": [],
        "actor": CADRE,
        "now": now,
    }
    fields.update(overrides)
    return Household.register(**fields)


def later(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


# -- registration ----------------------------------------------------------------------------


def test_a_registered_household_starts_with_no_employment_cadre_or_life_events():
    household = register(tags=["low_income"])

    assert household.community_id == "xingfu"
    assert household.grid_id == "g1"
    assert household.member_count == 4
    assert household.address == ADDRESS
    assert household.origin == ORIGIN
    assert household.relocated_on == date(2021, 3, 1)
    assert household.tags == ["low_income"]
    assert (household.labour_force, household.employed) == (0, 0)
    assert household.zero_employment is False
    assert household.contact_cadre_id is None
    assert household.life_events == {}
    assert household.created_on == NOW


def test_personal_data_is_held_only_as_given_ciphertext():
    household = register()

    assert (household.head_name, household.phone, household.id_number) == (
        "sealed:name",
        "sealed:phone",
        None,
    )
    event = household.collect_events()[0]
    assert (event.head_name, event.phone, event.id_number) == ("sealed:name", "sealed:phone", None)


@pytest.mark.parametrize("member_count", [0, -1, 101])
def test_a_household_has_between_1_and_100_members(member_count):
    with pytest.raises(InvalidCommand) as refused:
        register(member_count=member_count)

    assert refused.value.field == "member_count"


@pytest.mark.parametrize("member_count", [1, 100])
def test_the_member_count_limits_are_inclusive(member_count):
    assert register(member_count=member_count).member_count == member_count


@pytest.mark.parametrize("part", ["building", "unit", "room"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_address_needs_building_unit_and_room(part, value):
    address = dict(ADDRESS) | {part: value}

    with pytest.raises(InvalidCommand) as refused:
        register(address=address)

    assert refused.value.field == f"address.{part}"


@pytest.mark.parametrize("part", ["building", "unit", "room"])
def test_an_address_part_missing_altogether_is_refused(part):
    address = {key: value for key, value in ADDRESS.items() if key != part}

    with pytest.raises(InvalidCommand) as refused:
        register(address=address)

    assert refused.value.field == f"address.{part}"


def test_an_address_keeps_only_its_three_parts_stripped():
    household = register(address={"building": " 3 ", "unit": 2, "room": "501", "floor": "5"})

    assert household.address == {"building": "3", "unit": "2", "room": "501"}


@pytest.mark.parametrize("part", ["township", "village"])
def test_a_household_keeps_its_origin_township_and_village(part):
    origin = dict(ORIGIN) | {part: " "}

    with pytest.raises(InvalidCommand) as refused:
        register(origin=origin)

    assert refused.value.field == f"origin.{part}"


def test_registration_refuses_an_unknown_tag():
    with pytest.raises(InvalidCommand) as refused:
        register(tags=["low_income", "rich"])

    assert refused.value.field == "tags"


def test_registration_keeps_tags_sorted_and_once_each():
    household = register(tags=["party_member", "low_income", "party_member"])

    assert household.tags == ["low_income", "party_member"]


def test_every_tag_of_domain_md_is_accepted():
    tags = [
        "low_income",
        "elderly_alone",
        "left_behind_children",
        "disability",
        "no_labour",
        "party_member",
    ]

    assert register(tags=tags).tags == sorted(tags)


def test_a_relocation_date_in_the_future_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        register(relocated_on=TODAY + timedelta(days=1))

    assert refused.value.field == "relocated_on"


def test_a_household_may_have_relocated_today():
    assert register(relocated_on=TODAY).relocated_on == TODAY


def test_today_is_the_county_local_date_of_now():
    just_after_midnight = datetime(2026, 11, 3, 0, 30, tzinfo=SHANGHAI)  # 2 Nov in UTC

    household = register(now=just_after_midnight, relocated_on=date(2026, 11, 3))

    assert household.relocated_on == date(2026, 11, 3)


def test_registering_with_a_naive_now_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        register(now=datetime(2026, 11, 2, 9, 0))

    assert refused.value.field == "now"


# -- tags ------------------------------------------------------------------------------------


def test_tags_are_added_and_removed_in_one_change():
    household = register(tags=["low_income"])

    household.change_tags(add=["elderly_alone"], remove=["low_income"], actor=CADRE, now=later(1))

    assert household.tags == ["elderly_alone"]
    event = household.collect_events()[-1]
    assert (event.added, event.removed) == (["elderly_alone"], ["low_income"])


def test_a_tag_change_records_only_what_actually_changed():
    household = register(tags=["low_income"])

    household.change_tags(
        add=["low_income", "disability"], remove=["no_labour"], actor=CADRE, now=later(1)
    )

    assert household.tags == ["disability", "low_income"]
    event = household.collect_events()[-1]
    assert (event.added, event.removed) == (["disability"], [])


@pytest.mark.parametrize(
    ("add", "remove"),
    [(["low_income"], []), ([], ["disability"]), ([], []), (["low_income"], ["disability"])],
)
def test_a_tag_change_that_changes_nothing_is_a_state_conflict(add, remove):
    household = register(tags=["low_income"])

    with pytest.raises(StateConflict) as refused:
        household.change_tags(add=add, remove=remove, actor=CADRE, now=later(1))

    assert refused.value.state == "unchanged"
    assert household.version == 1


def test_a_tag_cannot_be_added_and_removed_at_once():
    household = register()

    with pytest.raises(InvalidCommand) as refused:
        household.change_tags(add=["disability"], remove=["disability"], actor=CADRE, now=later(1))

    assert refused.value.field == "add"


@pytest.mark.parametrize("field", ["add", "remove"])
def test_a_tag_change_with_an_unknown_tag_names_the_list(field):
    household = register()
    change: dict[str, list[str]] = {"add": [], "remove": []} | {field: ["vip"]}

    with pytest.raises(InvalidCommand) as refused:
        household.change_tags(**change, actor=CADRE, now=later(1))

    assert refused.value.field == field


# -- employment ------------------------------------------------------------------------------


def test_employment_is_recorded_with_a_note():
    household = register(member_count=4)

    household.record_employment(
        labour_force=2, employed=1, note="扶贫车间", actor=CADRE, now=later(1)
    )

    assert (household.labour_force, household.employed) == (2, 1)
    assert household.collect_events()[-1].note == "扶贫车间"


@pytest.mark.parametrize(
    ("labour_force", "employed", "field"),
    [
        (5, 0, "labour_force"),
        (-1, 0, "labour_force"),
        (2, 3, "employed"),
        (2, -1, "employed"),
    ],
)
def test_employed_is_at_most_labour_force_which_is_at_most_the_member_count(
    labour_force, employed, field
):
    household = register(member_count=4)

    with pytest.raises(InvalidCommand) as refused:
        household.record_employment(
            labour_force=labour_force, employed=employed, note=None, actor=CADRE, now=later(1)
        )

    assert refused.value.field == field
    assert (household.labour_force, household.employed) == (0, 0)


def test_the_whole_household_may_be_labour_force_and_employed():
    household = register(member_count=4)

    household.record_employment(labour_force=4, employed=4, note=None, actor=CADRE, now=later(1))

    assert (household.labour_force, household.employed) == (4, 4)


@pytest.mark.parametrize(
    ("labour_force", "employed", "zero"),
    [(2, 0, True), (1, 0, True), (2, 1, False), (2, 2, False), (0, 0, False)],
)
def test_a_zero_employment_household_has_labour_force_but_nobody_employed(
    labour_force, employed, zero
):
    household = register(member_count=4)

    household.record_employment(
        labour_force=labour_force, employed=employed, note=None, actor=CADRE, now=later(1)
    )

    assert household.zero_employment is zero


def test_employment_is_recorded_over_time_and_the_latest_figure_holds():
    household = register(member_count=4)
    household.record_employment(labour_force=2, employed=0, note=None, actor=CADRE, now=later(1))
    assert household.zero_employment is True

    household.record_employment(
        labour_force=2, employed=1, note="已就业", actor=CADRE, now=later(2)
    )

    assert household.zero_employment is False
    assert household.version == 3


# -- life events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        ("wedding", 7),
        ("funeral", 7),
        ("dispute", 7),
        ("illness", 3),
        ("disaster", 3),
        ("family_change", 3),
    ],
)
def test_a_life_event_creates_a_mandatory_visit_due_in_7_days_or_3_for_pressing_ones(kind, days):
    household = register()
    occurred_on = date(2026, 10, 30)

    due = household.report_life_event(
        life_event_id="le-1", kind=kind, occurred_on=occurred_on, note=None, actor=CADRE, now=NOW
    )

    assert due == occurred_on + timedelta(days=days)
    assert household.life_events["le-1"] == {
        "kind": kind,
        "occurred_on": occurred_on,
        "visit_due_by": due,
    }
    assert household.check_has_life_event("le-1")["visit_due_by"] == due
    assert household.collect_events()[-1].visit_due_by == due


def test_a_life_event_in_the_future_is_refused():
    household = register()

    with pytest.raises(InvalidCommand) as refused:
        household.report_life_event(
            life_event_id="le-1",
            kind="illness",
            occurred_on=TODAY + timedelta(days=1),
            note=None,
            actor=CADRE,
            now=NOW,
        )

    assert refused.value.field == "occurred_on"
    assert household.life_events == {}


def test_a_life_event_may_be_reported_the_day_it_happens():
    household = register()

    due = household.report_life_event(
        life_event_id="le-1", kind="illness", occurred_on=TODAY, note="住院", actor=CADRE, now=NOW
    )

    assert due == TODAY + timedelta(days=3)


def test_a_life_event_of_an_unknown_kind_is_refused():
    household = register()

    with pytest.raises(InvalidCommand) as refused:
        household.report_life_event(
            life_event_id="le-1",
            kind="birthday",
            occurred_on=TODAY,
            note=None,
            actor=CADRE,
            now=NOW,
        )

    assert refused.value.field == "kind"


def test_asking_for_a_life_event_the_household_never_had_names_the_field():
    with pytest.raises(InvalidCommand) as refused:
        register().check_has_life_event("le-404")

    assert refused.value.field == "life_event_id"


# -- contact cadre and moves -----------------------------------------------------------------


def test_assigning_the_first_contact_cadre_records_no_previous_one():
    household = register()

    household.assign_contact_cadre(cadre_id="cadre-a", actor=SUPERVISOR, now=later(1))

    assert household.contact_cadre_id == "cadre-a"
    event = household.collect_events()[-1]
    assert (event.cadre_id, event.previous_cadre_id) == ("cadre-a", None)


def test_reassigning_the_contact_cadre_records_who_was_responsible_before():
    household = register()
    household.assign_contact_cadre(cadre_id="cadre-a", actor=SUPERVISOR, now=later(1))

    household.assign_contact_cadre(cadre_id="cadre-b", actor=SUPERVISOR, now=later(2))

    assert household.contact_cadre_id == "cadre-b"
    event = household.collect_events()[-1]
    assert (event.cadre_id, event.previous_cadre_id, event.timestamp) == (
        "cadre-b",
        "cadre-a",
        later(2),
    )


def test_assigning_the_same_contact_cadre_again_is_a_state_conflict():
    household = register()
    household.assign_contact_cadre(cadre_id="cadre-a", actor=SUPERVISOR, now=later(1))

    with pytest.raises(StateConflict) as refused:
        household.assign_contact_cadre(cadre_id="cadre-a", actor=SUPERVISOR, now=later(2))

    assert refused.value.state == "unchanged"


def test_moving_changes_grid_and_address_and_records_where_from():
    household = register()
    new_address = {"building": "7", "unit": "1", "room": "102"}

    household.move(grid_id="g2", address=new_address, actor=CADRE, now=later(1))

    assert (household.grid_id, household.address) == ("g2", new_address)
    event = household.collect_events()[-1]
    assert (event.grid_id, event.from_grid_id, event.address) == ("g2", "g1", new_address)


def test_moving_within_the_grid_changes_only_the_address():
    household = register()
    new_address = dict(ADDRESS) | {"room": "502"}

    household.move(grid_id="g1", address=new_address, actor=CADRE, now=later(1))

    assert (household.grid_id, household.address) == ("g1", new_address)


def test_moving_to_where_the_household_already_lives_is_a_state_conflict():
    household = register()

    with pytest.raises(StateConflict) as refused:
        household.move(grid_id="g1", address=dict(ADDRESS), actor=CADRE, now=later(1))

    assert refused.value.state == "unchanged"


def test_moving_to_an_incomplete_address_is_refused():
    household = register()

    with pytest.raises(InvalidCommand) as refused:
        household.move(grid_id="g2", address={"building": "7", "unit": "1"}, actor=CADRE, now=NOW)

    assert refused.value.field == "address.room"
    assert household.grid_id == "g1"


# -- actors, time, replay --------------------------------------------------------------------


def worked_household() -> tuple[Household, list[tuple[str, datetime]]]:
    household = register(tags=["low_income"])
    household.assign_contact_cadre(cadre_id="cadre-a", actor=SUPERVISOR, now=later(1))
    household.change_tags(add=["disability"], remove=[], actor=CADRE, now=later(2))
    household.record_employment(labour_force=2, employed=0, note=None, actor=CADRE, now=later(3))
    household.report_life_event(
        life_event_id="le-1",
        kind="funeral",
        occurred_on=TODAY,
        note=None,
        actor=CADRE,
        now=later(4),
    )
    household.move(
        grid_id="g2",
        address={"building": "9", "unit": "1", "room": "101"},
        actor=CADRE,
        now=later(5),
    )
    household.assign_contact_cadre(cadre_id="cadre-b", actor=SUPERVISOR, now=later(6))
    steps = [
        (CADRE, NOW),
        (SUPERVISOR, later(1)),
        (CADRE, later(2)),
        (CADRE, later(3)),
        (CADRE, later(4)),
        (CADRE, later(5)),
        (SUPERVISOR, later(6)),
    ]
    return household, steps


def test_every_household_event_carries_its_actor_and_the_now_it_was_decided_at():
    household, steps = worked_household()

    events = household.collect_events()

    assert [(event.actor, event.timestamp) for event in events] == steps
    assert household.modified_on == later(6)


def test_a_household_replayed_from_its_events_equals_the_live_one():
    household, _ = worked_household()

    replayed = replay(household.collect_events())

    assert isinstance(replayed, Household)
    assert state_of(replayed) == state_of(household)
    assert replayed.zero_employment is True
    assert replayed.contact_cadre_id == "cadre-b"


@pytest.mark.parametrize(
    "command",
    [
        lambda h, now: h.assign_contact_cadre(cadre_id="cadre-a", actor=CADRE, now=now),
        lambda h, now: h.change_tags(add=["disability"], remove=[], actor=CADRE, now=now),
        lambda h, now: h.record_employment(
            labour_force=1, employed=1, note=None, actor=CADRE, now=now
        ),
        lambda h, now: h.move(grid_id="g2", address=dict(ADDRESS), actor=CADRE, now=now),
    ],
    ids=["contact-cadre", "tags", "employment", "move"],
)
def test_a_household_command_with_a_naive_now_is_refused(command):
    household = register()

    with pytest.raises(InvalidCommand) as refused:
        command(household, datetime(2026, 11, 2, 10, 0))

    assert refused.value.field == "now"
