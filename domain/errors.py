"""The domain's errors: the rules refusing a command.

``DomainError``
 ├── ``InvalidCommand``  the input can never be valid (bad value, future time)
 ├── ``StateConflict``   the aggregate's current state forbids the command
 └── ``NotPermitted``    the rule names someone else (only the assignee may accept)
"""

from __future__ import annotations


class DomainError(Exception):
    """A command that the casebook's rules refuse."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCommand(DomainError):
    """The command's input breaks a rule whatever the current state.

    ``field`` names the input at fault, so the edge can point at it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StateConflict(DomainError):
    """The command is valid in general but not in the aggregate's current state."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class NotPermitted(DomainError):
    """The command is for a particular person, and the actor is not that person."""
