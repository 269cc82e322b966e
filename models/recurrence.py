"""Recurrence scans: each run, the groups of incidents that share a cause, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from problemflow.models.base import Base, utcnow


class ScanRun(Base):
    """One recurrence scan: what it looked at (up to its watermark) and what it found."""

    __tablename__ = "scan_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    algorithm_version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]]
    # highest incident id this scan covered; the next incremental scan starts above it
    watermark: Mapped[Optional[int]]
    incidents_new: Mapped[int] = mapped_column(default=0)
    incidents_considered: Mapped[int] = mapped_column(default=0)
    links: Mapped[int] = mapped_column(default=0)
    groups_touched: Mapped[int] = mapped_column(default=0)
    problems_opened: Mapped[int] = mapped_column(default=0)
    problems_linked: Mapped[int] = mapped_column(default=0)
    duration_seconds: Mapped[Optional[float]]
    error: Mapped[Optional[str]] = mapped_column(Text)


class RecurrenceGroup(Base):
    """Incidents that share a cause; ``key`` is stable across incremental and full scans."""

    __tablename__ = "recurrence_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    size: Mapped[int] = mapped_column(default=0)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    summary: Mapped[str] = mapped_column(String(500), default="")
    problem_id: Mapped[Optional[int]] = mapped_column(ForeignKey("problem.id", ondelete="SET NULL"))
    known_error_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("known_error.id", ondelete="SET NULL")
    )
    algorithm_version: Mapped[str] = mapped_column(String(64))
    # what matters most first: priority, incidents in the present window, recency, services
    rank: Mapped[float] = mapped_column(default=0.0, server_default="0")
    # crossed the threshold now but waits for a free slot (the scan's cap on open problems)
    queued_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    members: Mapped[list["RecurrenceMember"]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )


class RecurrenceMember(Base):
    """Why one incident is in a group: the signals, the score, the algorithm that said so."""

    __tablename__ = "recurrence_member"
    __table_args__ = (Index("ix_recurrence_member_group_id", "group_id"),)

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("recurrence_group.id", ondelete="CASCADE"))
    # the incident it was linked through (None for the first member)
    linked_to_id: Mapped[Optional[int]]
    reason: Mapped[str] = mapped_column(String(500), default="")
    score: Mapped[float] = mapped_column(default=1.0)
    algorithm_version: Mapped[str] = mapped_column(String(64))
    scan_run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("scan_run.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    group: Mapped[RecurrenceGroup] = relationship(back_populates="members")


class ScanRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mode: str
    status: str
    algorithm_version: str
    started_at: datetime
    finished_at: Optional[datetime] = None
    watermark: Optional[int] = None
    incidents_new: int
    incidents_considered: int
    links: int
    groups_touched: int
    problems_opened: int
    problems_linked: int
    duration_seconds: Optional[float] = None
    error: Optional[str] = None


class RecurrenceGroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    size: int
    first_seen: datetime
    last_seen: datetime
    summary: str
    problem_id: Optional[int] = None
    known_error_id: Optional[int] = None
    algorithm_version: str
    rank: float = 0.0
    queued_at: Optional[datetime] = None
