"""Record numbers as people write them: INC0000042, PRB0000007, KE0000003, CHG0000001."""

from __future__ import annotations


def format_number(prefix: str, record_id: int | None) -> str:
    return f"{prefix}{record_id:07d}" if record_id is not None else f"{prefix}-unsaved"


def parse_number(prefix: str, text: str | int) -> int:
    """``INC0000042``, ``42`` or ``"42"`` -> 42; raises ValueError otherwise."""
    if isinstance(text, int):
        if not 0 <= text < 10**18:
            raise ValueError(f"{text} is not a {prefix} id")
        return text
    value = text.strip().upper()
    if value.startswith(prefix):
        value = value[len(prefix):]
    if not value.isdigit() or len(value) > 18:  # ids are 64-bit integers in every database
        raise ValueError(f"{text!r} is not a {prefix} number or an id")
    return int(value)
