"""Generic incident import: mapping, times, severities, references, bad rows, one transaction."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from problemflow.models.audit import AuditEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from problemflow.models.text import template_of
from problemflow.tasks.imports.incidents import ImportOptions, import_incidents
from problemflow.tasks.imports.mapping import MappingError, parse_maps
from problemflow.tasks.imports.reading import MAX_RECORD_CHARS, UnreadableFile
from problemflow.tasks.imports.summary import BadRows
from problemflow.tasks.imports.values import zone

UTC = timezone.utc


def run(url: str, path: Path, *maps: str, **options):
    with session_scope(url) as db_session:
        return import_incidents(db_session=db_session, path=path,
                                options=ImportOptions(maps=parse_maps(list(maps)), **options))


def stored(url: str) -> list[Incident]:
    with session_scope(url) as db_session:
        return list(db_session.scalars(select(Incident).order_by(Incident.id)))


def count(url: str, model=Incident) -> int:
    with session_scope(url) as db_session:
        return db_session.scalar(select(func.count()).select_from(model))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_joined_columns_time_format_zone_and_labels(clean_db, tmp_path):
    path = write(tmp_path, "syslog.csv",
                 "Day,Clock,Msg,Level,Host,Team,Svc\n"
                 "261127,140500,Disk on db-01 is 97% full,crit,db-01,dba,billing\n"
                 "261127,140600,Replication lag 40 s on db-02,warning,db-02,,billing\n")
    summary = run(clean_db, path, "title=Msg", "opened_at=Day+Clock", "severity=Level", "labels.host=Host",
                  "labels.team=Team", "service=Svc", time_format="%y%m%d %H%M%S", zone=zone("Europe/Berlin"))
    assert (summary.rows, summary.imported, summary.already_present, summary.bad) == (2, 2, 0, 0)
    first, second = stored(clean_db)
    # 14:05 in Berlin (UTC+1 in November) is 13:05 UTC
    assert first.opened_at == datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
    assert (first.title, first.service, first.labels) == ("Disk on db-01 is 97% full", "billing",
                                                         {"host": "db-01", "team": "dba"})
    assert second.labels == {"host": "db-02"}  # an empty cell sets no label
    assert (first.impact, first.urgency, first.priority) == ("high", "high", "1-critical")
    assert (second.impact, second.urgency, second.priority) == ("medium", "medium", "3-moderate")
    assert first.template == template_of(first.title) and first.template
    assert (first.source, first.state) == ("import", "closed")
    assert first.resolved_at == first.closed_at == first.opened_at  # no resolution time in the file
    assert count(clean_db, AuditEvent) == 2  # one creation event per incident


@pytest.mark.parametrize(("word", "priority"), [
    ("CRITICAL", "1-critical"), ("fatal", "1-critical"), ("Sev 1", "1-critical"), ("P1", "1-critical"),
    ("emergency", "1-critical"), ("alert", "1-critical"), ("1", "1-critical"),
    ("error", "2-high"), ("ERR", "2-high"), ("major", "2-high"), ("SEV-2", "2-high"), ("2", "2-high"),
    ("Warning", "3-moderate"), ("warn", "3-moderate"), ("minor", "3-moderate"), ("p3", "3-moderate"),
    ("info", "4-low"), ("notice", "4-low"), ("debug", "4-low"), ("trace", "4-low"), ("sev4", "4-low"),
])
def test_severity_vocabularies(clean_db, tmp_path, word, priority):
    path = write(tmp_path, "a.csv", f"title,opened_at,severity\nsomething broke,2026-11-27T10:00:00Z,{word}\n")
    run(clean_db, path)
    assert stored(clean_db)[0].priority == priority


def test_impact_and_urgency_columns_win_over_severity(clean_db, tmp_path):
    path = write(tmp_path, "a.csv", "title,opened_at,severity,impact,urgency\n"
                                    "x,2026-11-27T10:00:00Z,critical,low,\n"
                                    "y,2026-11-27T10:00:00Z,info,,1 - High\n")
    run(clean_db, path)
    x, y = stored(clean_db)
    assert (x.impact, x.urgency, x.priority) == ("low", "high", "3-moderate")
    assert (y.impact, y.urgency, y.priority) == ("low", "high", "3-moderate")


def test_unknown_severity_is_a_bad_row_naming_the_value_and_the_accepted_ones(clean_db, tmp_path):
    path = write(tmp_path, "a.csv", "title,opened_at,severity\nok,2026-11-27T10:00:00Z,info\n"
                                    "bad,2026-11-27T10:00:00Z,purple\n")
    with pytest.raises(BadRows) as refused:
        run(clean_db, path)
    (line, reason), = refused.value.summary.bad_rows
    assert line == 3 and "'purple'" in reason and "critical" in reason and "sev4" in reason
    assert count(clean_db) == 0


def test_importing_twice_adds_nothing_and_identical_rows_stay_two(clean_db, tmp_path):
    row = "Connection reset by peer,2026-11-27T10:00:00+01:00\n"
    path = write(tmp_path, "a.csv", "title,opened_at\n" + row + row + "Other,2026-11-27T10:01:00Z\n")
    assert run(clean_db, path).imported == 3
    refs = [i.external_ref for i in stored(clean_db)]
    assert len(set(refs)) == 3 and all(r.startswith("import:") and len(r) <= 120 for r in refs)
    again = run(clean_db, path)
    assert (again.imported, again.already_present) == (0, 3)
    # a later export: its columns the other way round, and the line three times now: one is new
    path.write_text("opened_at,title\n" + "2026-11-27T10:00:00+01:00,Connection reset by peer\n" * 3)
    third = run(clean_db, path)
    assert (third.imported, third.already_present) == (1, 2)
    assert count(clean_db) == 4


def test_external_ref_column_is_the_key(clean_db, tmp_path):
    path = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in [
        {"id": "A-1", "msg": "Queue full", "ts": "2026-11-27T10:00:00Z"},
        {"id": "A-1", "msg": "Queue full again", "ts": "2026-11-27T10:05:00Z"},
        {"id": "A-2", "msg": "Queue empty", "ts": "2026-11-27T10:06:00Z"},
    ]) + "\n")
    summary = run(clean_db, path, "external_ref=id", "title=msg", "opened_at=ts")
    assert (summary.imported, summary.already_present) == (2, 1)
    assert [i.external_ref for i in stored(clean_db)] == ["A-1", "A-2"]
    assert run(clean_db, path, "external_ref=id", "title=msg", "opened_at=ts").imported == 0


def test_jsonl_nested_keys_numbers_and_labels_object(clean_db, tmp_path):
    path = write(tmp_path, "events.ndjson.gz", json.dumps({
        "message": "GC pause 1200 ms", "time": 1_764_237_600, "resource": {"service": "search"},
        "labels": {"pod": "search-7", "shard": 3}, "code": 500,
    }) + "\n")
    run(clean_db, path, "title=message", "opened_at=time", "service=resource.service", "labels.code=code",
        time_format="epoch")
    (incident,) = stored(clean_db)
    assert incident.service == "search"
    assert incident.labels == {"pod": "search-7", "shard": "3", "code": "500"}
    assert incident.opened_at == datetime.fromtimestamp(1_764_237_600, UTC)


def test_bad_rows_are_listed_by_line_and_nothing_is_imported(clean_db, tmp_path):
    path = write(tmp_path, "a.csv",
                 'title,opened_at,service\n'
                 'fine,2026-11-27T10:00:00Z,a\n'
                 ',2026-11-27T10:00:00Z,a\n'                       # line 3: no title
                 '"two\nlines",2026-11-27T10:00:00Z,a\n'             # lines 4-5: one record
                 'late,yesterday,a\n'                                # line 6: not a time
                 'short,2026-11-27T10:00:00Z\n'                      # line 7: a field missing
                 f'{"x" * 501},2026-11-27T10:00:00Z,a\n')            # line 8: a long message, kept cut
    with pytest.raises(BadRows) as refused:
        run(clean_db, path)
    summary = refused.value.summary
    assert [line for line, _ in summary.bad_rows] == [3, 6, 7]
    reasons = dict(summary.bad_rows)
    assert reasons[3] == "title: empty"
    assert "'yesterday'" in reasons[6] and "ISO 8601" in reasons[6]
    assert "2 fields" in reasons[7]
    assert (summary.new, summary.imported, summary.committed) == (3, 0, False)
    assert count(clean_db) == 0 and count(clean_db, AuditEvent) == 0

    kept = run(clean_db, path, skip_bad=True)
    assert (kept.imported, kept.bad, kept.committed, kept.titles_shortened) == (3, 3, True, 1)
    titles = [i.title for i in stored(clean_db)]
    assert titles[:2] == ["fine", "two\nlines"]
    assert len(titles[2]) == 500 and titles[2].endswith("\u2026") and titles[2].startswith("x" * 499)


def test_over_long_records_are_bad_rows_and_reading_goes_on(clean_db, tmp_path):
    long_line = "y" * (MAX_RECORD_CHARS + 5)
    path = write(tmp_path, "a.csv.gz", f"title,opened_at\n{long_line},2026-11-27T10:00:00Z\n"
                                       f'"{long_line[:MAX_RECORD_CHARS // 2]}\n{long_line[:MAX_RECORD_CHARS // 2]}'
                                       '\nz",2026-11-27T10:00:00Z\n'
                                       "after,2026-11-27T10:00:00Z\n")
    summary = run(clean_db, path, skip_bad=True)
    assert [line for line, _ in summary.bad_rows] == [2, 3]
    assert all("longer than 1,048,576 characters" in reason for _, reason in summary.bad_rows)
    assert [i.title for i in stored(clean_db)] == ["after"]

    jsonl = write(tmp_path, "b.jsonl", json.dumps({"title": long_line, "opened_at": "2026-11-27T10:00:00Z"})
                  + "\n" + json.dumps({"title": "next", "opened_at": "2026-11-27T10:00:00Z"}) + "\n")
    with pytest.raises(BadRows) as refused:
        run(clean_db, jsonl)
    assert refused.value.summary.bad_rows == [(1, "record longer than 1,048,576 characters")]


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_gzip_is_unreadable_and_imports_nothing(clean_db, tmp_path, damage):
    whole = gzip.compress(("title,opened_at\n" + "Disk full,2026-11-27T10:00:00Z\n" * 20_000).encode())
    data = whole[:len(whole) // 2] if damage == "truncated" else whole[:10] + b"\x00garbage" + whole[18:]
    path = tmp_path / "a.csv.gz"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match="nothing was imported"):
        run(clean_db, path)
    assert count(clean_db) == 0


def test_opened_at_is_required_unless_now(clean_db, tmp_path):
    path = write(tmp_path, "a.csv", "title\nPrinter on fire\n")
    with pytest.raises(MappingError, match="--now"):
        run(clean_db, path)
    before = datetime.now(UTC)
    run(clean_db, path, stamp_now=True)
    (incident,) = stored(clean_db)
    assert incident.opened_at >= before.replace(microsecond=0)


def test_resolved_state_and_resolution_times(clean_db, tmp_path):
    path = write(tmp_path, "a.csv", "title,opened_at,resolved_at\n"
                                    "x,2026-11-27T10:00:00Z,2026-11-27T12:30:00Z\n")
    from problemflow.models.enums import IncidentState

    run(clean_db, path, state=IncidentState.resolved)
    (incident,) = stored(clean_db)
    assert incident.state == "resolved" and incident.closed_at is None
    assert incident.resolved_at == datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


def test_map_names_a_missing_column(clean_db, tmp_path):
    path = write(tmp_path, "a.csv", "Message,Date\nx,2026-11-27\n")
    with pytest.raises(MappingError, match="'Time'"):
        run(clean_db, path, "title=Message", "opened_at=Date+Time")
    with pytest.raises(MappingError, match="is not a field"):
        parse_maps(["colour=Message"])


def test_nul_is_dropped_from_every_stored_text(clean_db, tmp_path):
    path = write(tmp_path, "a.jsonl", json.dumps({
        "title": "Disk\x00 full", "opened_at": "2026-11-27T10:00:00Z", "service": "bil\x00ling",
        "labels": {"te\x00am": "d\x00ba", "empty": ""},
    }) + "\n")
    run(clean_db, path)
    (incident,) = stored(clean_db)
    assert (incident.title, incident.service, incident.labels) == ("Disk full", "billing", {"team": "dba"})
