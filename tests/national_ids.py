"""Valid national ID numbers for test data (GB 11643: the check character matches)."""

from __future__ import annotations

import itertools
import secrets
from datetime import date, timedelta

from domain.national_id import check_character

# Births spread over ~55 years, then a three-digit sequence: 20 million distinct numbers.
DAYS = 20_000
_next = itertools.count(secrets.randbelow(DAYS * 1000))


def valid_id_number(
    region: str = "522601", born: date = date(1985, 3, 15), sequence: int = 2
) -> str:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


def fresh_id_number() -> str:
    """A valid ID number no other call of this process returns (so no duplicate is refused)."""
    n = next(_next) % (DAYS * 1000)
    return valid_id_number(born=date(1950, 1, 1) + timedelta(days=n % DAYS), sequence=n // DAYS)
