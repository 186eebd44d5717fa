"""Query parameters shared by reads: paging (`limit`, `cursor`) and `as_of`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import AwareDatetime, BaseModel

T = TypeVar("T")

AsOf = Annotated[
    AwareDatetime | None,
    Query(description="Show the record as the system knew it at this moment"),
]
ConsistentWith = Annotated[
    int | None,
    Query(ge=0, description="Answer only once the read side has processed this log position"),
]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size, at most 500")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
