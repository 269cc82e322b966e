"""Gate answers under load: does Prefect's database refuse an operator's Resume?

    .venv/bin/python bench/gates.py [--answers 200] [--prefect-db postgres sqlite]

For each candidate (interleaved when --rounds > 1) it starts ``problemflow up`` in a
fresh home with ``--prefect-db`` set to it, starts problem-management runs, and while
service-desk incidents, Alertmanager webhooks (escalations start incident-response
runs through events) and a recurrence scan keep the stack busy, answers gates through
``POST /api/flow_runs/{id}/resume`` with valid one-time codes until ``--answers`` have
been sent. A refused answer (any non-2xx) is counted, and that gate is answered again
on a later pass, as a person would press Submit again; the re-sends count among the
answers. Prints refusals, answer latency (p50/p99), startup time, and checks that
each run ended with exactly one stored answer and one recorded decision per gate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import tree_rss_mib  # noqa: E402
from tests.stack.gate_load import SCRIPT, Codes, GateLoad, percentile, roles, start_up, stop_up  # noqa: E402


def measure(prefect_db: str, answers: int, runs: int, timeout: float, in_flight: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"gates-{prefect_db}-"))
    secret_key = Fernet.generate_key().decode()
    os.environ["PROBLEMFLOW_SECRET_KEY"] = secret_key  # the bench enrols people the flows will check
    os.environ["PROBLEMFLOW_HOME"] = str(home)
    from problemflow.models.settings import get_settings

    get_settings.cache_clear()
    process, api_url, intake_url, ready = start_up(home, secret_key, prefect_db=prefect_db)
    load_avg = os.getloadavg()
    try:
        idle_rss = tree_rss_mib(process.pid)
        codes = Codes(f"sqlite:///{home / 'problemflow.db'}", roles())
        driver = GateLoad(api_url, intake_url, codes, in_flight=in_flight)
        stopped = ""
        started = time.monotonic()
        driver.start_problem_runs(runs)
        stop = threading.Event()
        loader = threading.Thread(target=driver.load, args=(stop,), daemon=True)
        loader.start()
        def report(d: GateLoad) -> None:
            print(f"  {prefect_db}: {len(d.answers)} answers, {sum(a.status >= 300 for a in d.answers)} refused, "
                  f"runs {d.progress()}, {len(d.load_runs)} load runs, load avg {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)

        try:
            driver.drive(answers, timeout=timeout, answer_again=True, report=report)
        except (AssertionError, httpx.HTTPError) as error:  # out of time, or the server broke: the figures so far count
            stopped = f"{type(error).__name__}: {str(error)[:300]}"
            print(f"  {prefect_db}: stopped: {stopped}", file=sys.stderr, flush=True)
        finally:
            stop.set()
            loader.join(timeout=60)
        answering = time.monotonic() - started
        load_avg_end = os.getloadavg()
        try:
            states = driver.wait_finished(timeout=120)
            problems = driver.duplicates(f"sqlite:///{home / 'problemflow.db'}")
        except httpx.HTTPError as error:
            states, problems = {}, [f"not checked: the server did not answer ({error!r})"]
        gate_refusals = driver.refused_by_gates(f"sqlite:///{home / 'problemflow.db'}")
    finally:
        stop_up(process)
    latencies = [a.seconds * 1000 for a in driver.answers] or [float("nan")]
    refused = [a for a in driver.answers if a.status >= 300]
    not_accepted = [a for a in driver.answers if a.status < 300 and not a.accepted]
    finished_all = sum(1 for r in driver.runs.values() if r.closed)
    return {
        "prefect_db": prefect_db, "home": str(home), "ready_s": ready, "idle_rss_mib": idle_rss,
        "answers": len(driver.answers), "refused": len(refused),
        "refusals": Counter(f"{a.status} {a.body[:80]}" for a in refused),
        "not_accepted": [f"{a.pause_key} {a.body[:300]}" for a in not_accepted][:5],
        "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "gate_refusals_note": "codes the gate refused when the resumed run checked them (not server refusals)", "answering_s": answering, "load_runs": len(driver.load_runs),
        "load_errors": driver.load_errors[:5], "create_refusals": len(driver.create_refusals), "runs": len(driver.runs),
        "runs_through_all_gates": finished_all, "final_states": Counter(states.values()),
        "one_answer_per_gate": not problems, "codes_refused_by_gates": gate_refusals, "problems": problems[:10],
        "stopped": stopped, "load_avg_start": load_avg, "load_avg_end": load_avg_end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--prefect-db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=6,
                        help="answers whose runs have not reached their next gate yet, at most")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for sending the answers")
    args = parser.parse_args()
    runs = -(-args.answers // len(SCRIPT))
    results = []
    for _ in range(args.rounds):
        for prefect_db in args.prefect_db:
            result = measure(prefect_db, args.answers, runs, args.timeout, args.in_flight)
            results.append(result)
            print(json.dumps(result, default=str), flush=True)
    print()
    print("| Prefect database | refused | answer p50 ms | p99 ms | max ms | answering s | runs through all gates "
          "| one answer per gate | up ready s | idle RSS MiB | load avg start/end | stopped early |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['prefect_db']} | {r['refused']} of {r['answers']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
              f"{r['max_ms']:.0f} | {r['answering_s']:.0f} | {r['runs_through_all_gates']} of {r['runs']} | "
              f"{'yes' if r['one_answer_per_gate'] else 'NO'} | {r['ready_s']:.1f} | {r['idle_rss_mib']:.0f} | "
              f"{r['load_avg_start'][0]:.1f} / {r['load_avg_end'][0]:.1f} | {r['stopped'] or '-'} |")


if __name__ == "__main__":
    main()
