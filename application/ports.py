"""What the application needs from the outside, implemented in infrastructure."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in the county's local time."""
        ...


class PersonalDataVault(Protocol):
    """Seals personal data under a per-household key (crypto-shredding unit)."""

    def create_key(self, household_id: UUID) -> None: ...

    def seal(self, household_id: UUID, plaintext: str) -> str:
        """A token ``v1.<base64url(nonce ‖ ciphertext)>`` (AES-GCM, so 28 bytes or more)."""
        ...

    def holds_key(self, household_id: UUID) -> bool:
        """Whether the household still has a key (it has none once erased)."""
        ...

    def unseal(self, household_id: UUID, token: str) -> str | None:
        """The plaintext, or ``None`` once the household's key is destroyed."""
        ...

    def shred(self, household_id: UUID) -> None: ...


class PersonalDataCopies(Protocol):
    """A place that keeps copies of answers, which may hold personal data in clear."""

    def scrub(self, mention: str, values: list[str]) -> int:
        """In every copy that mentions ``mention``, replace each value by null; how many."""
        ...


class IdNumberIndex(Protocol):
    """Which household holds a national ID number, kept as a keyed blind index.

    The implementation keeps only a keyed digest of each ID number (never the
    number, never a plain hash), so that a duplicate can be found without the
    number ever being readable from the store.
    """

    def claim(self, id_number: str, household_id: UUID) -> UUID | None:
        """Reserve ``id_number`` for ``household_id``: ``None`` when done, else its holder."""
        ...

    def transfer(self, id_number: str, holder: UUID, household_id: UUID) -> bool:
        """Move the reservation from ``holder`` to ``household_id``, if ``holder`` still has it."""
        ...

    def release(self, household_id: UUID) -> None:
        """Forget every ID number reserved for the household."""
        ...
