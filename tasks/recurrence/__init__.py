"""The recurrence scan: which incidents share a cause, and which groups need a problem.

``run_scan`` is the whole scan as a plain function on a session; the Prefect
tasks wrap it (and the event that starts problem management) for the
``recurrence-scan`` flow.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.incident import NUMBER_PREFIX, Incident
from problemflow.models.numbers import format_number
from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember
from problemflow.tasks.recurrence import store
from problemflow.tasks.common.neutralise import check_overwrite, csv_cell
from problemflow.tasks.recurrence.config import ALGORITHM_VERSION, ScanConfig
from problemflow.tasks.recurrence.core import group
from problemflow.tasks.recurrence.persist import write_full, write_incremental
from problemflow.tasks.recurrence.problems import raise_problems

logger = logging.getLogger("problemflow.recurrence")

ScanMode = Literal["incremental", "full"]


class ScanResult(BaseModel):
    """What one scan did."""

    run_id: int
    mode: ScanMode
    algorithm_version: str = ALGORITHM_VERSION
    watermark: Optional[int] = None
    incidents_new: int = 0
    incidents_considered: int = 0
    candidate_pairs: int = 0
    links: int = 0
    groups_touched: int = 0
    problems_opened: list[int] = Field(default_factory=list)
    groups_queued: list[int] = Field(
        default_factory=list, description="groups that crossed the threshold now and wait for a slot, best first"
    )
    groups_newly_queued: list[int] = Field(default_factory=list, description="of those, the ones this scan queued")
    problems_linked: dict[int, int] = Field(default_factory=dict, description="group id -> problem id")
    known_errors_linked: dict[int, int] = Field(default_factory=dict, description="group id -> known error id")
    incident_links: int = 0
    seconds: float = 0.0


def run_scan(*, db_session: Session, mode: ScanMode = "incremental", config: ScanConfig | None = None) -> ScanResult:
    """Scan incidents (new ones since the last scan, or all of them) and act on the groups."""
    config = config or ScanConfig.from_settings()
    started = time.perf_counter()
    watermark = store.last_watermark(db_session)
    if mode == "incremental" and watermark is None:
        mode = "full"  # nothing scanned yet: the first scan looks at everything
    run = store.start_run(db_session, mode)
    max_id = store.max_incident_id(db_session)
    result = ScanResult(run_id=run.id, mode=mode, watermark=max_id)
    if mode == "full":
        frame = store.load_frame(db_session, config, max_id=max_id)
        result.incidents_new = len(frame)
        grouping = group(frame, config)
        written = write_full(db_session, frame, grouping, run.id)
    else:
        count, first, last = store.new_incident_span(db_session, watermark, max_id)
        result.incidents_new = count
        if count == 0:  # nothing new; the queue still drains as the scan's problems are resolved
            _raise(db_session, result, set(), config)
            return _finish(db_session, run, result, started, max_id=max(watermark, max_id))
        since, until = store.widen(first, last, config)
        earlier = store.earlier_messages(db_session, watermark, max_id)
        frame = store.load_frame(db_session, config, since=since, until=until, max_id=max_id, also=earlier)
        grouping = group(frame, config)
        written = write_incremental(db_session, frame, grouping, run.id, watermark)
    result.incidents_considered = len(frame)
    result.candidate_pairs = grouping.candidates
    result.links = written.links
    result.groups_touched = len(written.groups)
    _raise(db_session, result, written.groups, config)
    return _finish(db_session, run, result, started, max_id=max_id)


def _raise(db_session: Session, result: ScanResult, group_ids: set[int], config: ScanConfig) -> None:
    raised = raise_problems(db_session, group_ids, config)
    result.problems_opened = raised.opened
    result.groups_queued = raised.queued
    result.groups_newly_queued = raised.newly_queued
    result.problems_linked = raised.linked_to_problem
    result.known_errors_linked = raised.linked_to_known_error
    result.incident_links = raised.incident_links


def _finish(db_session: Session, run, result: ScanResult, started: float, *, max_id: int) -> ScanResult:
    run.watermark = max_id
    run.incidents_new = result.incidents_new
    run.incidents_considered = result.incidents_considered
    run.links = result.links
    run.groups_touched = result.groups_touched
    run.problems_opened = len(result.problems_opened)
    run.problems_linked = len(result.problems_linked)
    store.finish_run(db_session, run)
    result.watermark = max_id
    result.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "recurrence scan %s (%s): %d new, %d considered, %d links, %d groups touched, %d problems opened, "
        "%d groups waiting",
        run.id, result.mode, result.incidents_new, result.incidents_considered, result.links,
        result.groups_touched, len(result.problems_opened), len(result.groups_queued),
    )
    return result


CSV_HEADER = "incident,external_ref,group,template,reason,score"


def export_csv(*, db_session: Session, path: Path, force: bool = True) -> int:
    """Write ``incident,external_ref,group,template,reason,score`` for every grouped incident; returns
    the row count. Without ``force`` an existing file that is not such an export is kept
    (:class:`NotOurs`). Every cell is spreadsheet-safe (outside text never starts a formula)."""
    stmt = (
        select(RecurrenceMember.incident_id, Incident.external_ref, RecurrenceGroup.key, Incident.template,
               RecurrenceMember.reason, RecurrenceMember.score)
        .join(RecurrenceGroup, RecurrenceGroup.id == RecurrenceMember.group_id)
        .join(Incident, Incident.id == RecurrenceMember.incident_id)
        .order_by(RecurrenceGroup.key, RecurrenceMember.incident_id)
    )
    count = 0
    path = Path(path)
    check_overwrite(path, CSV_HEADER, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER.split(","))
        for incident_id, external_ref, key, template, reason, score in db_session.execute(stmt).yield_per(5000):
            writer.writerow([format_number(NUMBER_PREFIX, incident_id), csv_cell(external_ref or ""), csv_cell(key),
                             csv_cell(template or ""), csv_cell(reason), f"{score:.4f}"])
            count += 1
    return count


__all__ = ["ScanConfig", "ScanMode", "ScanResult", "export_csv", "run_scan"]
