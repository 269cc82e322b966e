"""KEDB search latency with 100,000 known errors: the in-memory index against brute force.

    .venv/bin/python bench/kedb_match.py [--known-errors 100000] [--queries 300] [--brute 5]
                                          [--database-url URL]

Fills a fresh database (SQLite in a temporary directory unless --database-url
names an empty one) with synthetic known errors, then measures, in one run:
the index build, the search through ``tasks.kedb_match.search`` (including the
per-call freshness query against the database), and ``search_brute_force``,
which scores every known error one by one with the same scoring. Prints a
Markdown table and the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = ("disk full memory leak cpu spike certificate expired replication lag timeout dns failure backup "
         "missed pod crash queue backlog connection refused latency high error rate gateway deadlock index "
         "bloat vacuum partition filesystem inode kernel panic swap thrashing ssl handshake token expiry cache "
         "eviction thread pool exhausted garbage collection pause heap overflow socket reset packet loss route "
         "flap bgp session load balancer health check failing cron job stuck lock contention snapshot "
         "corrupted raid degraded firmware driver nfs mount stale ldap bind smtp relay rejected quota").split()
STATES = ["published"] * 80 + ["fixed"] * 8 + ["retired"] * 7 + ["draft"] * 5


def synthetic(n: int, rng: random.Random) -> list[dict]:
    services = [f"svc-{i}" for i in range(400)]
    alertnames = [f"Alert{i}" for i in range(600)]
    categories = ["Infrastructure", "Application", "Database", "Network", "Security", "Kubernetes", "Backup"]
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        title_words = rng.sample(WORDS, 5)
        rows.append({
            "title": " ".join(title_words) + f" on {rng.choice(services)}",
            "symptoms": " ".join(rng.sample(WORDS, 12)),
            "root_cause": " ".join(rng.sample(WORDS, 8)),
            "workaround": " ".join(rng.sample(WORDS, 8)),
            "state": rng.choice(STATES),
            "signature": {
                "fingerprints": [f"fp{i:07d}"] if rng.random() < 0.3 else [],
                "labels": {"alertname": rng.choice(alertnames), **({"job": rng.choice(["node", "app", "db"])}
                                                                   if rng.random() < 0.5 else {})},
                "services": rng.sample(services, rng.randint(0, 2)),
                "category": rng.choice(categories), "subcategory": None, "symptom": None,
                "keywords": [" ".join(rng.sample(WORDS, 2)) for _ in range(rng.randint(0, 3))],
            },
            "hit_count": 0, "created_at": now, "updated_at": now,
        })
    return rows


def queries(rows: list[dict], count: int, rng: random.Random) -> list[dict]:
    out = []
    for _ in range(count):
        row = rng.choice(rows)
        sig = row["signature"]
        out.append({
            "text": " ".join(rng.sample(row["title"].split(), 3) + rng.sample(WORDS, 4)),
            "labels": {"alertname": sig["labels"]["alertname"], "severity": "critical", "instance": "h1:9100"},
            "service": (sig["services"] or [None])[0],
            "category": sig["category"] if rng.random() < 0.5 else None,
            "fingerprint": (sig["fingerprints"] or [None])[0] if rng.random() < 0.3 else None,
        })
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known-errors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--brute", type=int, default=5, help="brute-force searches (each scans everything)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="kedb-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    os.environ["PROBLEMFLOW_DATABASE_URL"] = url
    os.environ["PROBLEMFLOW_HOME"] = tmp

    from sqlalchemy import insert

    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.kedb import KnownError
    from problemflow.tasks.kedb.index import get_index
    from problemflow.tasks.kedb.match import search, search_brute_force

    rng = random.Random(args.seed)
    upgrade(url)
    rows = synthetic(args.known_errors, rng)
    started = time.perf_counter()
    with session_scope(url) as db_session:
        for start in range(0, len(rows), 5000):
            db_session.execute(insert(KnownError), rows[start:start + 5000])
    fill = time.perf_counter() - started
    wanted = queries(rows, args.queries, rng)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with session_scope(url) as db_session:
        started = time.perf_counter()
        index = get_index(db_session)
        build = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        for q in wanted[:20]:  # warm-up
            search(db_session=db_session, **q)
        indexed, agree = [], 0
        for q in wanted:
            t = time.perf_counter()
            search(db_session=db_session, **q)
            indexed.append((time.perf_counter() - t) * 1000)
        brute = []
        for q in wanted[:args.brute]:
            t = time.perf_counter()
            slow = search_brute_force(db_session=db_session, **q)
            brute.append((time.perf_counter() - t) * 1000)
            fast = search(db_session=db_session, **q)
            agree += [m.known_error_id for m in fast][:1] == [m.known_error_id for m in slow][:1]

    print(f"database: {url.split('://')[0]}, known errors: {len(rows):,} ({index.size:,} eligible), "
          f"fill {fill:.1f} s, index build {build:.1f} s, max RSS +{(rss_after - rss_before) / 1024:.0f} MiB")
    print()
    print("| search | runs | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    print(f"| index (with freshness query) | {len(indexed)} | {statistics.median(indexed):.2f} | "
          f"{pct(indexed, 99):.2f} | {statistics.mean(indexed):.2f} |")
    print(f"| brute force (score each) | {len(brute)} | {statistics.median(brute):.0f} | "
          f"{pct(brute, 99):.0f} | {statistics.mean(brute):.0f} |")
    print()
    print(f"ratio brute/index (mean): {statistics.mean(brute) / statistics.mean(indexed):.0f}x; "
          f"same best match in {agree}/{len(brute)} brute-force checks")


if __name__ == "__main__":
    main()
