"""ServiceNow incident exports: read, collapse events into incidents, load idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prefect import task
from sqlalchemy.orm import Session

from problemflow.tasks.common.retry import RETRIES
from problemflow.tasks.servicenow.load import LoadCounts, load
from problemflow.tasks.servicenow.parse import RowError, read_export

__all__ = ["ImportSummary", "RowError", "import_export", "import_export_task"]


@dataclass
class ImportSummary:
    """What one import did; ``skipped`` lists (line number, reason)."""

    path: str
    events_read: int
    incidents: int
    created: int
    unchanged: int
    updated: int
    history_events: int
    skipped: list[tuple[int, str]]

    @property
    def nothing_read(self) -> bool:
        return self.events_read == 0


def import_export(
    *,
    db_session: Session,
    path: Path,
    on_read: Callable[[int], None] | None = None,
    on_write: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import one ServiceNow export; running it twice changes nothing the second time."""
    result = read_export(Path(path), on_progress=on_read)
    counts: LoadCounts = load(db_session, result.incidents, on_progress=on_write)
    return ImportSummary(
        path=str(path),
        events_read=result.events_read,
        incidents=len(result.incidents),
        created=counts.created,
        unchanged=counts.unchanged,
        updated=counts.updated,
        history_events=counts.history_events,
        skipped=result.skipped,
    )


@task(name="import-servicenow", **RETRIES)
def import_export_task(path: str, database_url: str | None = None) -> ImportSummary:
    """Import a ServiceNow export in its own transaction (safe to retry: idempotent)."""
    from problemflow.models.db import session_scope

    with session_scope(database_url) as session:
        return import_export(db_session=session, path=Path(path))
