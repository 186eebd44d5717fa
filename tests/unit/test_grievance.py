"""The grievance lifecycle (its command table) with no I/O: construct, command, inspect."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from application.policies import load_policy_book
from domain.deadlines import Deadlines
from domain.errors import InvalidCommand, NotPermitted, StateConflict
from domain.grievance import Grievance
from domain.vocabulary import GrievanceStatus, Urgency
from tests.fakes import SHANGHAI
from tests.unit.replaying import replay, state_of

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
FILER = "cadre-filer"
SUPERVISOR = "supervisor-1"
ASSIGNEE = "cadre-assignee"
OTHER_CADRE = "cadre-other"
POLICIES = load_policy_book()

OPEN = {"filed", "assigned", "in_progress"}
ALL_STATUSES = ["filed", "assigned", "in_progress", "resolved", "closed", "withdrawn", "merged"]


class Ticker:
    """Strictly increasing readings, one minute apart, starting after ``start``."""

    def __init__(self, start: datetime = NOW) -> None:
        self.current = start

    def __call__(self) -> datetime:
        self.current += timedelta(minutes=1)
        return self.current


def file_case(
    *,
    now: datetime = NOW,
    received_at: datetime | None = None,
    urgency: str = "normal",
    **overrides: Any,
) -> Grievance:
    received = received_at or now
    if "deadlines" not in overrides:
        overrides["deadlines"] = deadlines_for(urgency, received)
    fields: dict[str, Any] = {
        "grievance_id": uuid4(),
        "household_id": "household-1",
        "community_id": "xingfu",
        "grid_id": "g1",
        "category": "facilities",
        "urgency": urgency,
        "channel": "visit",
        "summary": "3号楼电梯停运",
        "description": "老人上下楼困难",
        "received_at": received,
        "visit_id": None,
        "parties": None,
        "actor": FILER,
        "now": now,
    }
    fields.update(overrides)
    return Grievance.file(**fields)


def deadlines_for(urgency: str, received_at: datetime) -> Deadlines:
    return POLICIES.in_effect_at(received_at).deadlines_for(Urgency(urgency), received_at)


def case_in(status: str, tick: Ticker | None = None) -> Grievance:
    """A case brought to ``status`` by the ordinary path, its events still pending."""
    tick = tick or Ticker()
    case = file_case()
    if status == "withdrawn":
        case.withdraw(reason="居民撤回", actor=FILER, now=tick())
        return case
    if status == "merged":
        case.merge_into(into=str(uuid4()), actor=SUPERVISOR, now=tick())
        return case
    if status == "filed":
        return case
    case.assign(assignee_id=ASSIGNEE, note=None, actor=SUPERVISOR, now=tick())
    if status == "assigned":
        return case
    case.accept(actor=ASSIGNEE, now=tick())
    if status == "in_progress":
        return case
    case.resolve(resolution="已联系物业修复电梯", outcome="resolved", actor=ASSIGNEE, now=tick())
    if status == "resolved":
        return case
    assert status == "closed"
    case.give_feedback(rating="satisfied", solved=True, comment=None, actor=FILER, now=tick())
    return case


# -- the command matrix ----------------------------------------------------------------------

Command = Callable[[Grievance, datetime], None]

COMMANDS: dict[str, Command] = {
    "assign": lambda c, now: c.assign(
        assignee_id=ASSIGNEE, note="请跟进", actor=SUPERVISOR, now=now
    ),
    "accept": lambda c, now: c.accept(actor=ASSIGNEE, now=now),
    "decline": lambda c, now: c.decline(reason="不在我的网格", actor=ASSIGNEE, now=now),
    "note": lambda c, now: c.note(text="已电话联系居民", actor=ASSIGNEE, now=now),
    "escalate": lambda c, now: c.escalate(reason="需要社区协调", actor=ASSIGNEE, now=now),
    "extend": lambda c, now: c.extend(days=10, reason="等待配件", actor=SUPERVISOR, now=now),
    "urge": lambda c, now: c.urge(note="请尽快处理", actor=SUPERVISOR, now=now),
    "resolve": lambda c, now: c.resolve(
        resolution="已修复", outcome="resolved", actor=ASSIGNEE, now=now
    ),
    "feedback": lambda c, now: c.give_feedback(
        rating="satisfied", solved=True, comment="谢谢", actor=FILER, now=now
    ),
    "close": lambda c, now: c.close(note="居民联系不上，按期销号", actor=SUPERVISOR, now=now),
    "withdraw": lambda c, now: c.withdraw(reason="居民已自行解决", actor=FILER, now=now),
    "merge": lambda c, now: c.merge_into(into=str(uuid4()), actor=SUPERVISOR, now=now),
}

# command -> (statuses it is allowed from, the status it leaves the case in; None: unchanged)
RULES: dict[str, tuple[set[str], str | None, type[Grievance.Event]]] = {
    "assign": ({"filed"}, "assigned", Grievance.Assigned),
    "accept": ({"assigned"}, "in_progress", Grievance.Accepted),
    "decline": ({"assigned"}, "filed", Grievance.Declined),
    "note": (OPEN, None, Grievance.Noted),
    "escalate": (OPEN, "filed", Grievance.Escalated),
    "extend": (OPEN, None, Grievance.Extended),
    "urge": (OPEN, None, Grievance.Urged),
    "resolve": ({"in_progress"}, "resolved", Grievance.Resolved),
    "feedback": ({"resolved"}, "closed", Grievance.FeedbackGiven),
    "close": ({"resolved"}, "closed", Grievance.Closed),
    "withdraw": (OPEN, "withdrawn", Grievance.Withdrawn),
    "merge": (OPEN, "merged", Grievance.Merged),
}

ALLOWED = [(s, c) for c, (froms, _, _) in RULES.items() for s in ALL_STATUSES if s in froms]
FORBIDDEN = [(s, c) for c, (froms, _, _) in RULES.items() for s in ALL_STATUSES if s not in froms]


def test_the_matrix_covers_every_status_and_every_command():
    assert set(COMMANDS) == set(RULES)
    assert len(ALLOWED) + len(FORBIDDEN) == len(ALL_STATUSES) * len(COMMANDS)
    assert set(ALL_STATUSES) == {status.value for status in GrievanceStatus}


@pytest.mark.parametrize(("status", "command"), ALLOWED)
def test_a_command_allowed_in_a_status_records_one_event_and_moves_the_case(status, command):
    case = case_in(status)
    case.collect_events()
    now = NOW + timedelta(days=1)

    COMMANDS[command](case, now)

    _, to_status, event_class = RULES[command]
    assert case.status == (to_status or status)
    [event] = case.collect_events()
    assert type(event) is event_class
    assert event.timestamp == now


@pytest.mark.parametrize(("status", "command"), FORBIDDEN)
def test_a_command_forbidden_in_a_status_raises_a_state_conflict_naming_it(status, command):
    case = case_in(status)
    case.collect_events()
    before = state_of(case)

    with pytest.raises(StateConflict) as refused:
        COMMANDS[command](case, NOW + timedelta(days=1))

    assert refused.value.state == status
    assert case.collect_events() == []
    assert state_of(case) == before


@pytest.mark.parametrize("status", ["closed", "withdrawn", "merged"])
def test_terminal_states_refuse_every_command(status):
    case = case_in(status)
    for command in COMMANDS.values():
        with pytest.raises(StateConflict):
            command(case, NOW + timedelta(days=1))


# -- filing ----------------------------------------------------------------------------------


def test_a_filed_case_starts_at_grid_level_unassigned_with_its_deadlines():
    case = file_case()

    assert case.status == "filed"
    assert case.level == "grid"
    assert case.assignee_id is None
    assert case.reopen_count == 0
    assert case.extended is False
    assert case.accepted_at is None
    assert case.resolved_at is None
    assert case.outcome is None
    assert case.last_rating is None
    assert case.merged_into is None
    assert case.is_open
    assert case.received_at == NOW
    assert case.policy_version == "2026.1"
    assert case.respond_by == NOW + timedelta(days=3)
    assert case.resolve_by == NOW + timedelta(days=15)
    assert case.created_on == NOW


def test_filing_strips_the_summary_and_drops_a_blank_description():
    case = file_case(summary="  电梯停运  ", description="   ")

    assert case.summary == "电梯停运"
    assert case.description is None


@pytest.mark.parametrize("field", ["category", "urgency", "channel"])
def test_filing_with_an_unknown_enum_value_names_the_field(field):
    with pytest.raises(InvalidCommand) as refused:
        file_case(**{field: "nonsense"}, deadlines=deadlines_for("normal", NOW))

    assert refused.value.field == field


@pytest.mark.parametrize("summary", ["", "   ", None, "长" * 501])
def test_filing_needs_a_summary_of_at_most_500_characters(summary):
    with pytest.raises(InvalidCommand) as refused:
        file_case(summary=summary)

    assert refused.value.field == "summary"


def test_a_summary_of_exactly_500_characters_is_accepted():
    assert file_case(summary="长" * 500).summary == "长" * 500


def test_filing_with_a_naive_received_at_is_refused():
    naive = datetime(2026, 11, 2, 8, 0)
    with pytest.raises(InvalidCommand) as refused:
        file_case(received_at=naive, deadlines=deadlines_for("normal", NOW))

    assert refused.value.field == "received_at"


def test_filing_with_a_naive_now_is_refused():
    naive_now = datetime(2026, 11, 2, 9, 0)
    with pytest.raises(InvalidCommand) as refused:
        file_case(received_at=NOW - timedelta(hours=1), now=naive_now)

    assert refused.value.field == "now"


def test_filing_keeps_the_visit_and_the_sealed_parties():
    case = file_case(visit_id="visit-1", parties="sealed:parties", category="neighbour_dispute")

    assert (case.visit_id, case.parties, case.category) == (
        "visit-1",
        "sealed:parties",
        "neighbour_dispute",
    )


def test_filing_with_received_at_in_the_future_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        file_case(received_at=NOW, now=NOW - timedelta(seconds=1))

    assert refused.value.field == "received_at"


def test_received_at_may_be_the_same_instant_as_now_in_another_offset():
    received = NOW.astimezone(UTC)

    case = file_case(received_at=received)

    assert case.received_at == NOW


@pytest.mark.parametrize("categories", ["employment", "neighbour_dispute", "policy", "other"])
def test_every_category_of_domain_md_can_be_filed(categories):
    assert file_case(category=categories).category == categories


@pytest.mark.parametrize(
    "channel", ["visit", "walk_in", "hotline", "online", "opinion_box", "wechat"]
)
def test_every_intake_channel_of_api_md_can_be_filed(channel):
    assert file_case(channel=channel).channel == channel


# -- assign, accept, decline -----------------------------------------------------------------


def test_assigning_a_filed_case_names_the_assignee():
    case = case_in("filed")

    case.assign(assignee_id=ASSIGNEE, note="  ", actor=SUPERVISOR, now=NOW)

    assert case.status == "assigned"
    assert case.assignee_id == ASSIGNEE
    event = case.collect_events()[-1]
    assert isinstance(event, Grievance.Assigned)
    assert event.note is None


def test_only_the_assignee_may_accept_the_case():
    case = case_in("assigned")

    with pytest.raises(NotPermitted):
        case.accept(actor=OTHER_CADRE, now=NOW + timedelta(hours=1))

    assert case.status == "assigned"


def test_accepting_records_when_the_case_was_accepted():
    case = case_in("assigned")
    accepted = NOW + timedelta(hours=1)

    case.accept(actor=ASSIGNEE, now=accepted)

    assert case.status == "in_progress"
    assert case.accepted_at == accepted


def test_declining_sends_the_case_back_to_filed_and_clears_the_assignee():
    case = case_in("assigned")

    case.decline(reason="不在我的网格", actor=ASSIGNEE, now=NOW + timedelta(hours=1))

    assert case.status == "filed"
    assert case.assignee_id is None
    assert case.collect_events()[-1].reason == "不在我的网格"


def test_only_the_assignee_may_decline_the_case():
    case = case_in("assigned")

    with pytest.raises(NotPermitted):
        case.decline(reason="不归我管", actor=OTHER_CADRE, now=NOW + timedelta(hours=1))

    assert case.assignee_id == ASSIGNEE


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_declining_needs_a_reason(reason):
    case = case_in("assigned")

    with pytest.raises(InvalidCommand) as refused:
        case.decline(reason=reason, actor=ASSIGNEE, now=NOW + timedelta(hours=1))

    assert refused.value.field == "reason"
    assert case.status == "assigned"


def test_a_declined_case_can_be_assigned_again():
    case = case_in("assigned")
    case.decline(reason="不在我的网格", actor=ASSIGNEE, now=NOW + timedelta(hours=1))

    case.assign(assignee_id=OTHER_CADRE, note=None, actor=SUPERVISOR, now=NOW + timedelta(hours=2))
    case.accept(actor=OTHER_CADRE, now=NOW + timedelta(hours=3))

    assert case.status == "in_progress"
    assert case.assignee_id == OTHER_CADRE


# -- note, urge ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(OPEN))
def test_a_note_leaves_an_open_case_as_it_was(status):
    case = case_in(status)
    before = {k: v for k, v in state_of(case).items() if k not in ("version", "modified_on")}

    case.note(text="已电话联系居民", actor=ASSIGNEE, now=NOW + timedelta(days=1))

    after = {k: v for k, v in state_of(case).items() if k not in ("version", "modified_on")}
    assert after == before
    assert case.collect_events()[-1].text == "已电话联系居民"


def test_a_blank_note_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        case_in("filed").note(text=" ", actor=ASSIGNEE, now=NOW)

    assert refused.value.field == "text"


def test_urging_records_the_supervisors_push_without_changing_the_case():
    case = case_in("in_progress")

    case.urge(note="已超期，请今天处理", actor=SUPERVISOR, now=NOW + timedelta(days=4))

    assert case.status == "in_progress"
    event = case.collect_events()[-1]
    assert isinstance(event, Grievance.Urged)
    assert (event.note, event.actor) == ("已超期，请今天处理", SUPERVISOR)


def test_urging_needs_a_note():
    with pytest.raises(InvalidCommand) as refused:
        case_in("assigned").urge(note="", actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "note"


# -- escalate --------------------------------------------------------------------------------


def test_escalating_raises_the_level_by_one_and_sends_the_case_back_to_filed():
    case = case_in("in_progress")

    case.escalate(reason="需要社区协调", actor=ASSIGNEE, now=NOW + timedelta(hours=1))

    assert case.level == "community"
    assert case.status == "filed"
    assert case.assignee_id is None
    event = case.collect_events()[-1]
    assert (event.from_level, event.to_level) == ("grid", "community")


def test_escalation_climbs_grid_community_township_county_and_stops_there():
    case = case_in("filed")
    tick = Ticker()
    levels = []
    for _ in range(3):
        case.escalate(reason="上报", actor=SUPERVISOR, now=tick())
        levels.append(case.level)

    assert levels == ["community", "township", "county"]
    with pytest.raises(StateConflict) as refused:
        case.escalate(reason="上报", actor=SUPERVISOR, now=tick())
    assert refused.value.state == "filed"
    assert case.level == "county"


def test_escalating_needs_a_reason():
    with pytest.raises(InvalidCommand) as refused:
        case_in("filed").escalate(reason="  ", actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "reason"


# -- extend ----------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [1, 15, 30])
def test_extending_moves_resolve_by_by_the_given_days(days):
    case = case_in("in_progress")
    respond_by, resolve_by = case.respond_by, case.resolve_by

    case.extend(days=days, reason="等待配件", actor=SUPERVISOR, now=NOW + timedelta(days=2))

    assert case.extended is True
    assert case.resolve_by == resolve_by + timedelta(days=days)
    assert case.respond_by == respond_by
    event = case.collect_events()[-1]
    assert (event.days, event.resolve_by) == (days, case.resolve_by)


@pytest.mark.parametrize("days", [0, -1, 31, 365])
def test_an_extension_must_be_between_1_and_30_days(days):
    case = case_in("in_progress")

    with pytest.raises(InvalidCommand) as refused:
        case.extend(days=days, reason="等待配件", actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "days"
    assert case.extended is False


def test_a_deadline_is_extended_only_once():
    case = case_in("in_progress")
    case.extend(days=5, reason="等待配件", actor=SUPERVISOR, now=NOW + timedelta(days=1))
    resolve_by = case.resolve_by

    with pytest.raises(StateConflict) as refused:
        case.extend(days=5, reason="还要等", actor=SUPERVISOR, now=NOW + timedelta(days=2))

    assert refused.value.state == "in_progress"
    assert case.resolve_by == resolve_by


def test_extending_needs_a_reason():
    with pytest.raises(InvalidCommand) as refused:
        case_in("filed").extend(days=5, reason="", actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "reason"


# -- resolve, feedback, close ----------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["resolved", "explained", "not_supported"])
def test_resolving_records_the_resolution_and_its_outcome(outcome):
    case = case_in("in_progress")
    resolved = NOW + timedelta(days=2)

    case.resolve(resolution="已答复居民", outcome=outcome, actor=ASSIGNEE, now=resolved)

    assert case.status == "resolved"
    assert (case.resolution, case.outcome, case.resolved_at) == ("已答复居民", outcome, resolved)
    assert not case.is_open


def test_resolving_with_an_unknown_outcome_is_refused():
    case = case_in("in_progress")

    with pytest.raises(InvalidCommand) as refused:
        case.resolve(resolution="已处理", outcome="fixed", actor=ASSIGNEE, now=NOW)

    assert refused.value.field == "outcome"
    assert case.status == "in_progress"


def test_resolving_needs_a_resolution_text():
    with pytest.raises(InvalidCommand) as refused:
        case_in("in_progress").resolve(resolution=" ", outcome="resolved", actor=ASSIGNEE, now=NOW)

    assert refused.value.field == "resolution"


@pytest.mark.parametrize("rating", ["satisfied", "basically_satisfied"])
def test_satisfied_feedback_closes_the_case(rating):
    case = case_in("resolved")

    case.give_feedback(
        rating=rating, solved=True, comment=None, actor=FILER, now=NOW + timedelta(days=1)
    )

    assert case.status == "closed"
    assert case.last_rating == rating
    assert case.reopen_count == 0
    event = case.collect_events()[-1]
    assert (event.rating, event.solved, event.reopened) == (rating, True, False)


def test_unsatisfied_feedback_reopens_the_case():
    case = case_in("resolved")

    case.give_feedback(
        rating="unsatisfied",
        solved=False,
        comment="电梯又坏了",
        actor=FILER,
        now=NOW + timedelta(days=1),
    )

    assert case.status == "in_progress"
    assert case.reopen_count == 1
    assert case.last_rating == "unsatisfied"
    assert case.resolved_at is None
    assert case.assignee_id == ASSIGNEE
    event = case.collect_events()[-1]
    assert (event.reopened, event.solved, event.comment) == (True, False, "电梯又坏了")


def test_every_reopening_is_counted():
    case = case_in("resolved")
    tick = Ticker(NOW + timedelta(days=1))
    for _ in range(2):
        case.give_feedback(
            rating="unsatisfied", solved=False, comment=None, actor=FILER, now=tick()
        )
        case.resolve(resolution="再次维修", outcome="resolved", actor=ASSIGNEE, now=tick())

    case.give_feedback(rating="satisfied", solved=True, comment=None, actor=FILER, now=tick())

    assert case.reopen_count == 2
    assert case.status == "closed"
    assert case.last_rating == "satisfied"


def test_feedback_with_an_unknown_rating_is_refused():
    case = case_in("resolved")

    with pytest.raises(InvalidCommand) as refused:
        case.give_feedback(rating="great", solved=True, comment=None, actor=FILER, now=NOW)

    assert refused.value.field == "rating"
    assert case.status == "resolved"


def test_a_supervisor_may_close_a_resolved_case_without_feedback():
    case = case_in("resolved")

    case.close(note="多次联系未果", actor=SUPERVISOR, now=NOW + timedelta(days=7))

    assert case.status == "closed"
    assert case.last_rating is None


def test_closing_needs_a_note():
    with pytest.raises(InvalidCommand) as refused:
        case_in("resolved").close(note="", actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "note"


# -- withdraw, merge -------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(OPEN))
def test_withdrawing_an_open_case_is_terminal(status):
    case = case_in(status)

    case.withdraw(reason="居民已自行解决", actor=FILER, now=NOW + timedelta(days=1))

    assert case.status == "withdrawn"
    assert not case.is_open


def test_withdrawing_needs_a_reason():
    with pytest.raises(InvalidCommand) as refused:
        case_in("filed").withdraw(reason=None, actor=FILER, now=NOW)

    assert refused.value.field == "reason"


@pytest.mark.parametrize("status", sorted(OPEN))
def test_merging_an_open_case_names_the_case_it_went_into(status):
    case = case_in(status)
    target = str(uuid4())

    case.merge_into(into=target, actor=SUPERVISOR, now=NOW + timedelta(days=1))

    assert case.status == "merged"
    assert case.merged_into == target
    assert not case.is_open


def test_a_case_cannot_be_merged_into_itself():
    case = case_in("filed")

    with pytest.raises(InvalidCommand) as refused:
        case.merge_into(into=str(case.id), actor=SUPERVISOR, now=NOW)

    assert refused.value.field == "into"
    assert case.status == "filed"


# -- time, actors, replay --------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_with_a_naive_now_is_refused(command):
    froms, _, _ = RULES[command]
    case = case_in(sorted(froms)[0])

    with pytest.raises(InvalidCommand) as refused:
        COMMANDS[command](case, datetime(2026, 11, 3, 9, 0))

    assert refused.value.field == "now"


def full_lifecycle() -> tuple[Grievance, list[tuple[str, datetime]]]:
    """A case through most commands, with who acted when, in order."""
    tick = Ticker()
    case = file_case(received_at=NOW - timedelta(hours=5))
    steps: list[tuple[str, datetime]] = [(FILER, NOW)]

    def step(actor: str, command: str, **fields: Any) -> None:
        now = tick()
        getattr(case, command)(actor=actor, now=now, **fields)
        steps.append((actor, now))

    step(SUPERVISOR, "assign", assignee_id=OTHER_CADRE, note="请处理")
    step(OTHER_CADRE, "decline", reason="不在我的网格")
    step(SUPERVISOR, "escalate", reason="需要社区协调")
    step(SUPERVISOR, "assign", assignee_id=ASSIGNEE, note=None)
    step(ASSIGNEE, "accept")
    step(ASSIGNEE, "note", text="已联系物业")
    step(SUPERVISOR, "urge", note="请加快")
    step(SUPERVISOR, "extend", days=7, reason="等配件")
    step(ASSIGNEE, "resolve", resolution="已修复", outcome="resolved")
    step(FILER, "give_feedback", rating="unsatisfied", solved=False, comment="又坏了")
    step(ASSIGNEE, "resolve", resolution="更换主板", outcome="explained")
    step(FILER, "give_feedback", rating="basically_satisfied", solved=True, comment=None)
    return case, steps


def test_every_event_carries_its_actor_and_the_now_it_was_decided_at():
    case, steps = full_lifecycle()

    events = case.collect_events()

    assert [(event.actor, event.timestamp) for event in events] == steps
    assert [event.originator_version for event in events] == list(range(1, len(steps) + 1))
    assert case.created_on == NOW
    assert case.modified_on == steps[-1][1]


def test_a_case_replayed_from_its_events_equals_the_live_one():
    case, _ = full_lifecycle()
    events = case.collect_events()

    replayed = replay(events)

    assert isinstance(replayed, Grievance)
    assert state_of(replayed) == state_of(case)
    assert (replayed.status, replayed.level, replayed.reopen_count) == ("closed", "community", 1)
    assert replayed.extended is True


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_a_case_in_any_status_replays_to_the_same_state(status):
    case = case_in(status)

    replayed = replay(case.collect_events())

    assert state_of(replayed) == state_of(case)
    assert replayed.status == status


def test_the_accepted_at_time_survives_a_reopening():
    case = case_in("resolved")
    accepted_at = case.accepted_at
    case.give_feedback(
        rating="unsatisfied", solved=False, comment=None, actor=FILER, now=NOW + timedelta(days=1)
    )

    assert case.accepted_at == accepted_at
    assert replay(case.collect_events()).accepted_at == accepted_at
