"""Reading one cell of an export: severities, impact and urgency levels, times.

Each reader raises :class:`BadValue` with a message that names the value and
what would have been accepted; the caller adds the field and the line.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from problemflow.models.enums import Level


class BadValue(ValueError):
    """A cell that cannot be read as what its field needs."""


# Severity words of monitoring tools, syslog and ticketing, in four tiers. Each tier's
# impact and urgency give priorities 1 to 4 by the ITIL matrix (sev1 -> 1-critical, ...),
# the levels the shipped triage rules give critical, high, warning and low alerts.
SEVERITY_TIERS: dict[tuple[Level, Level], tuple[str, ...]] = {
    (Level.high, Level.high): ("critical", "crit", "fatal", "emergency", "emerg", "alert", "sev1", "p1", "1"),
    (Level.high, Level.medium): ("high", "error", "err", "major", "sev2", "p2", "2"),
    (Level.medium, Level.medium): ("medium", "warning", "warn", "minor", "sev3", "p3", "3"),
    (Level.low, Level.medium): ("low", "info", "informational", "notice", "debug", "trace", "sev4", "p4", "4"),
}
SEVERITIES = {word: levels for levels, words in SEVERITY_TIERS.items() for word in words}
SEVERITY_HELP = "; ".join(f"{'/'.join(words)}" for words in SEVERITY_TIERS.values())

# impact or urgency written out: the level's name or ServiceNow's 1/2/3 ("1 - High")
LEVELS = {"high": Level.high, "medium": Level.medium, "med": Level.medium, "low": Level.low,
          "1": Level.high, "2": Level.medium, "3": Level.low}
_SEPARATORS = re.compile(r"[\s_\-]+")


def severity(text: str) -> tuple[Level, Level]:
    """(impact, urgency) for a severity word, any case, ``SEV-1`` and ``Sev 1`` alike."""
    found = SEVERITIES.get(_SEPARATORS.sub("", text.casefold()))
    if found is None:
        raise BadValue(f"unknown severity {text!r}; accepted (any case): {SEVERITY_HELP}")
    return found


def level(text: str) -> Level:
    """``high``/``medium``/``low``, or 1/2/3 with an optional label (``2 - Medium``)."""
    key = text.strip().casefold()
    found = LEVELS.get(key) or LEVELS.get(key.split("-", 1)[0].strip())
    if found is None:
        raise BadValue(f"unknown level {text!r}; accepted: high, medium, low (or 1, 2, 3)")
    return found


EPOCH = "epoch"
EPOCH_MS = "epoch-ms"
FIRST_YEAR, LAST_YEAR = 1970, 2999


def zone(name: Optional[str]) -> tzinfo:
    """The zone naive times are read in: UTC unless an IANA name is given."""
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadValue(f"unknown time zone {name!r}; give an IANA name such as Europe/Berlin or UTC") from None


class TimeReader:
    """Times as ISO 8601 (default), a strptime format, or seconds (``epoch``) or milliseconds
    (``epoch-ms``) since 1970; naive ones are in ``zone``; all come back in UTC."""

    def __init__(self, time_format: Optional[str] = None, in_zone: tzinfo = timezone.utc):
        self.time_format = time_format
        self.zone = in_zone

    def __call__(self, text: str) -> datetime:
        try:
            value = self._parse(text.strip())
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.zone)
            value = value.astimezone(timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise BadValue(f"{text!r} is not a time {self.expected()}") from None
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise BadValue(f"{text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
        return value

    def _parse(self, text: str) -> datetime:
        if self.time_format == EPOCH:
            return datetime.fromtimestamp(float(text), timezone.utc)
        if self.time_format == EPOCH_MS:
            return datetime.fromtimestamp(float(text) / 1000, timezone.utc)
        if self.time_format:
            return datetime.strptime(text, self.time_format)
        return datetime.fromisoformat(text)

    def expected(self) -> str:
        if self.time_format in (EPOCH, EPOCH_MS):
            return f"in {self.time_format} ({'seconds' if self.time_format == EPOCH else 'milliseconds'} since 1970)"
        if self.time_format:
            return f"in the format {self.time_format!r}"
        return "in ISO 8601 (2026-11-27T14:05:00Z); give --time-format for others"
