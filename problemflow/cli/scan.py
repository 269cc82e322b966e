"""``problemflow scan``: group recurring incidents and open problems for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from models.db import session_scope
from problemflow.cli.output import err_console


def scan_command(
    full: bool = typer.Option(False, "--full", help="Rebuild every group instead of scanning new incidents"),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write incident,group,reason,score to this CSV"),
    threshold: Optional[int] = typer.Option(None, min=2, help="Incidents in a group that open a problem"),
    threshold_days: Optional[float] = typer.Option(None, min=0.01, help="...within this many days"),
    burst_minutes: Optional[float] = typer.Option(None, min=0.01, help="How close in time a burst is"),
    open_within_days: Optional[float] = typer.Option(
        None, min=0.01, help="Open problems only for groups with an incident this recent (e.g. after importing history)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Scan for recurring incidents: new ones since the last scan, or all with --full."""
    from tasks.recurrence import export_csv
    from tasks.recurrence.run import announce, scan

    overrides = {
        "threshold": threshold, "threshold_days": threshold_days,
        "burst_minutes": burst_minutes, "open_within_days": open_within_days,
    }
    result = scan("full" if full else "incremental", overrides)
    announced = announce(result.problems_opened)
    rows = None
    if out is not None:
        with session_scope() as db_session:
            rows = export_csv(db_session=db_session, path=out)
    if as_json:
        data = result.model_dump(mode="json")
        data.update(announced=announced, csv_rows=rows)
        print(json.dumps(data, indent=2))
        return
    print(
        f"scan {result.run_id} ({result.mode}): {result.incidents_new} new incidents, "
        f"{result.incidents_considered} considered, {result.links} new links, "
        f"{result.groups_touched} groups touched; {len(result.problems_opened)} problems opened, "
        f"{len(result.problems_linked)} groups linked to existing problems, "
        f"{len(result.known_errors_linked)} to known errors ({result.seconds:.1f} s)"
    )
    if result.problems_opened:
        print("opened: " + ", ".join(f"PRB{i:07d}" for i in result.problems_opened[:50])
              + (" ..." if len(result.problems_opened) > 50 else ""))
        if not announced:
            err_console.print("no Prefect API configured: problem management was not started", markup=False)
    if out is not None:
        print(f"wrote {rows} grouped incidents to {out}")


def register(root: typer.Typer) -> None:
    """Add ``problemflow scan``."""
    root.command("scan")(scan_command)
