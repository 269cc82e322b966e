"""Named errors raised by services; edges turn them into messages for people."""

from __future__ import annotations

from problemflow.models.numbers import format_number


class ProblemflowError(Exception):
    """Base class of every error a person can act on."""


class NotFound(ProblemflowError, LookupError):
    kind = "record"
    prefix = ""

    def __init__(self, key: object):
        self.key = key
        shown = key
        if self.prefix and (isinstance(key, int) or (isinstance(key, str) and key.isdigit())):
            shown = format_number(self.prefix, int(key))
        super().__init__(f"{self.kind} {shown} not found")


class IncidentNotFound(NotFound):
    kind = "incident"
    prefix = "INC"


class ProblemNotFound(NotFound):
    kind = "problem"
    prefix = "PRB"


class ProblemTaskNotFound(NotFound):
    kind = "problem task"


class KnownErrorNotFound(NotFound):
    kind = "known error"
    prefix = "KE"


class ChangeRequestNotFound(NotFound):
    kind = "change request"
    prefix = "CHG"


class DependencyCycle(ProblemflowError, ValueError):
    """A task dependency that would make the plan circular."""

    def __init__(self, path: list[str]):
        self.path = path
        super().__init__("dependency cycle rejected: " + " -> ".join(path))


class OpenDependencies(ProblemflowError, ValueError):
    """An incident cannot close while something it depends on is still open."""

    def __init__(self, number: str, open_numbers: list[str]):
        self.open_numbers = open_numbers
        super().__init__(
            f"incident {number} cannot close: it depends on open "
            + ", ".join(open_numbers)
        )


class NotAuthorized(ProblemflowError, PermissionError):
    """A person answered a gate without holding the role it needs."""

    def __init__(self, person: str, role: str):
        self.person = person
        self.role = role
        super().__init__(f"{person!r} does not hold the role {role!r}")


class RecurrenceGroupNotFound(NotFound):
    kind = "recurrence group"
