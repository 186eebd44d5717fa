"""HTTP conventions shared by the routes: ETag/If-Match and Log-Position."""

from __future__ import annotations

from typing import Annotated, Protocol, TypeVar
from urllib.parse import quote

from fastapi import Header, Response

from application.casebook import NOT_A_VERSION


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)
# No aggregate reaches a version of more digits than this (2**63 has 19).
MAX_VERSION_DIGITS = 18


def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The version the change is based on, e.g. "3"'),
    ] = None,
) -> int | None:
    """The version named by If-Match; a value that is no version can never be current.

    Such a value is decided like any stale version, so the 412 tells the real current
    version, and the header itself is never repeated back.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_VERSION_DIGITS:
        return NOT_A_VERSION
    return int(text)


def committed(response: Response, view: V, position: int) -> V:
    """Headers of a command's answer: the new version and the log position."""
    response.headers["Log-Position"] = str(position)
    response.headers["ETag"] = f'"{view.version}"'
    return view


def tagged(response: Response, view: V) -> V:
    response.headers["ETag"] = f'"{view.version}"'
    return view


def located(response: Response, *segments: str) -> None:
    """Location of the created resource; IDs may hold any text, so each is percent-encoded."""
    response.headers["Location"] = "/v1/" + "/".join(quote(part, safe="") for part in segments)
