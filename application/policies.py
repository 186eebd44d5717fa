"""Loads the versioned deadline policies and star criteria from their data files, and shows them.

The files ship with the application; ``ANJU_DEADLINE_POLICY_FILE`` and
``ANJU_STAR_CRITERIA_FILE`` name others (a county's own, or a drill's).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from domain.deadlines import DeadlinePolicy, PolicyBook
from domain.stars import (
    CADENCE_CHANNELS,
    CADENCE_DAYS,
    QUOTA_CHANNELS,
    StarBook,
    StarCriteria,
    StarCriterion,
)
from domain.vocabulary import Urgency


def shipped(name: str) -> str:
    return resources.files("application").joinpath(name).read_text("utf-8")


def load_policy_book(text: str | None = None) -> PolicyBook:
    """The policy book from JSON text, by default the file shipped with the application."""
    data = json.loads(text if text is not None else shipped("deadline_policies.json"))
    return PolicyBook(policy_from(entry) for entry in data["policies"])


def policy_from(entry: dict[str, Any]) -> DeadlinePolicy:
    def hours(table: dict[str, float]) -> dict[Urgency, timedelta]:
        return {Urgency(key): timedelta(hours=value) for key, value in table.items()}

    return DeadlinePolicy(
        version=entry["version"],
        effective_from=datetime.fromisoformat(entry["effective_from"]),
        respond_within=hours(entry["respond_within_hours"]),
        resolve_within=hours(entry["resolve_within_hours"]),
        escalate_after=timedelta(days=entry.get("escalate_after_days", 3)),
    )


def load_star_book(text: str | None = None) -> StarBook:
    """The star criteria from JSON text, by default the file shipped with the application."""
    data = json.loads(text if text is not None else shipped("star_criteria.json"))
    return StarBook(criteria_from(entry) for entry in data["versions"])


def criteria_from(entry: dict[str, Any]) -> StarCriteria:
    return StarCriteria(
        version=entry["version"],
        effective_from=datetime.fromisoformat(entry["effective_from"]),
        weekly_quota=int(entry["weekly_quota"]),
        stars=tuple(StarCriterion(**star) for star in entry["stars"]),
        # A version without these fields keeps its first meaning: in person for the quota, any channel for the cadence.
        quota_channels=frozenset(entry.get("quota_channels", QUOTA_CHANNELS)),
        cadence_days=int(entry.get("cadence_days", CADENCE_DAYS)),
        cadence_channels=frozenset(entry.get("cadence_channels", CADENCE_CHANNELS)),
    )


def policy_text(policy: DeadlinePolicy) -> dict[str, Any]:
    def hours(table: Any) -> dict[str, float]:
        return {str(k.value): v / timedelta(hours=1) for k, v in table.items()}

    return {
        "version": policy.version,
        "effective_from": policy.effective_from.isoformat(),
        "respond_within_hours": hours(policy.respond_within),
        "resolve_within_hours": hours(policy.resolve_within),
        "escalate_after_days": policy.escalate_after / timedelta(days=1),
    }


def criteria_text(criteria: StarCriteria) -> dict[str, Any]:
    return {
        "version": criteria.version,
        "effective_from": criteria.effective_from.isoformat(),
        "weekly_quota": criteria.weekly_quota,
        "quota_channels": sorted(criteria.quota_channels),
        "cadence_days": criteria.cadence_days,
        "cadence_channels": sorted(criteria.cadence_channels),
        "stars": [
            {
                "star": star.star,
                "name": star.name,
                "measure": star.measure,
                "at_least": star.at_least,
                "at_most": star.at_most,
                "criterion": star.text,
            }
            for star in criteria.stars
        ],
    }
