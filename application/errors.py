"""The application's errors, mapped to HTTP statuses in one place at the edge.

``ApplicationError``
 ├── ``NotAuthenticated``   no valid token                                  401
 ├── ``Forbidden``          role or jurisdiction does not allow it          403
 ├── ``NotFound``           the resource named in the path does not exist   404
 ├── ``UnknownReference``   an ID in the input names nothing                422
 ├── ``VersionMismatch``    If-Match is not the current version             412
 ├── ``ConcurrentUpdate``   other writes kept winning; nothing recorded     409
 ├── ``AlreadyExists``      a natural key taken (username, community code)  409
 │    └── ``DuplicateIdNumber``  another household has this ID number    409
 ├── ``LinkGone``           a one-time link used, expired or spent          410
 └── ``NotYetConsistent``   the read side has not reached a log position    503

Domain errors (``domain.errors``) pass through unchanged: ``InvalidCommand`` is
422 and ``StateConflict`` 409.
"""

from __future__ import annotations


class ApplicationError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticated(ApplicationError):
    pass


class Forbidden(ApplicationError):
    pass


class NotFound(ApplicationError):
    """Nothing the caller may see has this ID: a made-up ID and one outside the caller's
    jurisdiction answer alike, and neither repeats the ID back."""

    def __init__(self, kind: str, identifier: str | None = None) -> None:
        super().__init__(f"no {kind} with this id")
        self.kind = kind


class UnknownReference(ApplicationError):
    """An input field names nothing the caller may refer to (told apart from nothing else)."""

    def __init__(self, field: str, kind: str, identifier: str | None = None) -> None:
        super().__init__(f"{field}: no {kind} with this id")
        self.field = field
        self.kind = kind


class VersionMismatch(ApplicationError):
    """``expected`` is ``None`` when If-Match named no version at all."""

    def __init__(self, expected: int | None, current: int) -> None:
        if expected is None:
            super().__init__(f"If-Match does not name a version; the current version is {current}")
        else:
            super().__init__(f"version {expected} is not current; the current version is {current}")
        self.current = current


class ConcurrentUpdate(ApplicationError):
    pass


class AlreadyExists(ApplicationError):
    pass


class DuplicateIdNumber(AlreadyExists):
    """A household already has this national ID number; ``household_id`` names it when
    the caller may read it, and is ``None`` otherwise."""

    def __init__(self, household_id: str | None) -> None:
        super().__init__("a household with this id_number is already registered")
        self.household_id = household_id


class LinkGone(ApplicationError):
    """A resident's one-time link that was used, expired, or whose case moved on."""


class NotYetConsistent(ApplicationError):
    def __init__(self, position: int, seconds: float) -> None:
        super().__init__(f"log position {position} was not reached within {seconds:g} s")
