"""Incidents: what broke, how bad it is, and where it stands."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from problemflow.models.base import Base, utcnow
from problemflow.models.enums import IncidentSource, IncidentState, Level, Priority
from problemflow.models.numbers import format_number
from problemflow.models.text import template_of

if TYPE_CHECKING:
    from problemflow.models.problem import ProblemIncident

NUMBER_PREFIX = "INC"

incident_dependency = Table(
    "incident_dependency",
    Base.metadata,
    Column("incident_id", ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on_id", ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True),
)


def _template_default(context) -> Optional[str]:
    return template_of(context.get_current_parameters().get("title"))


class Incident(Base):
    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_source_fingerprint_state", "source", "fingerprint", "state"),
        Index("ix_incident_opened_at", "opened_at"),
        Index("ix_incident_template", "template", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    # the title with its variable parts masked (models.text); None when the title is not a message
    template: Mapped[Optional[str]] = mapped_column(String(500), default=_template_default)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[IncidentSource] = mapped_column(String(32), default=IncidentSource.api)
    external_ref: Mapped[Optional[str]] = mapped_column(String(120), unique=True)
    fingerprint: Mapped[Optional[str]] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    service: Mapped[Optional[str]] = mapped_column(String(200))
    configuration_item: Mapped[Optional[str]] = mapped_column(String(200))
    category: Mapped[Optional[str]] = mapped_column(String(120))
    subcategory: Mapped[Optional[str]] = mapped_column(String(120))
    symptom: Mapped[Optional[str]] = mapped_column(String(200))
    impact: Mapped[Level] = mapped_column(String(16), default=Level.medium)
    urgency: Mapped[Level] = mapped_column(String(16), default=Level.medium)
    priority: Mapped[Priority] = mapped_column(String(16), default=Priority.moderate)
    state: Mapped[IncidentState] = mapped_column(String(32), default=IncidentState.new)
    owner: Mapped[Optional[str]] = mapped_column(String(120))
    assignment_group: Mapped[Optional[str]] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[Optional[datetime]]
    resolved_at: Mapped[Optional[datetime]]
    closed_at: Mapped[Optional[datetime]]
    resolution_code: Mapped[Optional[str]] = mapped_column(String(64))
    resolution_notes: Mapped[Optional[str]] = mapped_column(Text)
    occurrence_count: Mapped[int] = mapped_column(default=1)
    last_occurrence_at: Mapped[Optional[datetime]]
    recurrence_of_id: Mapped[Optional[int]] = mapped_column(ForeignKey("incident.id"), index=True)
    known_error_id: Mapped[Optional[int]] = mapped_column(ForeignKey("known_error.id"))
    known_error_score: Mapped[Optional[float]]
    workaround_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workaround.id"))
    # set once the response step (KEDB match, escalation) has run for it
    responded_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    depends_on: Mapped[list["Incident"]] = relationship(
        secondary=incident_dependency,
        primaryjoin=id == incident_dependency.c.incident_id,
        secondaryjoin=id == incident_dependency.c.depends_on_id,
    )
    problem_links: Mapped[list["ProblemIncident"]] = relationship(back_populates="incident")

    @property
    def number(self) -> str:
        return format_number(NUMBER_PREFIX, self.id)

    @validates("title")
    def _set_template(self, _key: str, title: str) -> str:
        self.template = template_of(title)
        return title


class IncidentBase(BaseModel):
    title: str = Field(min_length=1, max_length=500, description="One line: what is broken")
    description: str = Field(default="", max_length=20_000)
    source: IncidentSource = IncidentSource.api
    external_ref: Optional[str] = Field(default=None, max_length=120)
    fingerprint: Optional[str] = Field(default=None, max_length=200)
    labels: dict[str, Any] = Field(default_factory=dict)
    service: Optional[str] = Field(default=None, max_length=200)
    configuration_item: Optional[str] = Field(default=None, max_length=200)
    category: Optional[str] = Field(default=None, max_length=120)
    subcategory: Optional[str] = Field(default=None, max_length=120)
    symptom: Optional[str] = Field(default=None, max_length=200)
    impact: Level = Level.medium
    urgency: Level = Level.medium
    owner: Optional[str] = Field(default=None, max_length=120)
    assignment_group: Optional[str] = Field(default=None, max_length=120)

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()


class IncidentCreate(IncidentBase):
    opened_at: Optional[datetime] = None
    depends_on: list[int] = Field(default_factory=list, description="ids this incident waits for")


class IncidentUpdate(BaseModel):
    title: Optional[str] = Field(default=None, min_length=1, max_length=500)
    description: Optional[str] = None
    category: Optional[str] = None
    subcategory: Optional[str] = None
    symptom: Optional[str] = None
    impact: Optional[Level] = None
    urgency: Optional[Level] = None
    owner: Optional[str] = None
    assignment_group: Optional[str] = None
    service: Optional[str] = None


class IncidentRead(IncidentBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    template: Optional[str] = Field(default=None, description="the title with its variable parts masked")
    priority: Priority
    state: IncidentState
    opened_at: datetime
    acknowledged_at: Optional[datetime] = None
    resolved_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    resolution_code: Optional[str] = None
    resolution_notes: Optional[str] = None
    occurrence_count: int
    last_occurrence_at: Optional[datetime] = None
    recurrence_of_id: Optional[int] = None
    known_error_id: Optional[int] = None
    known_error_score: Optional[float] = None
    workaround_id: Optional[int] = None
    responded_at: Optional[datetime] = None
