"""What a KEDB search compares: the query, each known error's signature, and the weights.

The vectorised index in :mod:`tasks.kedb_index` and the one-by-one reference
scoring (:func:`score_doc`) share these definitions, so both give the same
scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Optional

from problemflow.models.enums import KnownErrorState
from problemflow.models.text import MASK, template_of

ELIGIBLE = (KnownErrorState.published.value, KnownErrorState.fixed.value)

# How much each signal says on its own; evidence combines as 1 - prod(1 - c).
# "template": the incident's message template is the known error's (models.text), which alone
# reaches the attach threshold. "keywords" counts each keyword by how rare it is among known errors,
# and alone stays below the threshold.
WEIGHTS = {
    "fingerprint": 0.95,
    "template": 0.9,
    "labels": 0.6,
    "service": 0.35,
    "category": 0.15,
    "subcategory": 0.2,
    "symptom": 0.3,
    "keywords": 0.5,
    "text": 0.8,
}
# Multipliers for evidence against a known error.
PENALTIES = {"service_mismatch": 0.6, "label_conflict": 0.6, "fixed": 0.9}
KEYWORDS_FOR_FULL_CREDIT = 3
MAX_KEYWORD_WORDS = 6

_WORD = re.compile(r"\w+")


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.casefold()))


def _fold(value: Any) -> Optional[str]:
    return str(value).strip().casefold() if value not in (None, "") else None


@dataclass(frozen=True)
class Query:
    """What is known about an incident, normalised for matching."""

    text: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    service: Optional[str] = None
    category: Optional[str] = None
    subcategory: Optional[str] = None
    symptom: Optional[str] = None
    fingerprint: Optional[str] = None
    template: Optional[str] = None

    @classmethod
    def build(cls, *, text="", labels=None, service=None, category=None, subcategory=None,
              symptom=None, fingerprint=None) -> "Query":
        return cls(
            text=text or "",
            labels={str(k): str(v) for k, v in (labels or {}).items()},
            service=_fold(service),
            category=_fold(category),
            subcategory=_fold(subcategory),
            symptom=_fold(symptom),
            fingerprint=str(fingerprint) if fingerprint else None,
            template=telling_template(text),
        )

    def keyword_grams(self) -> set[tuple[str, ...]]:
        tokens = words(self.text)
        return {
            tokens[i:i + n]
            for n in range(1, MAX_KEYWORD_WORDS + 1)
            for i in range(len(tokens) - n + 1)
        }


@dataclass(frozen=True, slots=True)
class Doc:
    """One known error's signature, normalised."""

    id: int
    title: str
    fixed: bool
    valid_until: float
    fingerprints: frozenset[str]
    labels: dict[str, str]
    services: frozenset[str]
    category: Optional[str]
    subcategory: Optional[str]
    symptom: Optional[str]
    keywords: tuple[tuple[str, ...], ...]
    template: Optional[str] = None


def telling_template(text: Optional[str]) -> Optional[str]:
    """The template of a text's first line, when it has at least two words left to tell messages apart."""
    template = template_of(text)
    if template is None:
        return None
    return template if len(words(template.replace(MASK, " "))) >= 2 else None


def doc_of(row) -> Doc:
    sig = row.signature or {}
    valid = row.valid_until
    if valid is not None and valid.tzinfo is None:
        valid = valid.replace(tzinfo=timezone.utc)
    keywords = tuple(dict.fromkeys(w for w in (words(k)[:MAX_KEYWORD_WORDS] for k in sig.get("keywords", [])) if w))
    return Doc(
        id=row.id,
        title=row.title,
        fixed=row.state == KnownErrorState.fixed.value,
        valid_until=valid.timestamp() if valid else math.inf,
        fingerprints=frozenset(str(f) for f in sig.get("fingerprints", [])),
        labels={str(k): str(v) for k, v in (sig.get("labels") or {}).items()},
        services=frozenset(s for s in (_fold(s) for s in sig.get("services", [])) if s),
        category=_fold(sig.get("category")),
        subcategory=_fold(sig.get("subcategory")),
        symptom=_fold(sig.get("symptom")),
        keywords=keywords,
        template=telling_template(row.title),
    )


def document_text(row) -> str:
    sig = row.signature or {}
    return "\n".join([row.title, row.symptoms or "", " ".join(sig.get("keywords", [])),
                      sig.get("symptom") or ""])


def content_hash(row) -> str:
    payload = json.dumps(
        [row.title, row.symptoms, row.state, row.signature,
         row.valid_until.isoformat() if row.valid_until else None],
        sort_keys=True, default=str,
    )
    return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


def score_doc(d: Doc, query: Query, now: float, cosine: float, grams: set,
              rarity: Optional[dict] = None) -> tuple[float, dict]:
    """The score of one known error, computed on its own (the reference for the index).

    ``rarity``: each keyword's weight by how rare it is among known errors (1 when not given)."""
    signals: dict[str, float] = {}
    if query.fingerprint and query.fingerprint in d.fingerprints:
        signals["fingerprint"] = WEIGHTS["fingerprint"]
    if query.template and query.template == d.template:
        signals["template"] = WEIGHTS["template"]
    for name in ("service", "category", "subcategory", "symptom"):
        value = getattr(query, name)
        present = (value in d.services) if name == "service" else (value is not None and value == getattr(d, name))
        if value is not None and present:
            signals[name] = WEIGHTS[name]
    conflict = False
    if query.labels and d.labels:
        matched = sum(1 for k, v in query.labels.items() if d.labels.get(k) == v)
        conflict = any(k in d.labels and d.labels[k] != v for k, v in query.labels.items())
        if matched:
            signals["labels"] = matched / len(d.labels) * WEIGHTS["labels"]
    if grams and d.keywords:
        rarity = rarity or {}
        found = sum(rarity.get(kw, 1.0) for kw in d.keywords if kw in grams)
        if found:
            signals["keywords"] = min(found / min(len(d.keywords), KEYWORDS_FOR_FULL_CREDIT), 1.0) * WEIGHTS["keywords"]
    if cosine > 0:
        signals["text"] = min(cosine, 1.0) * WEIGHTS["text"]
    miss = 1.0
    for value in signals.values():
        miss *= 1.0 - value
    score = 1.0 - miss
    if query.service is not None and d.services and "service" not in signals:
        score *= PENALTIES["service_mismatch"]
    if conflict:
        score *= PENALTIES["label_conflict"]
    if d.fixed:
        score *= PENALTIES["fixed"]
    if d.valid_until <= now:
        score = 0.0
    return score, {k: round(v, 4) for k, v in signals.items()}
