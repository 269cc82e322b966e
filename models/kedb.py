"""The known error database: workarounds and known errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from problemflow.models.base import Base, utcnow
from problemflow.models.enums import KnownErrorState
from problemflow.models.numbers import format_number

NUMBER_PREFIX = "KE"


class Workaround(Base):
    __tablename__ = "workaround"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("problem.id", ondelete="CASCADE"), unique=True
    )
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[Optional[str]] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownError(Base):
    __tablename__ = "known_error"
    # the KEDB search index checks max(updated_at) before every search
    __table_args__ = (Index("ix_known_error_updated_at", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    symptoms: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    workaround: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[KnownErrorState] = mapped_column(String(32), default=KnownErrorState.draft)
    # how to recognise the next occurrence: fingerprints, labels, service,
    # category / subcategory / symptom and keywords
    signature: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    problem_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("problem.id", ondelete="SET NULL"), unique=True
    )
    valid_until: Mapped[Optional[datetime]]
    hit_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    incident_links: Mapped[list["KnownErrorIncident"]] = relationship(
        back_populates="known_error", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        return format_number(NUMBER_PREFIX, self.id)


class KnownErrorIncident(Base):
    """An incident recognised as an occurrence of a known error."""

    __tablename__ = "known_error_incident"

    known_error_id: Mapped[int] = mapped_column(
        ForeignKey("known_error.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(default=1.0)
    matched: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    known_error: Mapped[KnownError] = relationship(back_populates="incident_links")


class Signature(BaseModel):
    """What recognises a known error in a new incident."""

    fingerprints: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    services: list[str] = Field(default_factory=list)
    category: Optional[str] = None
    subcategory: Optional[str] = None
    symptom: Optional[str] = None
    keywords: list[str] = Field(default_factory=list)


class KnownErrorCreate(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    symptoms: str = Field(default="", max_length=20_000)
    root_cause: str = Field(default="", max_length=20_000)
    workaround: str = Field(default="", max_length=20_000)
    signature: Signature = Field(default_factory=Signature)
    problem_id: Optional[int] = None
    valid_until: Optional[datetime] = None


class KnownErrorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    title: str
    symptoms: str
    root_cause: str
    workaround: str
    state: KnownErrorState
    signature: Signature
    problem_id: Optional[int] = None
    valid_until: Optional[datetime] = None
    hit_count: int
    created_at: datetime
    updated_at: datetime


class WorkaroundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    problem_id: Optional[int] = None
    description: str
    created_by: Optional[str] = None
    created_at: datetime
