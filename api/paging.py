"""Query parameters shared by reads: paging (`limit`, `cursor`), `as_of`, weeks and months,
and the filters that must name something.

A query parameter is refused with a 422 when it cannot mean anything: a position
or cursor beyond a 64-bit integer, a week or month outside 2000-2100, an ID with
control characters or whitespace, a community, grid, cadre or household that
does not exist (or that the caller may not see, which answers alike).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, AwareDatetime, BaseModel

from api.schemas import INT64_MAX, clean_text, plain_identifier
from application.actors import Actor
from application.errors import NotFound
from application.services import CaseServices
from domain.organisation import Account, Community, community_key

T = TypeVar("T")

# Weeks, months and dates asked of the reports lie in these years.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def within_years(value: datetime) -> datetime:
    """A moment asked about lies within 2000-2100 (far ones cannot be converted to UTC)."""
    first = datetime(FIRST_YEAR, 1, 1, tzinfo=value.tzinfo)
    last = datetime(LAST_YEAR, 12, 31, 23, 59, 59, tzinfo=value.tzinfo)
    if not first <= value <= last:
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def day_within_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def iso_week(value: str) -> str:
    """``2026-W47``: a week that exists, in 2000-2100."""
    year, _, number = value.partition("-W")
    try:
        date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError("must be an ISO week such as 2026-W47") from None
    if not FIRST_YEAR <= int(year) <= LAST_YEAR:
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def month(value: str) -> str:
    """``2026-11``: a month of 2000-2100."""
    year, _, number = value.partition("-")
    if not 1 <= int(number) <= 12:
        raise ValueError("must be a month such as 2026-11")
    if not FIRST_YEAR <= int(year) <= LAST_YEAR:
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


AsOf = Annotated[
    AwareDatetime | None,
    AfterValidator(lambda value: value and within_years(value)),
    Query(description="Show the record as the system knew it at this moment"),
]
Moment = Annotated[AwareDatetime, AfterValidator(within_years)]
Day = Annotated[date, AfterValidator(day_within_years)]
ConsistentWith = Annotated[
    int | None,
    Query(
        ge=0,
        le=INT64_MAX,
        description="Answer only once the read side has processed this log position",
    ),
]
Position = Annotated[int, Query(ge=0, le=INT64_MAX, description="A log position")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size, at most 500")]
Cursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}$", description="From a previous page's next_cursor"),
]
CleanId = AfterValidator(lambda value: value and plain_identifier(value))
CleanText = AfterValidator(lambda value: value and clean_text(value))
QueryId = Annotated[str | None, Query(min_length=1, max_length=100), CleanId]
Week = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47 (default: this week)"),
    AfterValidator(lambda value: value and iso_week(value)),
]
Month = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}$", description="Month, e.g. 2026-11 (default: this month)"),
    AfterValidator(lambda value: value and month(value)),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def names_nothing(parameter: str, kind: str) -> RequestValidationError:
    """A 422 for a filter that names nothing, without repeating what it named."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", parameter),
                "msg": f"no {kind} with this id",
                "input": None,
            }
        ]
    )


def check_place(
    services: CaseServices, actor: Actor, community_id: str | None, grid_id: str | None
) -> None:
    """``community_id`` and ``grid_id`` name a community and one of its grids."""
    if community_id is not None:
        community = services.book.find(Community, community_key(community_id))
        if community is None:
            raise names_nothing("community_id", "community")
        if grid_id is not None and grid_id not in community.grids:
            raise names_nothing("grid_id", "grid of the community")
        return
    if grid_id is None:
        return
    codes = [actor.community_id] if actor.community_id else services.organisation.community_codes()
    for code in codes:
        community = services.book.find(Community, community_key(code))
        if community is not None and grid_id in community.grids:
            return
    raise names_nothing("grid_id", "grid")


def check_caseworker(services: CaseServices, account_id: str | None, parameter: str) -> None:
    """``cadre_id`` or ``assignee_id`` names an account that works cases."""
    if account_id is None:
        return
    account = services.book.find(Account, account_id)
    if account is None or not account.works_cases:
        raise names_nothing(parameter, "cadre")


def check_household(services: CaseServices, actor: Actor, household_id: str | None) -> None:
    """``household_id`` names a household the caller may read (one outside reads as none)."""
    if household_id is None:
        return
    services.organisation.access.check_reads_history(actor)
    try:
        services.households.load_readable(actor, household_id)
    except NotFound:
        raise names_nothing("household_id", "household") from None
