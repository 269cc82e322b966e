"""How the recurrence scan weighs its signals and when it links, groups and opens problems."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from pydantic import BaseModel, Field

# Stored on every link and scan run; bump when the grouping rules change meaning.
ALGORITHM_VERSION = "recurrence-2.0"

# Signals in the order of their bit in a link's reason mask.
FIELD_SIGNALS = (
    "fingerprint",
    "service",
    "configuration_item",
    "category",
    "subcategory",
    "symptom",
    "assignment_group",
    "owner",
)
# Signals that name the failing thing itself: they may link incidents days apart.
IDENTITY_SIGNALS = ("fingerprint", "service", "configuration_item")


class ScanConfig(BaseModel):
    """Weights and limits of the scan; every field can be overridden per run."""

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "fingerprint": 1.0,
            "service": 0.35,
            "configuration_item": 0.35,
            "category": 0.2,
            "subcategory": 0.2,
            "symptom": 0.15,
            "assignment_group": 0.2,
            "owner": 0.2,
            "text": 0.5,
        },
        description="Score each shared signal adds; text adds weight x cosine similarity",
    )
    label_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "alertname": 0.4,
            "instance": 0.2,
            "job": 0.15,
            "namespace": 0.1,
            "location": 0.1,
            "opened_by": 0.1,
        },
        description="Score a shared value of these label keys adds (other labels are ignored)",
    )
    burst_minutes: float = Field(
        default=30, gt=0, le=1440,
        description="Incidents this close in time link on weaker evidence (a burst)",
    )
    context_hours: float = Field(
        default=24, gt=0, le=24 * 30,
        description="Span around an incident used to judge how common a shared value is",
    )
    min_surprise: float = Field(
        default=0.05, ge=0, le=1,
        description="A shared value less surprising than this (too common around then) proposes no pairs",
    )
    burst_min_score: float = Field(default=0.3, gt=0, description="Score a burst link needs")
    window_days: float = Field(
        default=7, gt=0, le=365,
        description="Incidents further apart never link; within it, only identity signals link",
    )
    recurrence_min_text: float = Field(
        default=0.6, ge=0, le=1,
        description="Text similarity a same-service link across days needs (fingerprints need none)",
    )
    split_by_service: bool = Field(
        default=False,
        description="The same message on two services is two recurrences (set it when the service field names "
        "the affected service, not the program that logged the message)",
    )
    similar_min_text: float = Field(
        default=0.8, ge=0, le=1,
        description="TF-IDF cosine at which two differently worded messages count as one (1: only identical "
        "templates)",
    )
    template_min_values: int = Field(
        default=5, ge=2, le=1000,
        description="Different words one position of otherwise identical templates must take to be a variable",
    )
    message_window_days: float = Field(
        default=365, gt=0, le=3650,
        description="The same message further apart than this starts a new group",
    )
    threshold: int = Field(default=3, ge=2, description="Incidents of one group that open a problem...")
    threshold_days: float = Field(default=7, gt=0, le=365, description="...when they fall within this many days")
    max_neighbours: int = Field(
        default=8, ge=1, le=1024,
        description="Per signal, how many following incidents in time each incident is compared with",
    )
    kedb_min_score: float = Field(
        default=0.8, ge=0, le=1, description="Known-error match score that links a group to it"
    )
    open_max: int = Field(
        default=5, ge=0, le=1000,
        description="Problems opened by the scan that may be open at once; groups beyond wait in a ranked queue",
    )
    as_of: Optional[datetime] = Field(
        default=None,
        description="The present (None: now). A group opens a problem only when its threshold is crossed "
        "by incidents opened within threshold_days before it: imported history groups but opens nothing",
    )

    @classmethod
    def from_settings(cls, **overrides) -> "ScanConfig":
        """Defaults from the settings (``PROBLEMFLOW_RECURRENCE_*``), then per-run overrides."""
        from problemflow.models.settings import get_settings

        settings = get_settings()
        values = {"threshold": settings.recurrence_threshold, "threshold_days": settings.recurrence_window_days,
                  "open_max": settings.recurrence_open_max, "split_by_service": settings.recurrence_split_by_service}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def present(self) -> datetime:
        """The moment recency is judged against."""
        return self.as_of or datetime.now(timezone.utc)

    @property
    def threshold_seconds(self) -> float:
        return self.threshold_days * 86400

    @property
    def burst_seconds(self) -> float:
        return self.burst_minutes * 60

    @property
    def window_seconds(self) -> float:
        return self.window_days * 86400
