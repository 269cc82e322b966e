"""Reading incidents into a frame with one SELECT, and the scan-run bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional, Sequence

from sqlalchemy import Float, and_, case, cast, func, null, or_, select
from sqlalchemy.orm import Session, aliased

from problemflow.models.base import utcnow
from problemflow.models.incident import Incident
from problemflow.models.recurrence import ScanRun
from problemflow.tasks.recurrence.config import ALGORITHM_VERSION, FIELD_SIGNALS, ScanConfig
from problemflow.tasks.recurrence.features import Frame, build_frame

# fields every link may name as shared; the others are compared only for records without a message
IDENTITY_COLUMNS = ("fingerprint", "service", "configuration_item")


def load_frame(
    db_session: Session,
    config: ScanConfig,
    *,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    max_id: Optional[int] = None,
    also: Sequence[int] = (),
) -> Frame:
    """One SELECT of the columns the scan needs, optionally only a span of opening times (and the
    incidents ``also`` names, wherever they fall)."""
    connection = db_session.connection()
    # labels and most fields are compared only for records without a message (see core.group):
    # reading them, labels JSON parsed, for every incident would cost more than the grouping
    plain = Incident.template.is_(None)
    labels = case((plain, Incident.labels), else_=null())
    fields = [getattr(Incident, name) if name in IDENTITY_COLUMNS
              else case((plain, getattr(Incident, name)), else_=null()) for name in FIELD_SIGNALS]
    stmt = select(
        Incident.id, _epoch(connection.dialect.name), Incident.title, Incident.description, labels, *fields,
        Incident.template,
    ).order_by(Incident.id)
    span = []
    if since is not None:
        span.append(Incident.opened_at >= since)
    if until is not None:
        span.append(Incident.opened_at <= until)
    if span and also:
        stmt = stmt.where(or_(and_(*span), Incident.id.in_(list(also))))
    elif span:
        stmt = stmt.where(*span)
    if max_id is not None:
        stmt = stmt.where(Incident.id <= max_id)
    rows = connection.execute(stmt).all()  # Core rows: no ORM bookkeeping per row
    columns = list(zip(*rows)) if rows else [()] * (6 + len(FIELD_SIGNALS))
    del rows
    ids, times, titles, descriptions, label_values = columns[:5]
    return build_frame(
        ids=ids,
        times=times,
        columns={name: columns[5 + i] for i, name in enumerate(FIELD_SIGNALS)},
        # what people wrote is compared title and description together, the title counting twice: a
        # description is often boilerplate ("see attached", a signature) that must not outweigh the summary
        texts=[f"{t} {t} {d}" if d else t for t, d in zip(titles, descriptions)],
        labels=label_values,
        label_keys=[k for k, w in config.label_weights.items() if w > 0],
        templates=columns[-1],
        described=[bool(d) for d in descriptions],
    )


def _epoch(dialect: str):
    """Opening times as seconds since the epoch, computed by the database (no datetime per row)."""
    if dialect == "sqlite":
        return (func.julianday(Incident.opened_at) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", Incident.opened_at), Float)


def earlier_messages(db_session: Session, watermark: int, max_id: int) -> list[int]:
    """For each message (template) among the new incidents, the latest incident with it at or below
    the watermark: what lets a message recur after months, in an incremental scan.

    One statement; inside it one index probe per template (the newest id of a template, on the
    (template, id) index), never a scan of every earlier incident with it: a message can have
    recurred a hundred thousand times."""
    new = (select(Incident.template)
           .where(Incident.id > watermark, Incident.id <= max_id, Incident.template.is_not(None))
           .distinct().subquery("new_messages"))
    earlier = aliased(Incident)
    latest = (select(func.max(earlier.id))
              .where(earlier.template == new.c.template, earlier.id <= watermark)
              .scalar_subquery())
    return [i for i in db_session.scalars(select(latest).select_from(new)) if i is not None]


def last_watermark(db_session: Session) -> Optional[int]:
    """The watermark of the newest finished scan (None: never scanned)."""
    return db_session.scalar(
        select(ScanRun.watermark)
        .where(ScanRun.status == "finished", ScanRun.watermark.is_not(None))
        .order_by(ScanRun.id.desc())
        .limit(1)
    )


def new_incident_span(
    db_session: Session, watermark: int, max_id: int
) -> tuple[int, Optional[datetime], Optional[datetime]]:
    """How many incidents arrived above the watermark, and the span of their opening times."""
    count, first, last = db_session.execute(
        select(func.count(), func.min(Incident.opened_at), func.max(Incident.opened_at)).where(
            Incident.id > watermark, Incident.id <= max_id
        )
    ).one()
    return count, first, last


def max_incident_id(db_session: Session) -> int:
    return db_session.scalar(select(func.max(Incident.id))) or 0


def start_run(db_session: Session, mode: str) -> ScanRun:
    run = ScanRun(mode=mode, status="running", algorithm_version=ALGORITHM_VERSION, started_at=utcnow())
    db_session.add(run)
    db_session.flush()
    return run


def finish_run(db_session: Session, run: ScanRun, *, error: Optional[str] = None) -> ScanRun:
    run.finished_at = utcnow()
    run.duration_seconds = round((run.finished_at - run.started_at).total_seconds(), 3)
    run.status = "failed" if error else "finished"
    run.error = error
    return run


def widen(first: datetime, last: datetime, config: ScanConfig) -> tuple[datetime, datetime]:
    """The span of existing incidents that new ones opened in [first, last] could link to."""
    reach = timedelta(seconds=max(config.window_seconds, config.burst_seconds))
    return first - reach, last + reach
