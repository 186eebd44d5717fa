"""Paged lists: `limit` (default 50, at most 500) and an opaque `cursor`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="Page size, at most 500")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
