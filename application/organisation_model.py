"""The organisation read model: communities with their grids, and accounts."""

from __future__ import annotations

from collections.abc import Iterable

from application.casework_model import tag_list, tags_of
from application.read_model import Fact, Rows, Table

COMMUNITIES = Table(
    "communities",
    {"code": "text", "name": "text", "township": "text", "county": "text", "grids": "text"},
    indexes=(("code",),),
)
ACCOUNTS = Table(
    "accounts",
    {
        "username": "text",
        "display_name": "text",
        "role": "text",
        "community_id": "text",
        "grid_id": "text",
        "township": "text",
    },
    indexes=(("role", "community_id"),),
)


class OrganisationModel:
    name = "organisation"
    tables = (COMMUNITIES, ACCOUNTS)
    topics = frozenset(
        {"anju:Community.Founded", "anju:Community.GridAdded", "anju:Account.Opened"}
    )

    def wants(self, topic: str) -> bool:
        return topic in self.topics

    def needs(self, fact: Fact) -> Iterable[tuple[str, str]]:
        if fact.topic == "anju:Community.GridAdded":
            yield "communities", fact.aggregate_id

    def apply(self, fact: Fact, rows: Rows) -> None:
        data = fact.data
        if fact.topic == "anju:Community.Founded":
            rows.put(
                "communities",
                {
                    "id": fact.aggregate_id,
                    "code": data["code"],
                    "name": data["name"],
                    "township": data["township"],
                    "county": data["county"],
                    "grids": "",
                },
            )
        elif fact.topic == "anju:Community.GridAdded":
            row = rows.get("communities", fact.aggregate_id)
            if row is not None:
                grids = tags_of(row["grids"]) | {data["grid_code"]}
                rows.change("communities", fact.aggregate_id, grids=tag_list(grids))
        else:
            rows.put(
                "accounts",
                {
                    "id": fact.aggregate_id,
                    "username": data["username"],
                    "display_name": data["display_name"],
                    "role": data["role"],
                    "community_id": data["community_id"],
                    "grid_id": data["grid_id"],
                    "township": data["township"],
                },
            )
