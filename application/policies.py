"""Loads the versioned deadline policies from their data file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from domain.deadlines import DeadlinePolicy, PolicyBook
from domain.vocabulary import Urgency


def load_policy_book(text: str | None = None) -> PolicyBook:
    """The policy book from JSON text, by default the file shipped with the application."""
    if text is None:
        text = resources.files("application").joinpath("deadline_policies.json").read_text("utf-8")
    data = json.loads(text)
    return PolicyBook(policy_from(entry) for entry in data["policies"])


def policy_from(entry: dict[str, Any]) -> DeadlinePolicy:
    def hours(table: dict[str, float]) -> dict[Urgency, timedelta]:
        return {Urgency(key): timedelta(hours=value) for key, value in table.items()}

    return DeadlinePolicy(
        version=entry["version"],
        effective_from=datetime.fromisoformat(entry["effective_from"]),
        respond_within=hours(entry["respond_within_hours"]),
        resolve_within=hours(entry["resolve_within_hours"]),
    )
