"""The queries behind the list endpoints, answered by the read models.

They return row IDs in list order, filtered to the caller's jurisdiction; the
services then load each listed aggregate for its representation, so a list item
reads exactly like the single GET (access and masking applied in one place).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.access import Access
from application.actors import Actor
from application.casework_model import CaseworkModel
from application.organisation_model import OrganisationModel
from application.read_model import AnyOf, Condition, KeyIn, ReadStore, Where, eq, micros
from domain.vocabulary import OPEN_STATUSES

OPEN = [status.value for status in OPEN_STATUSES]


@dataclass(frozen=True)
class Page:
    ids: list[str]
    next_cursor: str | None


class CaseLists:
    def __init__(
        self,
        store: ReadStore,
        casework: CaseworkModel,
        organisation: OrganisationModel,
        access: Access,
    ) -> None:
        self.store = store
        self.casework = casework
        self.organisation = organisation
        self.access = access

    def community_codes(self) -> list[str]:
        rows = self.store.select(self.organisation, "communities", order_by=("code",))
        return [row["code"] for row in rows]

    def jurisdiction(self, actor: Actor, grid_column: str | None = "grid_id") -> list[Condition]:
        """Conditions that keep rows inside the actor's communities (and grid)."""
        if actor.community_id:
            conditions = [eq("community_id", actor.community_id)]
            if actor.grid_id and grid_column:
                conditions.append(eq(grid_column, actor.grid_id))
            return conditions
        if actor.township:
            covered = [c for c in self.community_codes() if self.access.covers(actor, c)]
            return [Condition("community_id", "in", covered)]
        return []

    def households(
        self,
        actor: Actor,
        *,
        community_id: str | None,
        grid_id: str | None,
        tag: str | None,
        zero_employment: bool | None,
        limit: int | None,
        cursor: str | None,
    ) -> Page:
        where: list[Any] = [
            *self.jurisdiction(actor),
            *optional(community_id=community_id, grid_id=grid_id),
        ]
        if tag:
            where.append(Condition("tags", "contains", f"|{tag}|"))
        if zero_employment is not None:
            where.append(eq("zero_employment", int(zero_employment)))
        return self._page("households", where, ("community_id", "grid_id", "id"), limit, cursor)

    def visits(
        self,
        actor: Actor,
        *,
        household_id: str | None,
        cadre_id: str | None,
        visited_from: datetime | None,
        visited_to: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        where: list[Any] = [*self.jurisdiction(actor, grid_column=None)]
        if actor.grid_id:
            where.append(KeyIn("household_id", "households", (eq("grid_id", actor.grid_id),)))
        where.extend(optional(household_id=household_id, visitor_id=cadre_id))
        if visited_from is not None:
            where.append(Condition("visited_at", ">=", micros(visited_from)))
        if visited_to is not None:
            where.append(Condition("visited_at", "<=", micros(visited_to)))
        return self._page("visits", where, ("-visited_at", "-id"), limit, cursor)

    def grievances(
        self,
        actor: Actor,
        *,
        now: datetime,
        status: str | None,
        category: str | None,
        community_id: str | None,
        assignee_id: str | None,
        household_id: str | None,
        overdue: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        where: list[Any] = [
            *self.jurisdiction(actor),
            *optional(
                status=status,
                category=category,
                community_id=community_id,
                assignee_id=assignee_id,
                household_id=household_id,
            ),
        ]
        if overdue is not None:
            late = (Condition("status", "in", OPEN), Condition("resolve_by", "<", micros(now)))
            on_time = (
                (Condition("status", "not_in", OPEN),),
                (Condition("resolve_by", ">=", micros(now)),),
            )
            where.append(AnyOf((late,)) if overdue else AnyOf(on_time))
        return self._page("grievances", where, ("resolve_by", "id"), limit, cursor)

    def _page(
        self,
        table: str,
        where: Where,
        order: tuple[str, ...],
        limit: int | None,
        cursor: str | None,
    ) -> Page:
        start = int(cursor) if cursor and cursor.isdigit() else 0
        fetch = None if limit is None else limit + 1
        rows = self.store.select(self.casework, table, where, order, fetch, start)
        ids = [row["id"] for row in rows]
        if limit is None or len(ids) <= limit:
            return Page(ids, None)
        return Page(ids[:limit], str(start + limit))


def optional(**values: str | None) -> Iterator[Condition]:
    """An equality condition for each filter given."""
    for column, value in values.items():
        if value is not None:
            yield eq(column, value)


def page_of(items: list[Any], limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of an in-memory sequence; the cursor is the offset of the next page."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    next_start = start + limit
    return items[start:next_start], (str(next_start) if next_start < len(items) else None)
