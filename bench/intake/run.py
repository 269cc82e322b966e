"""Intake benchmark: sustained alerts/s and latency over HTTP, against its references.

One command (from the repository root):

    .venv/bin/python bench/intake/run.py [--duration 10] [--warmup 3] [--connections 16]

Measured in the same run, with wrk (`apt-get install wrk`) posting a 1-alert
Alertmanager webhook with a fresh fingerprint per request (fresh.lua):

* empty: the same FastAPI + uvicorn (uvloop, httptools) stack parsing the same
  payload and storing nothing, the practical limit;
* problemflow intake on SQLite and on PostgreSQL (group commit), 1 worker;
* Alerta (bench/.venv-alerta, gunicorn, 5 workers, PostgreSQL) at /webhooks/prometheus;
* one Prefect flow run per alert (a served deployment), a handful of alerts.

Prints a table and writes bench/out/intake-<time>.json.
"""


import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (BODY, ROOT, TOKEN, VENV_BIN, empty_endpoint_argv, free_port, intake_database, log,  # noqa: E402
                     measure, process, stored_alerts)
from references import bench_alerta, bench_prefect  # noqa: E402


def bench_empty(args, work: Path, body_file: Path) -> dict:
    port = free_port()
    argv = empty_endpoint_argv(port, args.workers)
    url = f"http://127.0.0.1:{port}"
    name = f"empty endpoint (parse only), {args.workers} worker(s)"
    with process(argv, env=dict(os.environ), health=f"{url}/healthz", log_path=work / "empty.log") as child:
        return measure(name, url, "/v1/alerts/alertmanager", args, body_file, pid=child.pid)


def bench_intake(args, work: Path, body_file: Path, backend: str, respond: bool = False) -> dict:
    db_url, drop = intake_database(backend, work, "problemflow_bench")
    port = free_port()
    env = dict(os.environ, PROBLEMFLOW_DATABASE_URL=db_url, PROBLEMFLOW_INTAKE_TOKEN=TOKEN,
               PROBLEMFLOW_HOME=str(work), PROBLEMFLOW_INTAKE_RESPOND=str(respond).lower())
    argv = [str(VENV_BIN / "problemflow"), "intake", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--workers", str(args.workers)]
    url = f"http://127.0.0.1:{port}"
    name = f"problemflow intake, {backend}, {args.workers} worker(s)" + (", responding" if respond else "")
    try:
        with process(argv, env=env, health=f"{url}/healthz", log_path=work / f"intake-{backend}.log") as child:
            result = measure(name, url, "/v1/alerts/alertmanager", args, body_file, token=TOKEN, pid=child.pid)
        result["stored_alert_events"] = stored_alerts(db_url)
        return result
    finally:
        if drop:
            from problemflow.models.db import get_engine

            get_engine(db_url).dispose()
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--respond", action="store_true", help="also measure the intake with its response step on")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the empty endpoint and the intake")
    parser.add_argument("--alerta-workers", type=int, default=5)
    parser.add_argument("--flow-runs", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], choices=["empty", "alerta", "prefect"])
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results = []
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        work = Path(tmp)
        body_file = work / "body.json"
        body_file.write_text(json.dumps(BODY))
        # The machine is shared: targets are measured in interleaved rounds and each keeps
        # its best round, so a burst of someone else's load does not decide a ratio.
        rounds: dict[str, list[dict]] = {}
        for round_number in range(1, args.rounds + 1):
            log(f"round {round_number} of {args.rounds}")
            measured = []
            if "empty" not in args.skip:
                measured.append(bench_empty(args, work, body_file))
            for backend in args.backends:
                measured.append(bench_intake(args, work, body_file, backend))
                if args.respond:
                    measured.append(bench_intake(args, work, body_file, backend, respond=True))
            for result in measured:
                rounds.setdefault(result["name"], []).append(result)
        for name, runs in rounds.items():
            best = max(runs, key=lambda r: r["rps"])
            best["rounds_rps"] = [round(r["rps"], 1) for r in runs]
            best["peak_rss_mib"] = max(r.get("peak_rss_mib", 0) for r in runs) or None
            best["peak_rss_tree_mib"] = max(r.get("peak_rss_tree_mib", 0) for r in runs) or None
            results.append(best)
        if "alerta" not in args.skip:
            results.append(bench_alerta(args, work, body_file))
        if "prefect" not in args.skip:
            results.append(bench_prefect(args, work))

    report(results, args)


def report(results: list[dict], args) -> None:
    empty = next((r for r in results if r["name"].startswith("empty")), None)
    alerta = next((r for r in results if r["name"].startswith("Alerta")), None)
    print()
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s after {args.warmup:g} s warm-up; "
          f"1-alert Alertmanager webhook ({len(json.dumps(BODY))} bytes), fresh fingerprint per request")
    print(f"{'target':58} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non2xx':>7} {'stored':>8} {'RSS MiB':>8} "
          f"{'/empty':>7} {'/alerta':>8} {'CPU us/req':>10}")
    for r in results:
        if "skipped" in r:
            print(f"{r['name']:58} skipped: {r['skipped']}")
            continue
        vs_empty = f"{r['rps'] / empty['rps']:.2f}" if empty else "-"
        vs_alerta = f"{r['rps'] / alerta['rps']:.1f}x" if alerta and "skipped" not in alerta else "-"
        rss = r.get("peak_rss_mib")
        print(f"{r['name']:58} {r['rps']:8.1f} {r['p50_us'] / 1000:7.1f} {r['p99_us'] / 1000:7.1f} "
              f"{r['non2xx']:7d} {r.get('stored_alert_events', '-')!s:>8} {f'{rss:.0f}' if rss else '-':>8} "
              f"{vs_empty:>7} {vs_alerta:>8} {r.get('cpu_us_per_request') or 0:10.0f}")
    for r in results:
        if r.get("rounds_rps"):
            print(f"  rounds, req/s: {r['name']}: {r['rounds_rps']}")
    for r in results:
        if r.get("peak_rss_tree_mib"):
            print(f"  peak RSS, largest process / all processes: {r['name']}: "
                  f"{r['peak_rss_mib']:.0f} / {r['peak_rss_tree_mib']:.0f} MiB")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"intake-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
