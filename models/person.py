"""People who answer gates: their roles, their channels, and the secret that proves them."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from problemflow.models.base import Base, utcnow
from problemflow.models.enums import Role

# a user name: what people type after --as, and what the Resume dialog's field holds
NAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,119}$"


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    notify_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the TOTP secret, encrypted with the installation's key; never leaves this table in clear
    secret: Mapped[Optional[str]] = mapped_column(Text)
    enrolled_at: Mapped[Optional[datetime]]
    # the time step of the last code accepted: a code is good once, and never an older one
    last_step: Mapped[Optional[int]]
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PersonCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="User name: lower-case letters, digits, . _ @ -")
    display_name: str = Field(default="", max_length=200)
    roles: list[Role] = Field(default_factory=list)
    notify_urls: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("notify_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if "://" not in url or len(url) > 2000 or not url.isprintable():
                raise ValueError(f"{url[:60]!r} is not a notification URL (scheme://...)")
        return urls


class PersonRead(BaseModel):
    """A person as shown: never the secret."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    display_name: str
    roles: list[str]
    notify_urls: list[str]
    enabled: bool
    enrolled_at: Optional[datetime] = None

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None
