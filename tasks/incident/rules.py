"""Triage rules: a readable TOML file, validated once and compiled for speed.

A rules file has four parts (see ``default_rules.toml`` for a full example):

* ``[identify]``: which alert labels name the service and the configuration item;
* ``[severity]``: alert severity (``labels["severity"]``) -> impact and urgency;
* ``[[route]]``: owner and assignment group (identification);
* ``[[category]]``: category, subcategory, symptom and assignment group;
* ``[[priority]]``: impact / urgency overrides.

Every rule has a ``name`` and a ``[...when]`` condition. In a condition,
``alertnames`` (glob patterns, any case) and ``keywords`` (words or phrases found
in the title or description) are *triggers*: the rule applies when any of them
is present. ``labels`` (regular expressions, full match), ``services`` (glob
patterns) and ``sources`` are *filters*: every one given must hold. A condition
with filters only applies whenever they hold. The first matching rule of each
list wins.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from problemflow.models.enums import IncidentSource, Level

logger = logging.getLogger("problemflow.rules")

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")


class RulesError(ValueError):
    """A rules file that cannot be read or does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    alertnames: list[str] = Field(default_factory=list, description="glob patterns, any case")
    keywords: list[str] = Field(default_factory=list, description="words or phrases, any case")
    labels: dict[str, str] = Field(default_factory=dict, description="label -> regex (full match)")
    services: list[str] = Field(default_factory=list, description="glob patterns, any case")
    sources: list[IncidentSource] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _regexes_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"label {label!r}: bad regular expression {pattern!r}: {error}") from None
        return value

    @field_validator("keywords", "alertnames", "services")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("entries must not be blank")
        return value


class _Rule(_Strict):
    name: str = Field(min_length=1, max_length=120)
    when: When = Field(default_factory=When)


class RouteRule(_Rule):
    owner: Optional[str] = Field(default=None, max_length=120)
    assignment_group: Optional[str] = Field(default=None, max_length=120)
    owner_label: Optional[str] = Field(default=None, description="take the owner from this label")
    group_label: Optional[str] = Field(default=None, description="take the group from this label")


class CategoryRule(_Rule):
    category: str = Field(min_length=1, max_length=120)
    subcategory: Optional[str] = Field(default=None, max_length=120)
    symptom: Optional[str] = Field(default=None, max_length=200)
    assignment_group: Optional[str] = Field(default=None, max_length=120)


class PriorityRule(_Rule):
    impact: Optional[Level] = None
    urgency: Optional[Level] = None


class SeverityLevels(_Strict):
    impact: Level
    urgency: Level


class IdentifySettings(_Strict):
    service_labels: list[str] = Field(default_factory=lambda: ["service", "app", "job"])
    ci_labels: list[str] = Field(default_factory=lambda: ["instance", "host", "pod", "node"])


class RulesFile(_Strict):
    identify: IdentifySettings = Field(default_factory=IdentifySettings)
    severity: dict[str, SeverityLevels] = Field(default_factory=dict)
    route: list[RouteRule] = Field(default_factory=list)
    category: list[CategoryRule] = Field(default_factory=list)
    priority: list[PriorityRule] = Field(default_factory=list)


# --- compiled form -------------------------------------------------------


_WORDS = re.compile(r"\w+")
GLOB_CACHE_SIZE = 4096


@lru_cache(maxsize=512)
def words_of(text: str) -> frozenset[str]:
    """The lower-case words of a text (the same text is seen by every step)."""
    return frozenset(_WORDS.findall(text.lower()))


def _glob_regex(patterns: list[str]) -> Optional[re.Pattern]:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)


def _keyword_regex(keywords: list[str]) -> Optional[re.Pattern]:
    if not keywords:
        return None
    parts = [r"\s+".join(re.escape(w) for w in k.split()) for k in keywords]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Condition:
    """A ``when`` compiled to regexes; :meth:`holds` is the hot path."""

    alertnames: Optional[re.Pattern]
    keywords: Optional[re.Pattern]
    # the words of each keyword: a cheap test that must pass before the regex runs
    keyword_words: tuple[frozenset[str], ...]
    labels: tuple[tuple[str, re.Pattern], ...]
    services: Optional[re.Pattern]
    sources: frozenset[str]
    # alert and service names repeat: remember glob results (bounded)
    seen: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def compile(cls, when: When) -> "Condition":
        return cls(
            alertnames=_glob_regex(when.alertnames),
            keywords=_keyword_regex(when.keywords),
            keyword_words=tuple(frozenset(_WORDS.findall(k.lower())) for k in when.keywords),
            labels=tuple((k, re.compile(v)) for k, v in when.labels.items()),
            services=_glob_regex(when.services),
            sources=frozenset(s.value for s in when.sources),
        )

    def _glob(self, kind: str, pattern: re.Pattern, value: str) -> bool:
        key = (kind, value)
        hit = self.seen.get(key)
        if hit is None:
            if len(self.seen) >= GLOB_CACHE_SIZE:
                self.seen.clear()
            hit = self.seen[key] = pattern.match(value) is not None
        return hit

    def holds(self, facts: "Facts") -> bool:
        if self.sources and facts.source not in self.sources:
            return False
        if self.services is not None and not (facts.service and self._glob("s", self.services, facts.service)):
            return False
        for label, pattern in self.labels:
            value = facts.labels.get(label)
            if value is None or not pattern.fullmatch(str(value)):
                return False
        if self.alertnames is None and self.keywords is None:
            return True
        if self.alertnames is not None and facts.alertname and self._glob("a", self.alertnames, facts.alertname):
            return True
        if self.keywords is None:
            return False
        present = facts.words
        return (any(needed <= present for needed in self.keyword_words)
                and self.keywords.search(facts.text) is not None)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at in one incident."""

    source: str
    service: Optional[str]
    labels: dict[str, Any]
    alertname: Optional[str]
    text: str
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class Compiled:
    rule: Any
    condition: Condition


@dataclass(frozen=True)
class Rules:
    """A validated rules file with every condition compiled."""

    source: str
    spec: RulesFile
    routes: tuple[Compiled, ...]
    categories: tuple[Compiled, ...]
    priorities: tuple[Compiled, ...]
    severity: dict[str, SeverityLevels]

    @classmethod
    def from_spec(cls, spec: RulesFile, source: str = "<memory>") -> "Rules":
        def build(rules):
            return tuple(Compiled(r, Condition.compile(r.when)) for r in rules)

        return cls(
            source=source,
            spec=spec,
            routes=build(spec.route),
            categories=build(spec.category),
            priorities=build(spec.priority),
            severity={k.lower(): v for k, v in spec.severity.items()},
        )

    @classmethod
    def from_toml(cls, text: str, source: str = "<memory>") -> "Rules":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise RulesError(f"{source}: not valid TOML: {error}") from None
        try:
            spec = RulesFile.model_validate(data)
        except ValidationError as error:
            raise RulesError(f"{source}: {describe(error, data)}") from None
        return cls.from_spec(spec, source)

    @classmethod
    def from_file(cls, path: Path | str) -> "Rules":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RulesError(f"rules file {path} cannot be read: {error.strerror}") from None
        return cls.from_toml(text, str(path))


def describe(error: ValidationError, data: dict) -> str:
    """Validation errors as ``rule 'disk-full' (category #3) field when.labels: ...``."""
    messages = []
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] in ("route", "category", "priority") and isinstance(loc[1], int):
            entry = data.get(loc[0], [])[loc[1]] if loc[1] < len(data.get(loc[0], [])) else {}
            name = entry.get("name", "?") if isinstance(entry, dict) else "?"
            field = ".".join(str(p) for p in loc[2:]) or "(the rule itself)"
            where = f"rule {name!r} ([[{loc[0]}]] #{loc[1] + 1}) field {field}"
        elif len(loc) >= 2 and loc[0] == "severity":
            field = ".".join(str(p) for p in loc[2:]) or "(the entry itself)"
            where = f"severity {loc[1]!r} field {field}"
        messages.append(f"{where}: {item['msg']}")
    return "; ".join(messages)


# --- loading and caching -------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, tuple[int, Rules]] = {}


def rules_path() -> Path:
    from problemflow.models.settings import get_settings

    return Path(get_settings().rules_file or DEFAULT_RULES_FILE)


def get_rules(path: Path | str | None = None) -> Rules:
    """The rules in force, compiled once and reloaded when the file changes.

    The first load of a file raises :class:`RulesError` when it is invalid;
    a later invalid edit is logged and the last good rules stay in force.
    """
    key = str(path or rules_path())
    try:
        mtime = os.stat(key).st_mtime_ns
    except OSError:
        mtime = -1
    cached = _cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            rules = Rules.from_file(key)
        except RulesError:
            if cached is None:
                raise
            logger.exception("rules file changed but is invalid; keeping the previous rules")
            _cache[key] = (mtime, cached[1])
            return cached[1]
        _cache[key] = (mtime, rules)
        return rules
