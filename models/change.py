"""Change requests and the approvals given at every gate."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from problemflow.models.base import Base, utcnow
from problemflow.models.enums import ChangeState, ChangeType, Decision, Level, Role
from problemflow.models.numbers import format_number

NUMBER_PREFIX = "CHG"


class ChangeRequest(Base):
    __tablename__ = "change_request"
    __table_args__ = (UniqueConstraint("problem_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[Optional[int]] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))
    # the n-th change raised for the problem (a rejected change can be re-planned)
    attempt: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    change_type: Mapped[ChangeType] = mapped_column(String(32), default=ChangeType.normal)
    risk: Mapped[Level] = mapped_column(String(16), default=Level.medium)
    needs_approval: Mapped[bool] = mapped_column(default=True)
    state: Mapped[ChangeState] = mapped_column(String(32), default=ChangeState.draft)
    implementation_plan: Mapped[str] = mapped_column(Text, default="")
    backout_plan: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[Optional[str]] = mapped_column(String(120))
    implemented_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def number(self) -> str:
        return format_number(NUMBER_PREFIX, self.id)


class Approval(Base):
    """One answer given at a gate: approved, rejected, or refused for want of the role."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[Optional[int]] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"))
    change_request_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("change_request.id", ondelete="CASCADE")
    )
    gate: Mapped[str] = mapped_column(String(64))
    decision: Mapped[Decision] = mapped_column(String(16))
    approver: Mapped[str] = mapped_column(String(120))
    role: Mapped[Optional[Role]] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    flow_run_id: Mapped[Optional[str]] = mapped_column(String(64))
    # "<flow run>:<gate input key>": one row per answer, however often a run resumes
    answer_key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    # why a refused answer was refused (no such person, wrong code, reused code, ...)
    reason: Mapped[Optional[str]] = mapped_column(String(200))
    # how the approver proved who they are (totp), when they did
    method: Mapped[Optional[str]] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeRequestCreate(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    change_type: ChangeType = ChangeType.normal
    risk: Level = Level.medium
    needs_approval: bool = True
    implementation_plan: str = Field(default="", max_length=20_000)
    backout_plan: str = Field(default="", max_length=20_000)
    requested_by: Optional[str] = Field(default=None, max_length=120)
    problem_id: Optional[int] = None
    attempt: int = Field(default=1, ge=1)


class ChangeRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    problem_id: Optional[int] = None
    attempt: int
    title: str
    description: str
    change_type: ChangeType
    risk: Level
    needs_approval: bool
    state: ChangeState
    implementation_plan: str
    backout_plan: str
    requested_by: Optional[str] = None
    implemented_at: Optional[datetime] = None
    created_at: datetime


class ApprovalCreate(BaseModel):
    gate: str = Field(min_length=1, max_length=64)
    decision: Decision
    approver: str = Field(min_length=1, max_length=120)
    role: Optional[Role] = None
    comment: str = Field(default="", max_length=5000)
    problem_id: Optional[int] = None
    change_request_id: Optional[int] = None
    flow_run_id: Optional[str] = None
    answer_key: Optional[str] = Field(default=None, max_length=200)
    reason: Optional[str] = Field(default=None, max_length=200)
    method: Optional[str] = Field(default=None, max_length=32)


class ApprovalRead(ApprovalCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int
    decided_at: datetime
