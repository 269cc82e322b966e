"""What an import did, and the two ways a row or a whole import is refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

KEEP_BAD = 1000  # bad rows listed with their reason; beyond that only counted


class BadRow(ValueError):
    """A record that cannot be stored; the message names the field and the value."""


@dataclass
class ImportSummary:
    """Counts of one import; ``bad_rows`` lists the first :data:`KEEP_BAD` (line, reason).
    ``new`` rows are stored only if ``committed``."""

    path: str
    format: str = ""
    rows: int = 0
    new: int = 0
    imported: int = 0
    already_present: int = 0
    bad: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    committed: bool = False
    titles_shortened: int = 0  # incidents only: titles over 500 characters, cut to 500

    def add_bad(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_rows) < KEEP_BAD:
            self.bad_rows.append((line, reason))

    def finish(self, skip_bad: bool) -> "ImportSummary":
        """Commit the new rows, or refuse them all (:class:`BadRows`) when a row is bad."""
        if self.bad and not skip_bad:
            raise BadRows(self)
        self.imported, self.committed = self.new, True
        return self

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "bad_rows"}
        data["bad_rows"] = [{"line": line, "reason": reason} for line, reason in self.bad_rows]
        return data


class BadRows(ValueError):
    """Some rows are bad and bad rows were not to be skipped: nothing is imported (the
    caller's transaction rolls back)."""

    def __init__(self, summary: ImportSummary):
        self.summary = summary
        super().__init__(f"{summary.bad} bad rows; nothing was imported")


def validation_text(error: ValidationError) -> str:
    """A pydantic error as one line: ``field: reason; field: reason``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in error.errors())
