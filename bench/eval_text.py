"""Text recurrence and KEDB matching scored on system logs with known message templates.

One command:  .venv/bin/python bench/eval_text.py [--logs DIR] [--cli] [--write]

Each ``*_structured.csv`` under ``--logs`` (Loghub's format: LineId, time
columns, Level, Component, Content, EventId, EventTemplate) is read as
incidents: title = Content, service = Component, severity = Level, opened_at =
the line's own time. ``EventId`` and ``EventTemplate`` are the answers: only
this script reads them, to score.

Scored per system, side by side in one run:
- exact ``Content`` match;
- the masking baseline: digits, hex, IP addresses and paths masked, then exact
  match;
- Drain3 with its default settings (``pip install --no-deps drain3 jsonpickle``:
  its pinned cachetools would break Prefect's);
- the scan (``--cli``: ``problemflow db upgrade``, ``problemflow import
  incidents`` then ``problemflow scan --full --out``, as a user runs them; otherwise the scan's grouping
  called in-process on the same rows);
- KEDB: a known error per template from its first line (``problemflow kedb
  import``), every later line searched: top-1 right, and precision / recall of
  ``attach``; and ``attach`` on lines of *other* systems, which no known error
  explains (false attachments).

Grouping accuracy is the share of lines whose group holds exactly the lines of
their template; pairwise precision / recall run over all pairs of lines.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LOGS = REPO / "../shared/data/loghub-dev"
PROBLEMFLOW = Path(sys.executable).with_name("problemflow")

# How each known system writes its time: the evaluation's knowledge of its input, as a user would pass
# it to ``import incidents --map opened_at=... --time-format ...``. Unknown systems get line order.
TIME_COLUMNS = {
    "HDFS": (("Date", "Time"), "%y%m%d %H%M%S"),
    "Zookeeper": (("Date", "Time"), "%Y-%m-%d %H:%M:%S,%f"),
    "Linux": (("Month", "Date", "Time"), "%b %d %H:%M:%S"),
    "OpenStack": (("Date", "Time"), "%Y-%m-%d %H:%M:%S.%f"),
}

SEVERITIES = {"critical", "fatal", "emergency", "alert", "error", "err", "warn", "warning", "notice", "info",
              "informational", "debug", "trace"}

_BASELINE = [
    re.compile(r"(?:[a-zA-Z]:)?(?:/[\w.-]+)+/?"),  # paths
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"),  # IP addresses
    re.compile(r"\b0x[0-9a-fA-F]+\b|-?\b[0-9a-fA-F]{8,}\b"),  # hex
    re.compile(r"-?\d+"),  # numbers, with their sign
]


def masked(text: str) -> str:
    for pattern in _BASELINE:
        text = pattern.sub("<*>", text)
    return text


def read_system(path: Path) -> tuple[str, list[dict]]:
    name = path.name.split("_")[0]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns, fmt = TIME_COLUMNS.get(name, ((), ""))
    base = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    for index, row in enumerate(rows):
        when = None
        if columns and all(c in row for c in columns):
            try:
                parsed = datetime.strptime(" ".join(row[c] for c in columns), fmt)
                if parsed.year == 1900:
                    parsed = parsed.replace(year=2025)
                when = parsed.replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                when = None
        row["_time"] = when if when is not None else base + index
    return name, rows


def scores(predicted: list, truth: list) -> dict[str, float]:
    """Grouping accuracy and pairwise precision / recall / F1."""
    by_group, by_truth = defaultdict(set), defaultdict(set)
    for p, t in zip(predicted, truth):
        by_group[p].add(t)
        by_truth[t].add(p)
    exact = sum(1 for p, t in zip(predicted, truth) if len(by_group[p]) == 1 and len(by_truth[t]) == 1)
    both = sum(c * (c - 1) // 2 for c in Counter(zip(predicted, truth)).values())
    pred = sum(c * (c - 1) // 2 for c in Counter(predicted).values())
    true = sum(c * (c - 1) // 2 for c in Counter(truth).values())
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"ga": exact / len(truth), "p": precision, "r": recall, "f1": f1}


def drain3_groups(rows: list[dict]) -> list | None:
    try:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    import logging

    logging.getLogger("drain3").setLevel(logging.WARNING)
    miner = TemplateMiner(config=TemplateMinerConfig())
    ids = [miner.add_log_message(r["Content"])["cluster_id"] for r in rows]
    # Drain's clusters keep growing while it reads: score each line by the cluster it ended in
    return [miner.match(r["Content"]).cluster_id if miner.match(r["Content"]) else i for r, i in zip(rows, ids)]


def scan_in_process(rows: list[dict]) -> list:
    """The scan's grouping on the rows; ungrouped lines are singletons."""
    from problemflow.tasks.recurrence.config import ScanConfig
    from problemflow.tasks.recurrence.core import group
    from problemflow.tasks.recurrence.features import build_frame

    config = ScanConfig()
    n = len(rows)
    frame = build_frame(
        ids=list(range(1, n + 1)), times=[r["_time"] for r in rows],
        columns={"service": [r.get("Component") or None for r in rows]},
        texts=[r["Content"] for r in rows], labels=None, label_keys=[],
    )
    grouping = group(frame, config)
    return [int(g) if g >= 0 else -1 - i for i, g in enumerate(grouping.label)]


def scan_cli(rows: list[dict], name: str, work: Path) -> list:
    """``problemflow import incidents`` then ``problemflow scan --full --out``, in a fresh home."""
    home = work / name
    home.mkdir()
    source = home / "lines.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "message", "component", "level", "time"])
        for index, row in enumerate(rows):
            stamp = datetime.fromtimestamp(row["_time"], tz=timezone.utc).isoformat()
            writer.writerow([f"{name}-{index}", row["Content"], row.get("Component", ""), row.get("Level", ""), stamp])
    env = dict(os.environ, PROBLEMFLOW_HOME=str(home), PROBLEMFLOW_DATABASE_URL=f"sqlite:///{home}/pf.db")
    env.pop("PREFECT_API_URL", None)
    run = [str(PROBLEMFLOW)]
    mapping = ["--map", "title=message", "--map", "external_ref=line", "--map", "service=component",
               "--map", "opened_at=time"]
    # severity = level where the column holds levels (one system's "Level" column holds a host name)
    if {r.get("Level", "").lower() for r in rows} <= SEVERITIES:
        mapping += ["--map", "severity=level"]
    subprocess.run(run + ["db", "upgrade"], env=env, check=True, capture_output=True)
    done = subprocess.run(run + ["import", "incidents", str(source), *mapping, "--quiet"], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"import of {name} failed: {done.stderr.strip()}")
    out = home / "groups.csv"
    done = subprocess.run(run + ["scan", "--full", "--out", str(out)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"scan of {name} failed: {done.stderr.strip()}")
    group_of = {}
    with out.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            group_of[record["external_ref"]] = record["group"]
    return [group_of.get(f"{name}-{i}", f"alone-{i}") for i in range(len(rows))]


SEEDS = REPO / "../shared/seeds"


def tickets_eval(path: Path, truth_columns: list[str]) -> list[str]:
    """Help-desk tickets (CSV: title, body, service, opened_at, and the truth columns): how many tickets
    the scan groups against exact-title matching, and the pairwise precision of both against the
    tickets' own classification (the truth columns, read only here)."""
    from problemflow.models.text import template_of
    from problemflow.tasks.recurrence.config import ScanConfig
    from problemflow.tasks.recurrence.core import group
    from problemflow.tasks.recurrence.features import build_frame

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    base = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    times = []
    for index, row in enumerate(rows):
        try:
            times.append(datetime.fromisoformat(row.get("opened_at", "")).timestamp())
        except ValueError:
            times.append(base + index * 60)
    frame = build_frame(
        ids=list(range(1, len(rows) + 1)), times=times,
        columns={"service": [r.get("service") or None for r in rows]},
        texts=[f"{r['title']} {r['title']} {r['body']}" if r.get("body") else r["title"] for r in rows],
        labels=None, label_keys=[],  # as the scan reads them (tasks/recurrence/store.py)
        described=[bool(r.get("body")) for r in rows],
        templates=[template_of(r["title"]) for r in rows],  # as stored: from the title
    )
    label = group(frame, ScanConfig()).label
    truth = ["|".join(r.get(c, "") for c in truth_columns) for r in rows]
    predicted = [int(g) if g >= 0 else f"alone-{i}" for i, g in enumerate(label)]
    titles = Counter(r["title"] for r in rows)
    exact = [r["title"] if titles[r["title"]] > 1 else f"alone-{i}" for i, r in enumerate(rows)]

    def precision(groups: list) -> float:
        both = sum(c * (c - 1) // 2 for c in Counter(zip(groups, truth)).values())
        pairs = sum(c * (c - 1) // 2 for c in Counter(groups).values())
        return both / pairs if pairs else 1.0

    grouped = sum(1 for g in predicted if not str(g).startswith("alone-"))
    exact_grouped = sum(1 for g in exact if not str(g).startswith("alone-"))
    return [
        "| tickets | method | grouped | pairwise precision vs " + "/".join(truth_columns) + " |",
        "|---|---|---|---|",
        f"| {len(rows)} | exact title | {exact_grouped} | {precision(exact):.3f} |",
        f"| {len(rows)} | scan | {grouped} | {precision(predicted):.3f} |",
    ]


def prose_queries(limit: int = 200) -> list[str]:
    """Paragraphs of prose about IT operations that no log line's known error explains (the articles
    the product was conceived from): what a postmortem or a ticket body reads like."""
    found = []
    for path in sorted(SEEDS.glob("*.txt")):
        for paragraph in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            paragraph = " ".join(paragraph.split())
            if len(paragraph) >= 80:
                found.append(paragraph[:2000])
    return found[:limit]


def kedb_eval(rows: list[dict], foreign: list[str], work: Path, name: str) -> dict:
    """One known error per template from its first line; every later line searched; foreign texts too."""
    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.kedb import KnownErrorCreate, Signature
    from problemflow.models.settings import get_settings
    from problemflow.tasks.kedb.match import search
    from problemflow.tasks.kedb.publish import publish_new

    url = f"sqlite:///{work / f'kedb-{name}.db'}"
    upgrade(url)
    threshold = get_settings().kedb_attach_score
    first: dict[str, int] = {}
    truth_of: dict[int, str] = {}
    with session_scope(url) as db:
        for index, row in enumerate(rows):
            if row["EventId"] in first:
                continue
            first[row["EventId"]] = index
            service = row.get("Component") or None
            known = publish_new(db_session=db, known_error_in=KnownErrorCreate(
                title=row["Content"][:500], symptoms=row["Content"][:20_000],
                signature=Signature(services=[service] if service else [])))
            truth_of[known.id] = row["EventId"]
    right = attached = attached_right = searched = 0
    timings = []
    scored: list[tuple[float, bool]] = []  # (top score, right): how a score maps to a likelihood
    with session_scope(url) as db:
        for index, row in enumerate(rows):
            if first[row["EventId"]] == index:
                continue
            started = time.perf_counter()
            matches = search(db_session=db, text=row["Content"], service=row.get("Component") or None, top=1)
            timings.append(time.perf_counter() - started)
            searched += 1
            if not matches:
                continue
            ok = truth_of[matches[0].known_error_id] == row["EventId"]
            right += ok
            scored.append((matches[0].score, ok))
            if matches[0].score >= threshold:
                attached += 1
                attached_right += ok
        false_attach = 0
        for text in foreign:
            found = search(db_session=db, text=text, top=1)
            if found:
                scored.append((found[0].score, False))  # nothing here explains a foreign text
                false_attach += found[0].score >= threshold
    timings.sort()
    return {"known_errors": len(first), "searched": searched, "top1": right / searched if searched else 1.0,
            "attach_p": attached_right / attached if attached else 1.0,
            "attach_r": attached_right / searched if searched else 1.0,
            "foreign": len(foreign), "foreign_attach": false_attach / len(foreign) if foreign else 0.0,
            "p99_ms": 1000 * timings[int(0.99 * (len(timings) - 1))] if timings else 0.0, "scored": scored}


BINS = [(0.9, 1.01), (0.8, 0.9), (0.6, 0.8), (0.4, 0.6), (0.2, 0.4), (0.0, 0.2)]


def reliability(scored: list[tuple[float, bool]]) -> list[str]:
    """Share of top matches that were right, by score: what a score means."""
    lines = ["| top score | matches | right |", "|---|---|---|"]
    for low, high in BINS:
        inside = [ok for score, ok in scored if low <= score < high]
        share = f"{sum(inside) / len(inside):.3f}" if inside else "-"
        lines.append(f"| {low:.1f} to {min(high, 1.0):.1f} | {len(inside)} | {share} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=Path, default=LOGS, help="directory of *_structured.csv files")
    parser.add_argument("--cli", action="store_true", help="score the scan through the public CLI")
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--tickets", type=Path, help="help-desk tickets CSV (title, body, service, opened_at, ...)")
    parser.add_argument("--truth", default="category,subcategory,type",
                        help="the tickets' columns that say what each is about (scoring only)")
    args = parser.parse_args()
    files = sorted(args.logs.glob("*_structured.csv"))
    if not files:
        sys.exit(f"no *_structured.csv under {args.logs}")
    table = []
    kedb_rows = []
    totals: dict[str, list[dict]] = defaultdict(list)
    systems = [read_system(path) for path in files]
    prose = prose_queries()
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in systems:
            # lines of the other systems, and prose: nothing in this system's KEDB explains them
            foreign = [r["Content"] for other, lines in systems if other != name for r in lines[::20]] + prose
            kedb_rows.append((name, kedb_eval(rows, foreign, Path(tmp), name)))
            truth = [r["EventId"] for r in rows]
            results = {
                "exact text": scores([r["Content"] for r in rows], truth),
                "masking baseline": scores([masked(r["Content"]) for r in rows], truth),
            }
            drained = drain3_groups(rows)
            if drained is not None:
                results["Drain3 defaults"] = scores(drained, truth)
            started = time.perf_counter()
            predicted = scan_cli(rows, name, Path(tmp)) if args.cli else scan_in_process(rows)
            results["scan"] = scores(predicted, truth)
            results["scan"]["seconds"] = time.perf_counter() - started
            for method, value in results.items():
                totals[method].append(value)
                table.append((name, method, value))
    lines = ["| system | method | GA | P | R | F1 |", "|---|---|---|---|---|---|"]
    for name, method, v in table:
        lines.append(f"| {name} | {method} | {v['ga']:.3f} | {v['p']:.3f} | {v['r']:.3f} | {v['f1']:.3f} |")
    for method, values in totals.items():
        mean = {k: sum(v[k] for v in values) / len(values) for k in ("ga", "p", "r", "f1")}
        lines.append(f"| **mean** | {method} | **{mean['ga']:.3f}** | **{mean['p']:.3f}** | {mean['r']:.3f} | "
                     f"{mean['f1']:.3f} |")
    lines += ["", "| system | known errors | searched | top-1 right | attach precision | attach recall | "
              "foreign queries | foreign attached | search p99 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, k in kedb_rows:
        lines.append(f"| {name} | {k['known_errors']} | {k['searched']} | {k['top1']:.3f} | {k['attach_p']:.3f} | "
                     f"{k['attach_r']:.3f} | {k['foreign']} | {k['foreign_attach']:.3f} | {k['p99_ms']:.1f} ms |")
    if kedb_rows:
        mean = {key: sum(k[key] for _, k in kedb_rows) / len(kedb_rows)
                for key in ("top1", "attach_p", "attach_r", "foreign_attach")}
        lines.append(f"| **mean** | | | **{mean['top1']:.3f}** | **{mean['attach_p']:.3f}** | "
                     f"**{mean['attach_r']:.3f}** | | **{mean['foreign_attach']:.3f}** | |")
        lines += [""] + reliability([pair for _, k in kedb_rows for pair in k["scored"]])
    if args.tickets:
        lines += [""] + tickets_eval(args.tickets, args.truth.split(","))
    print("\n".join(lines))
    if args.write:
        with (REPO / "bench/RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + "\n".join(lines) + "\n")
    print(json.dumps({m: len(v) for m, v in totals.items()}))


if __name__ == "__main__":
    main()
