"""``problemflow scan``: group recurring incidents and open problems for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from problemflow.cli.output import err_console, print_json, print_table, to_jsonable
from problemflow.models.db import session_scope
from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX
from problemflow.tasks.common.neutralise import terminal


def scan_command(
    full: bool = typer.Option(False, "--full", help="Rebuild every group instead of scanning new incidents"),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write incident,external_ref,group,template,reason,score to this CSV"),
    threshold: Optional[int] = typer.Option(None, min=2, help="Incidents in a group that open a problem"),
    threshold_days: Optional[float] = typer.Option(None, min=0.01, help="...within this many days"),
    burst_minutes: Optional[float] = typer.Option(None, min=0.01, help="How close in time a burst is"),
    split_by_service: Optional[bool] = typer.Option(
        None, "--split-by-service/--no-split-by-service",
        help="The same message on two services is two recurrences (PROBLEMFLOW_RECURRENCE_SPLIT_BY_SERVICE)",
    ),
    similar_min_text: Optional[float] = typer.Option(
        None, min=0, max=1, help="Text similarity at which tickets worded differently are one (1: off; 0.8)"
    ),
    open_max: Optional[int] = typer.Option(
        None, min=0, max=1000, help="Problems the scan keeps open at once (PROBLEMFLOW_RECURRENCE_OPEN_MAX, 5)"
    ),
    pending: bool = typer.Option(False, "--pending", help="Only list the groups waiting for a slot, best first"),
    groups: bool = typer.Option(False, "--groups", help="Only list every group, best first, and what became of it"),
    limit: int = typer.Option(50, min=1, max=100_000, help="Groups listed at most"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
    force: bool = typer.Option(False, "--force", help="Overwrite an --out file that is not a scan export"),
) -> None:
    """Scan for recurring incidents: new ones since the last scan, or all with --full.
    Only recurrences of the present open problems; see the queue with --pending."""
    if pending or groups:
        return list_groups(waiting_only=pending, limit=limit, as_json=as_json)
    if out is not None:
        from problemflow.tasks.common.neutralise import check_overwrite
        from problemflow.tasks.recurrence import CSV_HEADER

        check_overwrite(out, CSV_HEADER, force)  # before the scan, not after it
    from problemflow.tasks.recurrence import export_csv
    from problemflow.tasks.recurrence.run import announce, scan, send_digest

    overrides = {
        "threshold": threshold, "threshold_days": threshold_days,
        "burst_minutes": burst_minutes, "open_max": open_max, "split_by_service": split_by_service,
        "similar_min_text": similar_min_text,
    }
    result = scan("full" if full else "incremental", overrides)
    announced = announce(result.problems_opened)
    send_digest(result)
    rows = None
    if out is not None:
        with session_scope() as db_session:
            rows = export_csv(db_session=db_session, path=out, force=True)
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
        f"{len(result.known_errors_linked)} to known errors, {len(result.groups_queued)} waiting for a slot "
        f"({result.seconds:.1f} s)"
    )
    if result.problems_opened:
        print("opened: " + ", ".join(format_number(NUMBER_PREFIX, i) for i in result.problems_opened[:50])
              + (" ..." if len(result.problems_opened) > 50 else ""))
        if not announced:
            err_console.print("no Prefect API configured: problem management was not started", markup=False)
    if result.groups_queued:
        print(f"{len(result.groups_queued)} groups wait for a slot: problemflow scan --pending")
    if out is not None:
        print(terminal(f"wrote {rows} grouped incidents to {out}"))


def list_groups(*, waiting_only: bool, limit: int, as_json: bool) -> None:
    """Print the ranked groups (or only the queue)."""
    from problemflow.tasks.recurrence.queue import ranked_groups

    with session_scope() as db_session:
        rows = ranked_groups(db_session, waiting_only=waiting_only, limit=limit)
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table(
        "Groups waiting for a slot, best first" if waiting_only else "Recurrence groups, best first",
        ["group", "rank", "status", "record", "incidents", "first seen", "last seen", "summary"],
        ([r.key, f"{r.rank:g}", r.status, r.record, r.size, f"{r.first_seen:%Y-%m-%d %H:%M}",
          f"{r.last_seen:%Y-%m-%d %H:%M}", r.summary] for r in rows),
    )
    if waiting_only and rows:
        print("open one on purpose: problemflow problem open --group GROUP")


def register(root: typer.Typer) -> None:
    """Add ``problemflow scan``."""
    root.command("scan")(scan_command)
