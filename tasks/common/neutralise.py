"""Outside text made harmless for where it goes: spreadsheet cells, terminals, output paths.

(Markdown has its own, ``text_md`` in :mod:`problemflow.tasks.common.documents`; HTML is
escaped by Jinja's autoescape.)
"""

from __future__ import annotations

import re
from pathlib import Path

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP's CSV injection rule); a leading apostrophe shows it as text instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides
# that make a terminal or an editor show text other than what is there
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def csv_cell(value: object) -> object:
    """A value for a CSV cell that a spreadsheet shows as typed, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def terminal(text: object) -> str:
    """Text for a terminal: escape and control sequences shown as ``\\x1b``, never executed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        "" if text is None else str(text))


class OutsideRoot(ValueError):
    """A path that leaves the directory it must stay in."""


def confined(requested: str | Path | None, root: Path) -> Path:
    """``requested`` (relative to ``root``, or absolute) if it lies inside ``root``; ``root``
    itself when nothing is asked for. Refuses anything outside, symbolic links included."""
    root = Path(root).resolve()
    if requested is None or str(requested).strip() == "":
        return root
    text = str(requested)
    if "\x00" in text:
        raise OutsideRoot("the directory name contains a NUL character")
    path = (root / text).resolve()
    if path != root and root not in path.parents:
        raise OutsideRoot(f"{text!r} is outside {root}; give a directory inside it")
    return path


class NotOurs(FileExistsError):
    """A file that would be overwritten was not written by problemflow."""


def check_overwrite(path: Path, marker: str, force: bool = False) -> None:
    """Refuse (``NotOurs``) to replace an existing file that does not carry our ``marker``
    (in its first 8 MiB), unless ``force``: a person's --out never clobbers their other files."""
    path = Path(path)
    if force or not path.exists():
        return
    if path.is_file():
        with path.open("rb") as handle:
            if marker.encode() in handle.read(8 << 20):
                return
    raise NotOurs(f"{path} exists and was not written by problemflow; choose another path or add --force")
