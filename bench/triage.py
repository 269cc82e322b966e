"""Triage cost per incident with the shipped rules, next to the cost of validating the incident.

    .venv/bin/python bench/triage.py [--calls 20000]

Measures ``tasks.incident.triage`` (identify + categorize + prioritize, rules
compiled once and cached) on a mix of alert-shaped and service-desk inputs,
and in the same run ``IncidentCreate.model_validate`` of the same inputs: the
validation every intake path already pays, as the peer for the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INPUTS = [
    {"title": "Filesystem /var almost full on db-7", "source": "alertmanager",
     "labels": {"alertname": "NodeFilesystemAlmostOutOfSpace", "severity": "critical", "instance": "db-7:9100",
                "job": "node", "mountpoint": "/var", "team": "storage"}},
    {"title": "KubePodCrashLooping", "description": "Pod shop/checkout-5f7 is restarting 4 times / 10 minutes",
     "source": "alertmanager", "labels": {"alertname": "KubePodCrashLooping", "severity": "warning",
                                          "namespace": "shop", "pod": "checkout-5f7", "environment": "staging"}},
    {"title": "Checkout error rate above 5%", "source": "grafana",
     "labels": {"alertname": "CheckoutHighErrorRate", "severity": "critical", "service": "shop"}},
    {"title": "Users cannot log in to the VPN since 9:00", "description": "Several people in the Lyon office " * 5,
     "source": "service_desk"},
    {"title": "Something unusual", "source": "pagerduty", "labels": {"severity": "info"}},
]


def per_call_us(fn, items, calls: int) -> list[float]:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for n in range(calls):
            fn(items[n % len(items)])
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    from problemflow.models.incident import IncidentCreate
    from problemflow.tasks.incident import get_rules, triage

    get_rules()
    incidents = [IncidentCreate.model_validate(i) for i in INPUTS]
    per_call_us(triage, incidents, 1000)  # warm-up
    triaged = per_call_us(triage, incidents, args.calls)
    validated = per_call_us(IncidentCreate.model_validate, INPUTS, args.calls)
    t, v = statistics.median(triaged), statistics.median(validated)
    print("| step | median of 5 rounds, us per call | best round |")
    print("|---|---|---|")
    print(f"| triage (identify + categorize + prioritize) | {t:.1f} | {min(triaged):.1f} |")
    print(f"| IncidentCreate.model_validate (peer) | {v:.1f} | {min(validated):.1f} |")
    print(f"\nratio triage / validation: {t / v:.1f}x; rules: {len(get_rules().categories)} category, "
          f"{len(get_rules().routes)} route, {len(get_rules().priorities)} priority")


if __name__ == "__main__":
    main()
