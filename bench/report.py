"""Benchmark: the KPI report over the whole imported ServiceNow log.

    .venv/bin/python bench/report.py [--repeat 5] [--database-url URL] [--log PATH]

Without ``--database-url`` the log is imported into a fresh SQLite database in
a temporary directory. With a PostgreSQL URL naming an empty database, the log
is imported there first (an already imported database is reused).

Each round times, on the same database:
- baseline: one plain ``SELECT`` of every incident row, all columns, fetched
  into Python (the least any report over these rows has to pay);
- kpis: ``compute_report`` for a period holding every incident (all KPIs of
  the period and of the previous one, each one aggregate query);
- report: the KPIs plus the HTML (seven pygal charts), Markdown and CSV files.

Prints the median of each and the ratio report / baseline. Target: report < 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_LOG = Path(
    os.environ.get("PROBLEMFLOW_SERVICENOW_LOG", REPO / "../shared/data/incident_event_log.csv.gz")
)
PERIOD = (datetime(2016, 2, 1, tzinfo=timezone.utc), datetime(2017, 3, 1, tzinfo=timezone.utc))


def prepare(url: str, log: Path) -> float:
    """Migrate, and import the log unless it is there already; returns import seconds."""
    from sqlalchemy import func, select

    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.incident import Incident
    from problemflow.tasks.servicenow import import_export

    upgrade(url)
    with session_scope(url) as db_session:
        if db_session.scalar(select(func.count()).select_from(Incident)):
            return 0.0
    started = time.perf_counter()
    with session_scope(url) as db_session:
        import_export(db_session=db_session, path=log)
    return time.perf_counter() - started


def baseline(url: str) -> tuple[float, int]:
    from sqlalchemy import select

    from problemflow.models.db import get_engine
    from problemflow.models.incident import Incident

    started = time.perf_counter()
    with get_engine(url).connect() as connection:
        rows = connection.execute(select(Incident.__table__)).all()
    return time.perf_counter() - started, len(rows)


def kpis(url: str):
    from problemflow.models.db import session_scope
    from problemflow.tasks.reporting.kpi import Period, compute_report

    started = time.perf_counter()
    with session_scope(url) as db_session:
        report = compute_report(db_session=db_session, period=Period(start=PERIOD[0], end=PERIOD[1]))
    return time.perf_counter() - started, report


def full_report(url: str, out: Path) -> tuple[float, int]:
    from problemflow.tasks.reporting.kpi.render import write_report

    started = time.perf_counter()
    _, report = kpis(url)
    write_report(report, out)
    return time.perf_counter() - started, report.current.incidents.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    args = parser.parse_args()
    if not args.log.exists():
        sys.exit(f"the ServiceNow log is not at {args.log} (set PROBLEMFLOW_SERVICENOW_LOG)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PROBLEMFLOW_HOME", tmp)
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        imported = prepare(url, args.log)
        if imported:
            print(f"import: {imported:.1f} s")
        base, kpi, report = [], [], []
        for round_ in range(args.repeat):
            seconds, rows = baseline(url)
            base.append(seconds)
            kpi.append(kpis(url)[0])
            seconds, incidents = full_report(url, Path(tmp) / f"out{round_}")
            report.append(seconds)
        b, k, r = (statistics.median(x) for x in (base, kpi, report))
        print(f"database: {url.split('://')[0]}, incidents: {rows}, in the report: {incidents}")
        print(f"baseline SELECT *: median {b:.3f} s  (runs {', '.join(f'{x:.3f}' for x in base)})")
        print(f"kpis:              median {k:.3f} s  (runs {', '.join(f'{x:.3f}' for x in kpi)})")
        print(f"full report:       median {r:.3f} s  (runs {', '.join(f'{x:.3f}' for x in report)})")
        print(f"ratio report / baseline: {r / b:.2f}x; kpis / baseline: {k / b:.2f}x; target < 10 s: "
              + ("met" if r < 10 else "MISSED"))


if __name__ == "__main__":
    main()
