"""Incidents as arrays: integer codes per signal, times, and normalised text.

The scan's core works on these arrays only, so a million incidents fit in a few
hundred megabytes and every comparison is a vectorised numpy operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from problemflow.tasks.recurrence.config import FIELD_SIGNALS

_PATTERNS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), " <uuid> "),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), " <ip> "),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?z?\b"), " <time> "),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), " <time> "),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b"), " <hex> "),
    (re.compile(r"\b\d{5,}\b"), " <num> "),
]
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
_HAS_DIGIT = re.compile(r"\d")
_UNTIDY = re.compile(r"\s\s|[^\S ]|^\s|\s$")


def normalise_text(text: str) -> str:
    """Lower case, with ids, addresses, times and long numbers replaced by placeholders."""
    value = text.lower()
    if not _HAS_DIGIT.search(value):  # every placeholder stands for something with a digit
        return _SPACES.sub(" ", value).strip() if _UNTIDY.search(value) else value
    for pattern, placeholder in _PATTERNS:
        value = pattern.sub(placeholder, value)
    return _SPACES.sub(" ", value).strip()


class Encoder:
    """Strings to dense integer codes (missing -> -1); one per signal."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, values: Iterable[Optional[str]]) -> np.ndarray:
        values = values if isinstance(values, (list, tuple)) else list(values)
        codes = self.codes
        for value in dict.fromkeys(values):  # distinct values in first-seen order, at C speed
            if value is not None and value != "" and value not in codes:
                codes[value] = len(codes)
        lookup = dict(codes)
        lookup[None] = lookup[""] = -1
        return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))


@dataclass
class Frame:
    """The scan's view of a set of incidents, sorted by nothing in particular."""

    ids: np.ndarray  # int64 incident ids
    times: np.ndarray  # float64 seconds since the epoch (opened_at)
    signals: dict[str, np.ndarray]  # signal name -> int32 codes, -1 missing
    text_codes: np.ndarray  # int32 index into texts, -1 when there is no text
    shape_codes: np.ndarray  # int32 code of the text with its digits removed, -1 when none
    texts: list[str]  # unique normalised texts
    names: dict[str, list[str]] = field(default_factory=dict)  # signal -> code -> value
    template_codes: np.ndarray | None = None  # int32 index into templates, -1 when not a message
    templates: list[str] = field(default_factory=list)  # unique message templates
    described: np.ndarray | None = None  # bool: the incident has a description (written by a person)

    def __post_init__(self) -> None:
        if self.template_codes is None:
            self.template_codes = np.full(len(self.ids), -1, dtype=np.int32)
        if self.described is None:
            self.described = np.zeros(len(self.ids), dtype=bool)

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
    templates: Sequence[Optional[str]] | None = None,
    described: Sequence[bool] | None = None,
) -> Frame:
    """Encode raw column values (as read from the database or a generator).

    ``templates``: each incident's message template (None: not a message).
    Not given, they are computed from the texts' first lines."""
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
    if templates is None:
        templates = _templates_of(texts)
    if described is None:
        described = [False] * len(texts)
    # the normalised text is compared only for records without a message and for what people wrote;
    # a machine's message is compared by its template
    text_encoder = Encoder()
    normalised: dict[str, Optional[str]] = {}  # raw text -> normalised, each computed once
    wanted = [t if t and (template is None or said) else None for t, template, said in zip(texts, templates, described)]
    for raw in wanted:
        if raw and raw not in normalised:
            normalised[raw] = normalise_text(raw) or None
    text_codes = text_encoder.encode(normalised[t] if t else None for t in wanted)
    unique_texts = list(text_encoder.codes)
    shape_of = np.asarray(Encoder().encode(_DIGITS.sub("", t) for t in unique_texts), dtype=np.int32)
    shape_codes = np.where(text_codes >= 0, shape_of[np.maximum(text_codes, 0)] if len(shape_of) else -1, -1)
    template_encoder = Encoder()
    template_codes = template_encoder.encode(templates)
    return Frame(
        described=np.asarray(described, dtype=bool),
        template_codes=template_codes,
        templates=list(template_encoder.codes),
        ids=np.asarray(ids, dtype=np.int64),
        times=np.asarray(times, dtype=np.float64),
        signals=signals,
        text_codes=text_codes,
        shape_codes=shape_codes.astype(np.int32),
        texts=unique_texts,
        names=names,
    )


def _templates_of(texts: Sequence[str]) -> list[Optional[str]]:
    from problemflow.models.text import template_of

    cache: dict[str, Optional[str]] = {}
    out = []
    for text in texts:
        if text not in cache:
            cache[text] = template_of(text)
        out.append(cache[text])
    return out


def neighbour_pairs(
    keys: np.ndarray, items: np.ndarray, max_neighbours: int,
    times: np.ndarray | None = None, window: float = 0.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pairs of ``items`` whose ``keys`` are equal, each compared with the next ``max_neighbours``
    in order (``keys`` sorted, then ``times`` when given; a pair further apart than ``window`` in
    time is left out). Linear in the number of items: nothing is compared with everything."""
    found_a, found_b = [], []
    for offset in range(1, max_neighbours + 1):
        if offset >= len(keys):
            break
        keep = keys[offset:] == keys[:-offset]
        if times is not None:
            keep &= (times[offset:] - times[:-offset]) <= window
        if not keep.any():
            break
        found_a.append(items[:-offset][keep])
        found_b.append(items[offset:][keep])
    return found_a, found_b


def subset(frame: Frame, positions: np.ndarray) -> Frame:
    """The same frame restricted to some positions (codes and texts stay shared)."""
    return Frame(
        ids=frame.ids[positions], times=frame.times[positions],
        signals={name: codes[positions] for name, codes in frame.signals.items()},
        text_codes=frame.text_codes[positions], shape_codes=frame.shape_codes[positions],
        texts=frame.texts, names=frame.names,
        template_codes=frame.template_codes[positions], templates=frame.templates,
        described=frame.described[positions],
    )


def _label_text(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
