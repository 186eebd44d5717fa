"""National ID numbers (GB 11643-1999): 17 digits and a check digit.

Positions 1-6 name the region of first registration, 7-14 the birth date
(YYYYMMDD), 15-17 a sequence (odd for men), and the 18th is the ISO 7064
MOD 11-2 check character over the first 17: ``0``-``9`` or ``X``.
"""

from __future__ import annotations

from datetime import date

from domain.errors import InvalidCommand

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
# No one registered as the head of a relocated household was born before this year.
EARLIEST_BIRTH_YEAR = 1900


def check_character(body: str) -> str:
    """The check character for the first 17 digits of a national ID number."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("a national ID body is 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def normalise_national_id(text: str) -> str:
    """The ID as compared and indexed: without surrounding spaces, ``x`` as ``X``."""
    return text.strip().upper()


def national_id_problem(text: str, today: date | None = None) -> str | None:
    """Why ``text`` is not a valid national ID number, or ``None`` when it is."""
    number = normalise_national_id(text)
    if len(number) != 18:
        return "an ID number has 18 characters"
    body, check = number[:17], number[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        return "an ID number is 17 digits followed by a digit or X"
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return "the ID number's birth date (characters 7-14) is not a date"
    if born.year < EARLIEST_BIRTH_YEAR or (today is not None and born > today):
        return "the ID number's birth date (characters 7-14) is not plausible"
    if check_character(body) != check:
        return "the ID number's check digit does not match"
    return None


def is_valid_national_id(text: str, today: date | None = None) -> bool:
    return national_id_problem(text, today) is None


def require_national_id(text: str, field: str = "id_number", today: date | None = None) -> str:
    """The normalised ID number, or ``InvalidCommand`` naming ``field``."""
    problem = national_id_problem(text, today)
    if problem is not None:
        raise InvalidCommand(problem, field=field)
    return normalise_national_id(text)
