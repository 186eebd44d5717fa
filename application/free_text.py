"""Free text written about a household, sealed under the household's own key.

A visit note, a grievance summary, a resolution or a reason may name a person or
hold a phone number as readily as the personal fields do, so it is kept the same
way: checked in clear, then sealed under the household's key before the domain
records it. Erasing the household destroys the key, and with it every such text,
while the events and their hash chain stay as they are.

Events recorded before texts were sealed hold them in clear. Both forms read: a
sealed value is recognisable (``v1.`` and the base64url of at least a nonce and
a tag), anything else is old clear text, shown until the household is erased
and never after.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from application.ports import PersonalDataVault
from domain.errors import StateConflict
from domain.record import SealedText, optional_text, require_text

# The free-text fields of each event that carries text written about a household.
# Texts the system writes itself (an automatic escalation's reason) are not here.
FREE_TEXT: dict[str, tuple[str, ...]] = {
    "anju:Household.EmploymentRecorded": ("note",),
    "anju:Household.LifeEventReported": ("note",),
    "anju:Visit.Logged": ("notes",),
    "anju:Visit.Amended": ("notes", "reason"),
    "anju:Visit.Voided": ("reason",),
    "anju:Grievance.Filed": ("summary", "description"),
    "anju:Grievance.Assigned": ("note",),
    "anju:Grievance.Declined": ("reason",),
    "anju:Grievance.Noted": ("text",),
    "anju:Grievance.Escalated": ("reason",),
    "anju:Grievance.Extended": ("reason",),
    "anju:Grievance.Urged": ("note",),
    "anju:Grievance.Resolved": ("resolution",),
    "anju:Grievance.FeedbackGiven": ("comment",),
    "anju:Grievance.Closed": ("note",),
    "anju:Grievance.Withdrawn": ("reason",),
}

# v1. + base64url of nonce (12 bytes) + AES-GCM tag (16 bytes) + ciphertext.
SEALED_TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]{38,}={0,2}")


# Free texts are scrubbed from copies of answers; ASCII ones shorter than this are not.
SHORTEST_SCRUBBED_ASCII = 8


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and SEALED_TOKEN.fullmatch(value) is not None


def free_text_fields(event: Any) -> tuple[str, ...]:
    return FREE_TEXT.get(getattr(type(event), "TOPIC", ""), ())


class FreeText:
    """Seals free text for the domain and reveals it for the views."""

    def __init__(self, vault: PersonalDataVault) -> None:
        self.vault = vault

    def seal(self, household_id: UUID | str, value: str, field: str, max_length: int) -> str:
        """The checked text, sealed; checked here because the domain cannot read ciphertext."""
        return self._sealed(to_uuid(household_id), require_text(value, field, max_length))

    def seal_optional(
        self, household_id: UUID | str, value: str | None, field: str, max_length: int = 10_000
    ) -> str | None:
        text = optional_text(value, field, max_length)
        return None if text is None else self._sealed(to_uuid(household_id), text)

    def _sealed(self, household_id: UUID, text: str) -> SealedText:
        if not self.vault.holds_key(household_id):
            raise StateConflict(
                "the household's personal data is erased: no text about it can be recorded",
                state="erased",
            )
        return SealedText(self.vault.seal(household_id, text))

    def reveal(self, household_id: UUID | str, value: str | None) -> str | None:
        """The clear text; ``None`` once the household is erased, whichever form was stored."""
        if value is None or value == "":
            return value
        key = to_uuid(household_id)
        if is_sealed(value):
            return self.vault.unseal(key, value)
        return value if self.vault.holds_key(key) else None

    def every_clear_value(self, household_id: UUID, events: Any) -> set[str]:
        """Each free text the events hold, in clear (read before the key is destroyed).

        Copies are scrubbed of each value wherever it occurs, so a short ASCII
        text ("ok", "1", "true") is left out: scrubbing it would rewrite the
        answer's own JSON (its numbers, keys and literals) into nonsense.
        """
        found = set()
        for event in events:
            for name in free_text_fields(event):
                clear = self.reveal(household_id, getattr(event, name, None))
                if clear and not (clear.isascii() and len(clear) < SHORTEST_SCRUBBED_ASCII):
                    found.add(clear)
        return found


def to_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
