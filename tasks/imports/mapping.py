"""Which column of an export fills which incident field (``--map FIELD=COLUMN``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

# the incident fields an export can fill; labels.NAME fills one label
FIELDS = (
    "title", "description", "opened_at", "resolved_at", "closed_at", "service", "category",
    "subcategory", "symptom", "severity", "impact", "urgency", "fingerprint", "owner",
    "assignment_group", "configuration_item", "external_ref",
)
LABEL_PREFIX = "labels."
# a column of this name holding a JSON object gives every row's labels (labels.NAME adds to them)
LABELS_COLUMN = "labels"
JOIN = "+"


class MappingError(ValueError):
    """A --map that names no field, or a column the file does not have."""


def cell(value: Any) -> Optional[str]:
    """A cell as text, trimmed and without NUL; empty is None. JSON values: numbers and
    booleans as written, objects and lists as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL stores no NUL, and it means nothing to a person
            value = value.replace("\x00", "")
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def _get(values: dict[str, Any], name: str) -> Any:
    """A column's value; in JSON Lines, ``a.b`` also reaches into nested objects."""
    if name in values:
        return values[name]
    if "." not in name:
        return None
    found: Any = values
    for part in name.split("."):
        if not isinstance(found, dict) or part not in found:
            return None
        found = found[part]
    return found


@dataclass(frozen=True, slots=True)
class Column:
    """Where a field's value comes from: one column, or several joined with a space
    (``Date+Time``). A column whose own name holds ``+`` is taken whole."""

    spec: str

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.spec.split(JOIN))

    def value(self, values: dict[str, Any]) -> Optional[str]:
        whole = _get(values, self.spec)
        if whole is not None or JOIN not in self.spec:
            return cell(whole)
        joined = " ".join(v for v in (cell(_get(values, p)) for p in self.parts) if v)
        return joined or None

    def missing_from(self, columns: Sequence[str]) -> list[str]:
        """The columns named here that a CSV header lacks."""
        if self.spec in columns:
            return []
        return [p for p in self.parts if p not in columns]


def parse_maps(pairs: Sequence[str]) -> dict[str, Column]:
    """``["title=Message", "opened_at=Date+Time", "labels.host=Host"]`` -> field: column."""
    maps: dict[str, Column] = {}
    for pair in pairs:
        field, sep, spec = pair.partition("=")
        field, spec = field.strip(), spec.strip()
        if not sep or not field or not spec or any(not p.strip() for p in spec.split(JOIN)):
            raise MappingError(f"--map {pair!r}: write FIELD=COLUMN (or FIELD=COLUMN+COLUMN)")
        if field not in (*FIELDS, LABELS_COLUMN) and not (field.startswith(LABEL_PREFIX) and field[len(LABEL_PREFIX):].strip()):
            raise MappingError(f"--map {pair!r}: {field!r} is not a field; fields: {', '.join(FIELDS)}, labels, labels.NAME")
        if field in maps:
            raise MappingError(f"--map {pair!r}: {field} is mapped twice")
        maps[field] = Column(spec)
    return maps


def resolve(maps: dict[str, Column], columns: Optional[Sequence[str]]) -> dict[str, Column]:
    """The mapping for a file: what --map says, and for every other field a column of its
    own name. ``columns`` is a CSV header (checked against the mapping), or None for JSON
    Lines, where each record may have its own keys."""
    resolved = dict(maps)
    for field in (*FIELDS, LABELS_COLUMN):
        if field not in resolved and (columns is None or field in columns):
            resolved[field] = Column(field)
    if columns is not None:
        for field, column in maps.items():
            missing = column.missing_from(columns)
            if missing:
                raise MappingError(f"--map {field}={column.spec}: the file has no column "
                                   f"{', '.join(repr(m) for m in missing)}; its columns: {', '.join(columns)}")
    return resolved
