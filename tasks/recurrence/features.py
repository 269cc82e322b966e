"""Incidents as arrays: integer codes per signal, times, and normalised text.

The scan's core works on these arrays only, so a million incidents fit in a few
hundred megabytes and every comparison is a vectorised numpy operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from tasks.recurrence.config import FIELD_SIGNALS

_PATTERNS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), " <uuid> "),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), " <ip> "),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?z?\b"), " <time> "),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), " <time> "),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b"), " <hex> "),
    (re.compile(r"\b\d{5,}\b"), " <num> "),
]
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower case, with ids, addresses, times and long numbers replaced by placeholders."""
    value = text.lower()
    for pattern, placeholder in _PATTERNS:
        value = pattern.sub(placeholder, value)
    return _SPACES.sub(" ", value).strip()


class Encoder:
    """Strings to dense integer codes (missing -> -1); one per signal."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, values: Iterable[Optional[str]]) -> np.ndarray:
        codes = self.codes
        out = [(-1 if v is None or v == "" else codes.setdefault(v, len(codes))) for v in values]
        return np.asarray(out, dtype=np.int32)


@dataclass
class Frame:
    """The scan's view of a set of incidents, sorted by nothing in particular."""

    ids: np.ndarray  # int64 incident ids
    times: np.ndarray  # float64 seconds since the epoch (opened_at)
    signals: dict[str, np.ndarray]  # signal name -> int32 codes, -1 missing
    text_codes: np.ndarray  # int32 index into texts, -1 when there is no text
    texts: list[str]  # unique normalised texts
    names: dict[str, list[str]] = field(default_factory=dict)  # signal -> code -> value

    def __len__(self) -> int:
        return len(self.ids)


def build_frame(
    *,
    ids: Sequence[int],
    times: Sequence[float],
    columns: Mapping[str, Sequence[Optional[str]]],
    texts: Sequence[str],
    labels: Sequence[Mapping[str, Any]] | None,
    label_keys: Iterable[str],
) -> Frame:
    """Encode raw column values (as read from the database or a generator)."""
    signals: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    for name in FIELD_SIGNALS:
        values = columns.get(name)
        if values is None:
            continue
        encoder = Encoder()
        signals[name] = encoder.encode(values)
        names[name] = list(encoder.codes)
    if labels is not None:
        for key in label_keys:
            encoder = Encoder()
            codes = encoder.encode(_label_text(item.get(key)) if item else None for item in labels)
            if encoder.codes:
                signals[f"label:{key}"] = codes
                names[f"label:{key}"] = list(encoder.codes)
    text_encoder = Encoder()
    normalised: dict[str, Optional[str]] = {}  # raw text -> normalised, each computed once
    for raw in texts:
        if raw and raw not in normalised:
            normalised[raw] = normalise_text(raw) or None
    text_codes = text_encoder.encode(normalised[t] if t else None for t in texts)
    return Frame(
        ids=np.asarray(ids, dtype=np.int64),
        times=np.asarray(times, dtype=np.float64),
        signals=signals,
        text_codes=text_codes,
        texts=list(text_encoder.codes),
        names=names,
    )


def _label_text(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
