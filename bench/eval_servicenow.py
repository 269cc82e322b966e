"""Evaluate the recurrence scan on the real ServiceNow event log.

One command:  .venv/bin/python bench/eval_servicenow.py [--grid]

Imports the log into a fresh SQLite database under a temporary directory,
runs a full scan on all incidents, and scores the grouping against the
``problem_id`` column read straight from the CSV (the import never stores it):
pairwise precision, recall and F1 over pairs of incidents that carry a
``problem_id``, the grouping itself computed on all incidents. The baseline
(exact category + subcategory + symptom) is scored in the same run. ``--grid``
also scores a few other burst settings, to show how sensitive the figures are.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("PROBLEMFLOW_SERVICENOW_LOG", REPO / "../shared/data/incident_event_log.csv.gz"))


def answers(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``problem_id`` per incident (the evaluation's ground truth) and each incident's last row."""
    truth: dict[str, str] = {}
    last: dict[str, dict[str, str]] = {}
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            last[row["number"]] = row
            if row["problem_id"] != "?":
                truth[row["number"]] = row["problem_id"]
    return truth, last


def pairwise(truth: dict[str, str], label: dict[str, object]) -> tuple[float, float, float, int, int]:
    """Precision, recall, F1 over pairs of incidents with a problem_id; also true and false positives."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same = truth[a] == truth[b]
        grouped = label.get(a) is not None and label.get(a) == label.get(b)
        tp += grouped and same
        fp += grouped and not same
        fn += same and not grouped
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp, fp


def signal_analysis(truth: dict[str, str], last: dict[str, dict[str, str]]) -> list[str]:
    """What pairs of incidents under one problem share, next to pairs under different problems."""
    def when(row):
        return datetime.strptime(row["opened_at"], "%d/%m/%Y %H:%M").timestamp()

    numbers = sorted(truth)
    same = [(a, b) for a, b in itertools.combinations(numbers, 2) if truth[a] == truth[b]]
    other = [(a, b) for a, b in itertools.combinations(numbers, 2) if truth[a] != truth[b]]
    lines = [f"pairs under one problem: {len(same)}; under different problems: {len(other)}"]
    columns = ["category", "subcategory", "u_symptom", "assignment_group", "location", "opened_by",
               "caller_id", "assigned_to", "cmdb_ci"]
    for column in columns:
        def share(pairs):
            hits = sum(1 for a, b in pairs if last[a][column] == last[b][column] != "?")
            return hits / len(pairs)
        lines.append(f"  same {column:<17} {share(same):6.1%} vs {share(other):6.1%}")
    for hours in (0.5, 1, 24, 24 * 7):
        def close(pairs):
            return sum(1 for a, b in pairs if abs(when(last[a]) - when(last[b])) <= hours * 3600) / len(pairs)
        lines.append(f"  opened within {hours:>5g} h    {close(same):6.1%} vs {close(other):6.1%}")
    gaps = [abs(when(last[a]) - when(last[b])) / 3600 for a, b in same]
    lines.append(f"  median gap under one problem: {statistics.median(gaps):.1f} h")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="also score other burst settings")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"the ServiceNow event log is not at {DATA}; set PROBLEMFLOW_SERVICENOW_LOG", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="problemflow-eval-"))
    url = f"sqlite:///{home / 'eval.db'}"
    os.environ["PROBLEMFLOW_HOME"] = str(home)
    os.environ["PROBLEMFLOW_DATABASE_URL"] = url
    os.environ.pop("PREFECT_API_URL", None)

    from sqlalchemy import select

    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.incident import Incident
    from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember
    from problemflow.tasks.recurrence import ScanConfig, run_scan
    from problemflow.tasks.recurrence.core import group
    from problemflow.tasks.recurrence.store import load_frame
    from problemflow.tasks.servicenow import import_export

    upgrade(url)
    started = time.perf_counter()
    with session_scope(url) as db:
        summary = import_export(db_session=db, path=DATA)
    import_seconds = time.perf_counter() - started
    print(f"import: {summary.events_read} events -> {summary.created} incidents, "
          f"{len(summary.skipped)} rows skipped, {import_seconds:.1f} s")

    config = ScanConfig.from_settings()
    started = time.perf_counter()
    with session_scope(url) as db:
        result = run_scan(db_session=db, mode="full", config=config)
    scan_seconds = time.perf_counter() - started
    print(f"full scan: {result.incidents_considered} incidents, {result.candidate_pairs} candidate pairs, "
          f"{result.links} grouped incidents in {result.groups_touched} groups, "
          f"{len(result.problems_opened)} problems opened, {scan_seconds:.1f} s (with problems and links)")

    truth, last = answers(DATA)
    with session_scope(url) as db:
        rows = db.execute(
            select(Incident.external_ref, RecurrenceGroup.key)
            .join(RecurrenceMember, RecurrenceMember.incident_id == Incident.id)
            .join(RecurrenceGroup, RecurrenceGroup.id == RecurrenceMember.group_id)
        ).all()
    scan_label = dict(rows)
    baseline_label = {n: (r["category"], r["subcategory"], r["u_symptom"]) for n, r in last.items()}
    sizes = sorted(Counter(scan_label.values()).values(), reverse=True)
    print(f"ground truth: {len(truth)} incidents with a problem_id under {len(set(truth.values()))} problems")
    print(f"group sizes: {len(sizes)} groups, largest {sizes[:5]}, median {statistics.median(sizes) if sizes else 0}")
    print()
    print(f"{'grouping':<44} {'P':>6} {'R':>6} {'F1':>6} {'TP':>6} {'FP':>6}")
    scores = {}
    for name, label in (("baseline: exact category+subcategory+symptom", baseline_label),
                        ("recurrence scan (defaults)", scan_label)):
        scores[name] = pairwise(truth, label)
        p, r, f, tp, fp = scores[name]
        print(f"{name:<44} {p:6.3f} {r:6.3f} {f:6.3f} {tp:6d} {fp:6d}")
    base_f1 = scores["baseline: exact category+subcategory+symptom"][2]
    print(f"F1 ratio scan / baseline: {scores['recurrence scan (defaults)'][2] / base_f1:.1f}x")

    if args.grid:
        print()
        with session_scope(url) as db:
            refs = dict(db.execute(select(Incident.id, Incident.external_ref)).all())
            frame = load_frame(db, config)
        for minutes, min_score in itertools.product((30, 60), (0.2, 0.3, 0.4)):
            variant = config.model_copy(update={"burst_minutes": minutes, "burst_min_score": min_score})
            grouping = group(frame, variant)
            label = {refs[int(i)]: int(g) for i, g in zip(frame.ids, grouping.label) if g >= 0}
            p, r, f, tp, fp = pairwise(truth, label)
            biggest = max(Counter(label.values()).values())
            print(f"burst {minutes:>3} min, min score {min_score:.1f}: P {p:.3f} R {r:.3f} F1 {f:.3f} "
                  f"(largest group {biggest})")
    print()
    print("what incidents under one problem share (vs pairs under different problems):")
    for line in signal_analysis(truth, last):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
