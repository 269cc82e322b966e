"""Importing a KEDB from a file: one published known error per record, once per (title, service).

Columns (CSV header, or keys of each JSON line): title, symptoms, root_cause,
workaround, service, category, subcategory, symptom, keywords and fingerprints
(comma or semicolon separated in CSV, a list in JSON Lines) and labels (a JSON
object). title and one of root_cause or workaround are required. Records are
bounded and bad ones reported as for incidents (:mod:`tasks.imports.reading`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError
from sqlalchemy.orm import Session

from problemflow.tasks.imports.mapping import cell
from problemflow.tasks.imports.reading import Format, UnreadableFile, open_export
from problemflow.tasks.imports.summary import BadRow, ImportSummary, validation_text
from problemflow.tasks.kedb.publish import NothingKnown, key_of_create, known_error_in, publish_new, stored_keys

TEXT_COLUMNS = ("title", "symptoms", "root_cause", "workaround", "service", "category", "subcategory", "symptom")
LIST_COLUMNS = ("keywords", "fingerprints")
COLUMNS = (*TEXT_COLUMNS, *LIST_COLUMNS, "labels")
_LIST_SEPARATORS = re.compile(r"[,;]")


def _list(value: Any, column: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [text for text in (cell(v) for v in value) if text]
    if isinstance(value, str):
        return [text for text in (cell(part) for part in _LIST_SEPARATORS.split(value)) if text]
    raise BadRow(f"{column}: a list or a comma separated text, not {type(value).__name__}")


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRow(f"labels: {value[:80]!r} is not a JSON object") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRow("labels: not a JSON object")
    labels = {cell(str(k)): cell(v) for k, v in value.items()}
    return {k: v for k, v in labels.items() if k and v is not None}


def row_known_error(values: dict[str, Any]):
    """The known error one record describes (raises :class:`BadRow`)."""
    text = {name: cell(values.get(name)) for name in TEXT_COLUMNS}
    if not text["title"]:
        raise BadRow("title: empty")
    try:
        return known_error_in(
            title=text["title"], symptoms=text["symptoms"] or "", root_cause=text["root_cause"] or "",
            workaround=text["workaround"] or "", service=text["service"], category=text["category"],
            subcategory=text["subcategory"], symptom=text["symptom"],
            keywords=_list(values.get("keywords"), "keywords"),
            fingerprints=_list(values.get("fingerprints"), "fingerprints"),
            labels=_labels(values.get("labels")),
        )
    except NothingKnown as error:
        raise BadRow(str(error)) from None
    except ValidationError as error:
        raise BadRow(validation_text(error)) from None


def import_known_errors(
    *, db_session: Session, path: Path, file_format: Optional[Format] = None, encoding: str = "utf-8",
    skip_bad: bool = False,
) -> ImportSummary:
    """Create and publish the file's new known errors in the session's transaction; with a
    bad row and no ``skip_bad`` raises :class:`~tasks.imports.summary.BadRows` (roll back)."""
    path = Path(path)
    summary = ImportSummary(path=str(path))
    known = stored_keys(db_session)
    with open_export(path, file_format, encoding=encoding) as opened:
        summary.format = opened.format.value
        if opened.columns is not None and "title" not in opened.columns:
            raise UnreadableFile(f"{path}: no title column; the columns are {', '.join(COLUMNS)}")
        for record in opened.records:
            summary.rows += 1
            if record.values is None:
                summary.add_bad(record.line, record.error or "cannot be read")
                continue
            try:
                created_in = row_known_error(record.values)
            except BadRow as error:
                summary.add_bad(record.line, str(error))
                continue
            key = key_of_create(created_in)
            if key in known:
                summary.already_present += 1
                continue
            known[key] = publish_new(db_session=db_session, known_error_in=created_in).id
            summary.new += 1
    return summary.finish(skip_bad)
