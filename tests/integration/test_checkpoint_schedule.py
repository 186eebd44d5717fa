"""Checkpoints signed on a schedule while the log grows, and none while it stands still."""

from __future__ import annotations

import time

from api.bootstrap import County
from application.actors import SYSTEM

SECONDS = 0.2


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_scheduled_checkpoint_signs_the_head_each_time_the_log_has_grown(county: County) -> None:
    org = county.services.organisation
    org.found_community(SYSTEM, code="xingfu", name="幸福社区", township="城关镇", county="示范县")
    county.start_checkpoints(SECONDS / 60)
    audit = county.audit

    wait_for(lambda: len(audit.known_checkpoints()) == 1)
    first = audit.known_checkpoints()[0]
    assert first.position == audit.ledger.head()[0]  # type: ignore[index]
    time.sleep(SECONDS * 3)
    assert len(audit.known_checkpoints()) == 1, "a checkpoint was signed with nothing new"

    org.add_grid(SYSTEM, "xingfu", code="g1", name="第一网格")
    wait_for(lambda: len(audit.known_checkpoints()) == 2)
    second = audit.known_checkpoints()[1]
    assert second.position > first.position
    assert audit.verify().checkpoints_checked == 2
