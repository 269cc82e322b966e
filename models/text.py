"""Message templates: an incident's title with its variable parts masked.

Two alerts from the same failing thing rarely have the same title: host names,
ids, addresses, counts and times differ. Their template does not. The masking
here is general on purpose (no rule for one system's message format):

- whole tokens that name something unique: URLs, e-mail addresses, UUIDs,
  file paths, quoted single words, host names (``db1.example.com``);
- inside any token, every run of letters and digits that holds a digit
  (``blk_-6952295868487656571`` -> ``blk_-<*>``, ``core.1234`` -> ``core.<*>``,
  ``host-03`` -> ``host-<*>``), and runs of hex digits of eight or more;
- day and month names that start a masked timestamp (``Sun Jul <*>``);
- masked parts next to each other (an address with its port, a date with its
  time) collapse into one ``<*>``, and a token repeated in a row (a list of
  ids) into one.

Words that vary without digits (user and host names) are left to the scan,
which merges templates that differ only in such a position when that position
takes several values.
"""

from __future__ import annotations

import re
from typing import Optional

MASK = "<*>"
MAX_TEMPLATE = 500

_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[^\s@<>()\[\]\"']+@[^\s@<>()\[\]\"']+\.[a-z]{2,}", re.IGNORECASE)
_PATH = re.compile(
    r"(?<![\w/])(?:~|\.{1,2})?/[^\s/'\"]+(?:/[^\s'\"]*)+"  # two or more parts
    r"|(?<![\w/])/[^\s/'\"]*\d[^\s/'\"]*"  # one part with a digit: /10.0.0.1:80, /dev/sda1
    r"|\b[a-z]:\\[^\s'\"]*",  # Windows
    re.IGNORECASE,
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_QUOTED = re.compile(r"'[^'\s]+'|\"[^\"\s]+\"|`[^`\s]+`")
# a run of letters and digits (with a leading minus) that holds a digit, or a long run of hex digits;
# possessive quantifiers: each run is looked at once
_RUN = re.compile(r"(?<![A-Za-z0-9])-?(?=[A-Za-z]*+\d|[0-9A-Fa-f]{8,}(?![A-Za-z0-9]))[A-Za-z0-9]++")
_HOST = re.compile(
    r"(?<![\w.-])(?:[a-z0-9<>*-]++\.)++(?:com|net|org|edu|gov|mil|int|info|biz|io|local|lan|internal|[a-z]{2})"
    r"(?![\w.-])",
    re.IGNORECASE,
)
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_WORDS = re.compile(rf"\b(?:{_DAY}\s+)?{_MONTH}\s+(?=<\*>)|\b{_DAY}\s+(?=<\*>)", re.IGNORECASE)
_CALENDAR = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "jan", "feb", "mar", "apr", "may", "jun",
             "jul", "aug", "sep", "oct", "nov", "dec")
_COLLAPSE = re.compile(r"<\*>(?:[\s.:,;/_+\-#@]*<\*>)+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HAS_DIGIT = re.compile(r"\d")


def template_of(text: Optional[str]) -> Optional[str]:
    """The template of a message (None for no text). Its first line only, at most 500 characters."""
    if not text:
        return None
    line = text.strip().split("\n", 1)[0]
    if _CONTROL.search(line):
        line = _CONTROL.sub(" ", line)
    # each pattern runs only when the characters it needs are there: most messages need few of them
    if "://" in line:
        line = _URL.sub(MASK, line)
    if "@" in line:
        line = _EMAIL.sub(MASK, line)
    if "/" in line or "\\" in line:
        line = _PATH.sub(MASK, line)
    if "-" in line:
        line = _UUID.sub(MASK, line)
    if "'" in line or '"' in line or "`" in line:
        line = _QUOTED.sub(MASK, line)
    if _HAS_DIGIT.search(line):
        line = _RUN.sub(MASK, line)
    if "." in line:
        line = _HOST.sub(MASK, line)
    if MASK in line:
        lowered = line.lower()
        if any(word in lowered for word in _CALENDAR):
            line = _DATE_WORDS.sub(MASK + " ", line)  # Sun Jul <*> -> <*>: the words of a timestamp
        line = _COLLAPSE.sub(MASK, line)
    words = line.split()
    if len(set(words)) < len(words):  # a list of ids: blk_<*> blk_<*> ... -> blk_<*>
        words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
    return " ".join(words)[:MAX_TEMPLATE] or None


def tokens(template: str) -> list[str]:
    """The template's tokens as the scan compares them (whitespace separated)."""
    return template.split()
