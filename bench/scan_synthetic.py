"""Recurrence scan benchmarks: full and incremental scans on synthetic incidents, the
database round trip, and the ServiceNow import, each next to its simplest baseline.

One command:  .venv/bin/python bench/scan_synthetic.py [--sizes 10000,100000,1000000]

Each measurement runs in its own process, so its peak memory (max RSS) is its
own. "core" rows feed the scan's core (encoding + grouping) straight from the
generator; "db" rows go through ``run_scan`` on a SQLite database (one SELECT,
grouping, writing groups and members).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("PROBLEMFLOW_SERVICENOW_LOG", REPO / "../shared/data/incident_event_log.csv.gz"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_templates(data):
    """Each incident's message template, as the database stores it (computed when an incident is written,
    so outside the scan's time)."""
    from problemflow.models.text import template_of

    cache: dict = {}
    data.templates = [cache[t] if t in cache else cache.setdefault(t, template_of(t)) for t in data.texts]
    return data


def frame_of(data, config, positions=None):
    from problemflow.tasks.recurrence.features import build_frame

    if positions is None:
        return build_frame(ids=data.ids, times=data.times, columns=data.columns, texts=data.texts,
                           labels=data.labels, label_keys=[k for k, w in config.label_weights.items() if w > 0],
                           templates=data.templates)
    pick = positions.tolist()
    return build_frame(
        ids=data.ids[positions], times=data.times[positions],
        columns={k: [v[i] for i in pick] for k, v in data.columns.items()},
        texts=[data.texts[i] for i in pick], labels=[data.labels[i] for i in pick],
        label_keys=[k for k, w in config.label_weights.items() if w > 0],
        templates=[data.templates[i] for i in pick],
    )


def exact_key(data) -> "np.ndarray":
    """Baseline: one group per exact (category, subcategory, symptom)."""
    from problemflow.tasks.recurrence.features import Encoder

    keys = [f"{c}|{s}|{y}" for c, s, y in zip(data.columns["category"], data.columns["subcategory"], data.columns["symptom"])]
    return Encoder().encode(keys)


def core(size: int) -> dict:
    import numpy as np

    from bench.synthetic import generate, pair_scores
    from problemflow.tasks.recurrence.config import ScanConfig
    from problemflow.tasks.recurrence.core import group

    data = with_templates(generate(size))
    before = peak_mb()
    config = ScanConfig()
    started = time.perf_counter()
    grouping = group(frame_of(data, config), config)
    seconds = time.perf_counter() - started
    peak = peak_mb()
    started = time.perf_counter()
    baseline = exact_key(data)
    baseline_seconds = time.perf_counter() - started
    counts = np.bincount(grouping.label[grouping.label >= 0]) if (grouping.label >= 0).any() else np.zeros(1)
    p, r, f = pair_scores(data.cause, grouping.label)
    bp, br, bf = pair_scores(data.cause, baseline)
    return {"size": size, "seconds": round(seconds, 2), "peak_mb": round(peak), "generator_mb": round(before),
            "candidates": int(grouping.candidates), "links": int(len(grouping.links.a)),
            "largest_group": int(counts.max()), "p": round(p, 3), "r": round(r, 3), "f1": round(f, 3),
            "baseline_seconds": round(baseline_seconds, 2), "baseline_p": round(bp, 3), "baseline_r": round(br, 3),
            "baseline_f1": round(bf, 3)}


def incremental(size: int, new: int) -> dict:
    """``new`` incidents (the latest) against ``size`` older ones: the frame an incremental scan loads."""
    import numpy as np

    from bench.synthetic import generate
    from problemflow.tasks.recurrence.config import ScanConfig
    from problemflow.tasks.recurrence.core import group

    data = with_templates(generate(size + new))
    config = ScanConfig()
    started = time.perf_counter()
    reach = max(config.window_seconds, config.burst_seconds)
    first, last = data.times[size], data.times[-1]
    positions = np.flatnonzero((data.times >= first - reach) & (data.times <= last + reach))
    grouping = group(frame_of(data, config, positions), config)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    full_baseline = exact_key(data)
    baseline_seconds = time.perf_counter() - started
    return {"size": size, "new": new, "considered": int(len(positions)), "seconds": round(seconds, 2),
            "peak_mb": round(peak_mb()), "links": int(len(grouping.links.a)),
            "baseline_full_exact_key_seconds": round(baseline_seconds, 2), "baseline_groups": int(full_baseline.max() + 1)}


def brute(sample: int) -> dict:
    """Baseline: every pair of a sample scored (signals and text cosine), against the scan on the same sample."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bench.synthetic import generate
    from problemflow.tasks.recurrence.config import ScanConfig
    from problemflow.tasks.recurrence.core import group

    data = with_templates(generate(sample))
    config = ScanConfig()
    frame = frame_of(data, config)
    started = time.perf_counter()
    matrix = TfidfVectorizer(sublinear_tf=True).fit_transform(data.texts)
    score = (matrix @ matrix.T).toarray().astype(np.float32) * config.weights["text"]
    for name, codes in frame.signals.items():
        weight = config.weights.get(name, config.label_weights.get(name.split(":", 1)[-1], 0))
        score += weight * ((codes[:, None] == codes[None, :]) & (codes[:, None] >= 0))
    gap = np.abs(frame.times[:, None] - frame.times[None, :])
    links = int(((gap <= config.burst_seconds) & (score >= config.burst_min_score)).sum() - sample) // 2
    brute_seconds = time.perf_counter() - started
    started = time.perf_counter()
    grouping = group(frame, config)
    scan_seconds = time.perf_counter() - started
    return {"sample": sample, "brute_seconds": round(brute_seconds, 2), "brute_links": links,
            "scan_seconds": round(scan_seconds, 3), "scan_links": int(len(grouping.links.a)),
            "brute_projected_1m_hours": round(brute_seconds * (1_000_000 / sample) ** 2 / 3600, 1)}


def db_load(url: str, size: int, lo: int, hi: int) -> dict:
    """Write incidents ``lo``..``hi`` of a ``size``-incident synthetic history, the way the intake does
    (Core inserts; each template computed by the column's default)."""
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from bench.synthetic import generate
    from problemflow.models.base import utcnow
    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.incident import Incident

    upgrade(url)
    data = generate(size)
    now = utcnow()
    started = time.perf_counter()
    for start in range(lo, hi, 20_000):
        batch = [{
            "id": int(data.ids[i]), "title": data.texts[i], "description": "", "source": "api",
            "fingerprint": None, "labels": data.labels[i] or {},
            **{k: v[i] for k, v in data.columns.items() if k != "fingerprint"},
            "impact": "medium", "urgency": "medium", "priority": "3-moderate", "state": "resolved",
            "opened_at": datetime.fromtimestamp(float(data.times[i]), tz=timezone.utc),
            "occurrence_count": 1, "created_at": now, "updated_at": now,
        } for i in range(start, min(start + 20_000, hi))]
        with session_scope(url) as db:
            db.execute(insert(Incident), batch)
    return {"rows": hi - lo, "seconds": round(time.perf_counter() - started, 1)}


def db_scan(url: str, mode: str) -> dict:
    """``run_scan`` as ``problemflow scan`` runs it, in a process of its own (its peak is the scan's)."""
    from problemflow.models.db import session_scope
    from problemflow.tasks.recurrence import ScanConfig, run_scan

    config = ScanConfig(threshold=1_000_000)  # grouping and writing; opening problems is measured in the tests
    started = time.perf_counter()
    with session_scope(url) as db:
        result = run_scan(db_session=db, mode=mode, config=config)
    return {"seconds": round(time.perf_counter() - started, 2), "considered": result.incidents_considered,
            "links": result.links, "groups": result.groups_touched, "peak_mb": round(peak_mb())}


def database(size: int, new: int, postgresql: int = 0) -> dict:
    """Full scan of ``size`` incidents, then an incremental scan of ``new`` more, through SQLite (or
    PostgreSQL at ``PROBLEMFLOW_BENCH_POSTGRESQL``), each step in its own process."""
    if postgresql:
        import sqlalchemy

        base = os.environ.get("PROBLEMFLOW_BENCH_POSTGRESQL", "postgresql+psycopg://127.0.0.1:5432/postgres")
        name = f"problemflow_bench_{os.getpid()}"
        admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + f"/{name}"
    else:
        home = Path(tempfile.mkdtemp(prefix="problemflow-bench-"))
        url = f"sqlite:///{home / 'bench.db'}"
    try:
        loaded = child(["dbload", url, str(size + new), "0", str(size)])
        full = child(["dbscan", url, "full"])
        child(["dbload", url, str(size + new), str(size), str(size + new)])
        inc = child(["dbscan", url, "incremental"])
    finally:
        if postgresql:
            admin.dispose()
            with sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT").connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"size": size, "new": new, "database": "postgresql" if postgresql else "sqlite",
            "load_seconds": loaded["seconds"], "full_seconds": full["seconds"], "full_links": full["links"],
            "full_peak_mb": full["peak_mb"], "incremental_seconds": inc["seconds"],
            "incremental_considered": inc["considered"], "incremental_peak_mb": inc["peak_mb"]}


def import_log(sample: int) -> dict:
    """The shared ServiceNow log through the bulk import, against one ORM object at a time on a sample."""
    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.services import incidents
    from problemflow.tasks.servicenow import import_export
    from problemflow.tasks.servicenow.parse import read_export

    home = Path(tempfile.mkdtemp(prefix="problemflow-import-"))
    url = f"sqlite:///{home / 'import.db'}"
    upgrade(url)
    started = time.perf_counter()
    with session_scope(url) as db:
        summary = import_export(db_session=db, path=DATA)
    seconds = time.perf_counter() - started
    read = read_export(DATA)
    items = list(read.incidents.values())[:sample]
    other = f"sqlite:///{home / 'orm.db'}"
    upgrade(other)
    started = time.perf_counter()
    for item in items:
        with session_scope(other) as db:
            fields = item.fields
            incidents.create(db_session=db, incident_in=IncidentCreate(
                title=fields["title"], labels=fields["labels"], category=fields["category"],
                subcategory=fields["subcategory"], symptom=fields["symptom"], impact=fields["impact"],
                urgency=fields["urgency"], assignment_group=fields["assignment_group"],
                external_ref=item.number, source="servicenow", opened_at=fields["opened_at"]))
    orm_seconds = time.perf_counter() - started
    return {"events": summary.events_read, "incidents": summary.created, "seconds": round(seconds, 1),
            "orm_sample": sample, "orm_seconds": round(orm_seconds, 1),
            "orm_projected_seconds": round(orm_seconds * summary.created / sample, 1), "peak_mb": round(peak_mb())}


def child(args: list[str]) -> dict:
    output = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True)
    if output.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db-size", type=int, default=100_000)
    parser.add_argument("--no-db-1m", action="store_true", help="skip the database round trip at 1,000,000 (minutes)")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *values = args.one
        if kind == "dbload":
            result = db_load(values[0], *(int(v) for v in values[1:]))
        elif kind == "dbscan":
            result = db_scan(*values)
        else:
            numbers = [int(v) for v in values]
            result = {"core": core, "incremental": incremental, "brute": brute, "db": database,
                      "import": import_log}[kind](*numbers)
        print(json.dumps(result))
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for size in (int(s) for s in args.sizes.split(",")):
        r = child(["core", str(size)])
        print(f"core full scan {size:>9,}: {r['seconds']:6.2f} s, peak {r['peak_mb']} MB (generator data {r['generator_mb']} MB), "
              f"{r['candidates']:,} candidate pairs, {r['links']:,} links, largest group {r['largest_group']}; "
              f"P/R/F1 {r['p']}/{r['r']}/{r['f1']} | exact-key baseline {r['baseline_seconds']} s, "
              f"P/R/F1 {r['baseline_p']}/{r['baseline_r']}/{r['baseline_f1']}; "
              f"time ratio {r['seconds'] / max(r['baseline_seconds'], 0.01):.0f}x", flush=True)
    r = child(["incremental", "1000000", "10000"])
    print(f"core incremental 10,000 new against 1,000,000: {r['seconds']:.2f} s ({r['considered']:,} incidents in reach), "
          f"peak {r['peak_mb']} MB | exact-key baseline over all 1,010,000: {r['baseline_full_exact_key_seconds']} s", flush=True)
    r = child(["brute", "5000"])
    print(f"brute-force similarity on a 5,000 sample: {r['brute_seconds']} s ({r['brute_links']:,} burst links) vs scan "
          f"{r['scan_seconds']} s ({r['scan_links']:,} links): {r['brute_seconds'] / max(r['scan_seconds'], 0.001):.0f}x; "
          f"brute force projected to 1M: {r['brute_projected_1m_hours']} h", flush=True)
    runs = [(args.db_size, 0)]
    if not args.no_db_1m and args.db_size < 1_000_000 and "1000000" in args.sizes:
        runs += [(1_000_000, 0), (1_000_000, 1)]
    for size, postgresql in runs:
        r = child(["db", str(size), str(10_000 if size >= 1_000_000 else size // 100), str(postgresql)])
        print(f"end to end ({r['database']}) full scan {r['size']:,}: {r['full_seconds']} s, peak {r['full_peak_mb']} MB; "
              f"incremental {r['new']:,} new: {r['incremental_seconds']} s ({r['incremental_considered']:,} considered), "
              f"peak {r['incremental_peak_mb']} MB | writing the incidents took {r['load_seconds']} s", flush=True)
    if DATA.exists():
        r = child(["import", "2000"])
        print(f"import of the ServiceNow log: {r['events']:,} events -> {r['incidents']:,} incidents in {r['seconds']} s | "
              f"ORM one at a time: {r['orm_seconds']} s for {r['orm_sample']:,}, projected {r['orm_projected_seconds']} s "
              f"({r['orm_projected_seconds'] / r['seconds']:.0f}x)", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
