"""Problems, their links to incidents, their plan and their root-cause analysis."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from problemflow.models.base import Base, utcnow
from problemflow.models.enums import (
    ClosureCode,
    FactorCategory,
    Level,
    Priority,
    ProblemScale,
    ProblemState,
    TaskStatus,
)
from problemflow.models.numbers import format_number

if TYPE_CHECKING:
    from problemflow.models.incident import Incident

NUMBER_PREFIX = "PRB"


class Problem(Base):
    __tablename__ = "problem"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    scale: Mapped[ProblemScale] = mapped_column(String(32), default=ProblemScale.standard)
    state: Mapped[ProblemState] = mapped_column(String(32), default=ProblemState.new)
    impact: Mapped[Level] = mapped_column(String(16), default=Level.medium)
    urgency: Mapped[Level] = mapped_column(String(16), default=Level.medium)
    priority: Mapped[Priority] = mapped_column(String(16), default=Priority.moderate)
    owner: Mapped[Optional[str]] = mapped_column(String(120))
    assignment_group: Mapped[Optional[str]] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(64), default="manual")
    # the recurrence group that opened it, so a scan never opens it twice
    group_key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    root_cause_summary: Mapped[Optional[str]] = mapped_column(Text)
    closure_code: Mapped[Optional[ClosureCode]] = mapped_column(String(32))
    reopen_count: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    root_cause_at: Mapped[Optional[datetime]]
    resolved_at: Mapped[Optional[datetime]]
    closed_at: Mapped[Optional[datetime]]
    verify_until: Mapped[Optional[datetime]]
    verified_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    incident_links: Mapped[list["ProblemIncident"]] = relationship(
        back_populates="problem", cascade="all, delete-orphan"
    )
    tasks: Mapped[list["ProblemTask"]] = relationship(
        back_populates="problem", cascade="all, delete-orphan", order_by="ProblemTask.id"
    )
    analysis: Mapped[Optional["RootCauseAnalysis"]] = relationship(
        back_populates="problem", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        return format_number(NUMBER_PREFIX, self.id)


class ProblemIncident(Base):
    """Why an incident belongs to a problem, how sure we are, and who said so."""

    __tablename__ = "problem_incident"

    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(default=1.0)
    linked_by: Mapped[str] = mapped_column(String(120))
    algorithm_version: Mapped[Optional[str]] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="incident_links")
    incident: Mapped["Incident"] = relationship(back_populates="problem_links")


problem_task_dependency = Table(
    "problem_task_dependency",
    Base.metadata,
    Column("task_id", ForeignKey("problem_task.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on_id", ForeignKey("problem_task.id", ondelete="CASCADE"), primary_key=True),
)


class ProblemTask(Base):
    """One item of a problem's plan."""

    __tablename__ = "problem_task"
    __table_args__ = (UniqueConstraint("problem_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[Optional[str]] = mapped_column(String(120))
    team: Mapped[Optional[str]] = mapped_column(String(120))
    due_date: Mapped[Optional[date]]
    status: Mapped[TaskStatus] = mapped_column(String(32), default=TaskStatus.todo)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="tasks")
    depends_on: Mapped[list["ProblemTask"]] = relationship(
        secondary=problem_task_dependency,
        primaryjoin=id == problem_task_dependency.c.task_id,
        secondaryjoin=id == problem_task_dependency.c.depends_on_id,
    )


class RootCauseAnalysis(Base):
    __tablename__ = "root_cause_analysis"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problem.id", ondelete="CASCADE"), unique=True
    )
    root_cause: Mapped[str] = mapped_column(Text, default="")
    whys: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    analyst: Mapped[Optional[str]] = mapped_column(String(120))
    signed_off_by: Mapped[Optional[str]] = mapped_column(String(120))
    signed_off_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="analysis")
    factors: Mapped[list["ContributingFactor"]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", order_by="ContributingFactor.id"
    )


class ContributingFactor(Base):
    __tablename__ = "contributing_factor"

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(
        ForeignKey("root_cause_analysis.id", ondelete="CASCADE")
    )
    category: Mapped[FactorCategory] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)

    analysis: Mapped[RootCauseAnalysis] = relationship(back_populates="factors")


# ---- schemas ---------------------------------------------------------------


class ProblemBase(BaseModel):
    statement: str = Field(min_length=1, max_length=500, description="What keeps happening")
    description: str = Field(default="", max_length=20_000)
    scale: ProblemScale = ProblemScale.standard
    impact: Level = Level.medium
    urgency: Level = Level.medium
    owner: Optional[str] = Field(default=None, max_length=120)
    assignment_group: Optional[str] = Field(default=None, max_length=120)

    @field_validator("statement")
    @classmethod
    def _statement_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("statement must not be blank")
        return value.strip()


class ProblemCreate(ProblemBase):
    source: str = Field(default="manual", max_length=64)
    group_key: Optional[str] = Field(default=None, max_length=200)
    incident_ids: list[int] = Field(default_factory=list)


class ProblemRead(ProblemBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    state: ProblemState
    priority: Priority
    source: str
    group_key: Optional[str] = None
    root_cause_summary: Optional[str] = None
    closure_code: Optional[ClosureCode] = None
    reopen_count: int
    opened_at: datetime
    root_cause_at: Optional[datetime] = None
    resolved_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    verify_until: Optional[datetime] = None
    verified_at: Optional[datetime] = None


class ProblemIncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    problem_id: int
    incident_id: int
    reason: str
    score: float
    linked_by: str
    algorithm_version: Optional[str] = None
    linked_at: datetime


class ProblemTaskCreate(BaseModel):
    key: str = Field(min_length=1, max_length=80, description="Stable name within the plan")
    title: str = Field(min_length=1, max_length=300)
    owner: Optional[str] = Field(default=None, max_length=120)
    team: Optional[str] = Field(default=None, max_length=120)
    due_date: Optional[date] = None
    depends_on: list[str] = Field(default_factory=list, description="keys of tasks this one waits for")


class ProblemTaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    problem_id: int
    key: str
    title: str
    owner: Optional[str] = None
    team: Optional[str] = None
    due_date: Optional[date] = None
    status: TaskStatus
    depends_on_keys: list[str] = Field(default_factory=list)


class FactorIn(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category: FactorCategory
    description: str = Field(min_length=1, max_length=2000)


class RootCauseIn(BaseModel):
    root_cause: str = Field(min_length=1, max_length=5000)
    whys: list[str] = Field(default_factory=list, max_length=10)
    factors: list[FactorIn] = Field(default_factory=list)
    analyst: Optional[str] = Field(default=None, max_length=120)


class RootCauseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    problem_id: int
    root_cause: str
    whys: list[str]
    evidence: dict
    analyst: Optional[str] = None
    signed_off_by: Optional[str] = None
    signed_off_at: Optional[datetime] = None
    factors: list[FactorIn] = Field(default_factory=list)
