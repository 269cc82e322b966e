"""KEDB import: one published known error per (title, service), bounded records, all or nothing."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import select

from problemflow.models.audit import AuditEvent
from problemflow.models.db import session_scope
from problemflow.models.kedb import KnownError, KnownErrorCreate, Signature
from problemflow.models.services import kedb
from problemflow.tasks.imports.known_errors import import_known_errors
from problemflow.tasks.imports.reading import MAX_RECORD_CHARS, UnreadableFile
from problemflow.tasks.imports.summary import BadRows


def run(url, path, **options):
    with session_scope(url) as db_session:
        return import_known_errors(db_session=db_session, path=path, **options)


def known_errors(url) -> list[KnownError]:
    with session_scope(url) as db_session:
        return list(db_session.scalars(select(KnownError).order_by(KnownError.id)))


def test_same_title_and_service_is_one_known_error_whatever_made_it(clean_db, tmp_path):
    with session_scope(clean_db) as db_session:  # as the problem flow records one: two services
        kedb.create(db_session=db_session, known_error_in=KnownErrorCreate(
            title="Cache stampede", root_cause="TTLs expire together",
            signature=Signature(services=["shop", "search"])))
    path = tmp_path / "kedb.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in [
        {"title": "Cache stampede", "service": "SEARCH", "workaround": "warm the cache"},  # exists (any case)
        {"title": "Cache stampede", "service": "billing", "workaround": "warm the cache"},  # another service
        {"title": "Cache stampede", "service": "billing", "workaround": "again"},           # earlier in file
        {"title": "Cache stampede ", "workaround": "no service"},
    ]).encode()))
    summary = run(clean_db, path)
    assert (summary.imported, summary.already_present) == (2, 2)
    stored = known_errors(clean_db)
    assert [(k.title, k.signature["services"], k.state) for k in stored] == [
        ("Cache stampede", ["shop", "search"], "draft"),
        ("Cache stampede", ["billing"], "published"),
        ("Cache stampede", [], "published"),
    ]
    with session_scope(clean_db) as db_session:
        actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.record_id == stored[1].id,
                                                                     AuditEvent.record_type == "known_error"))
        assert sorted(actions) == ["create", "transition"]
    assert run(clean_db, path).imported == 0


def test_over_long_record_refuses_the_file_unless_skip_bad(clean_db, tmp_path):
    path = tmp_path / "kedb.csv"
    path.write_text("title,workaround,keywords\n"
                    f"Huge,{'w' * MAX_RECORD_CHARS},x\n"
                    "Small,restart it,\"a, b;c\"\n")
    with pytest.raises(BadRows) as refused:
        run(clean_db, path)
    assert refused.value.summary.bad_rows == [(2, f"record longer than {MAX_RECORD_CHARS:,} characters")]
    assert known_errors(clean_db) == []
    assert run(clean_db, path, skip_bad=True).imported == 1
    (small,) = known_errors(clean_db)
    assert small.signature["keywords"] == ["a", "b", "c"]


def test_labels_must_be_an_object_and_title_a_column(clean_db, tmp_path):
    path = tmp_path / "kedb.csv"
    path.write_text('title,workaround,labels\nX,fix,"[1, 2]"\nY,fix,not json\n')
    with pytest.raises(BadRows) as refused:
        run(clean_db, path)
    assert [reason.split(":")[0] for _, reason in refused.value.summary.bad_rows] == ["labels", "labels"]
    headless = tmp_path / "other.csv"
    headless.write_text("name,fix\nX,y\n")
    with pytest.raises(UnreadableFile, match="no title column"):
        run(clean_db, headless)


def test_nul_is_dropped_from_known_errors(clean_db, tmp_path):
    path = tmp_path / "kedb.jsonl"
    path.write_text(json.dumps({"title": "Time\x00out", "workaround": "re\x00try", "keywords": "a\x00b; c",
                                "labels": {"k\x00": "v\x00"}}) + "\n")
    run(clean_db, path)
    (known,) = known_errors(clean_db)
    assert (known.title, known.workaround, known.signature["keywords"], known.signature["labels"]) == (
        "Timeout", "retry", ["ab", "c"], {"k": "v"})
