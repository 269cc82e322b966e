"""Synthetic incidents with realistic repetition, bursts and noise, and their true causes.

About 40% of incidents come from recurring causes: each cause belongs to one
service, has an alert fingerprint (most do) and a message of its own, and fires
in bursts (a handful of alerts within minutes, titles differing in host,
duration and request id) that recur over the year. The rest is noise: service-desk tickets spread over
working hours, drawn from the same services, categories and teams, with titles
from a shared vocabulary. ``cause`` is -1 for noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

YEAR = 365 * 86400.0
START = 1_735_689_600.0  # 2025-01-01 UTC
VERBS = "timeout error failure latency crash refused expired full degraded unreachable slow leak".split()
WORDS = [a + b + c for a in ("ka", "lo", "mi", "ne", "su", "ta") for b in ("r", "n", "l", "s", "v")
         for c in ("ay", "on", "ix", "um", "el", "or", "in", "as", "ek", "ud")]  # 300 made-up words
OBJECTS = ("disk database queue certificate api login payment vpn dns cache printer email backup "
           "replica pod node build deploy license badge laptop password report invoice").split()


@dataclass
class Synthetic:
    ids: np.ndarray
    times: np.ndarray
    columns: dict[str, list]
    texts: list[str]
    labels: list
    cause: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def generate(n: int, seed: int = 42, recurring_share: float = 0.4, start_id: int = 1) -> Synthetic:
    """``n`` incidents over one year, sorted by opening time, ids from ``start_id``."""
    rng = np.random.default_rng(seed)
    n_services, n_categories, n_groups, n_owners = 400, 40, 60, 800
    n_causes = max(5, n // 150)
    n_recurring = int(n * recurring_share)
    # recurring causes: each cause's incidents come in bursts around a few episode times
    cause_of = rng.integers(0, n_causes, n_recurring)
    episodes_per_cause = 1 + rng.poisson(4, n_causes)
    episode_index = (rng.random(n_recurring) * episodes_per_cause[cause_of]).astype(np.int64)
    episode_time = START + (_hash(cause_of * 1000 + episode_index) % 10_000_000) / 10_000_000 * YEAR
    times_rec = episode_time + rng.exponential(240, n_recurring)  # bursts: minutes apart
    # noise: working hours weighted arrivals over the year
    day = rng.integers(0, 365, n - n_recurring)
    hour = np.clip(rng.normal(13, 3, n - n_recurring), 0, 23.99)
    times_noise = START + day * 86400.0 + hour * 3600
    times = np.concatenate([times_rec, times_noise])
    cause = np.concatenate([cause_of, np.full(n - n_recurring, -1)])
    service = np.concatenate([cause_of % n_services, rng.integers(0, n_services, n - n_recurring)])
    category = np.concatenate([(cause_of * 7) % n_categories, rng.integers(0, n_categories, n - n_recurring)])
    subcategory = category * 5 + np.concatenate([cause_of % 5, rng.integers(0, 5, n - n_recurring)])
    group = np.concatenate([(cause_of * 3) % n_groups, rng.integers(0, n_groups, n - n_recurring)])
    owner = np.concatenate([rng.integers(0, n_owners, n_recurring), rng.integers(0, n_owners, n - n_recurring)])
    host = rng.integers(1, 40, n)
    verb = np.concatenate([cause_of % len(VERBS), rng.integers(0, len(VERBS), n - n_recurring)])
    obj = np.concatenate([(cause_of // 7) % len(OBJECTS), rng.integers(0, len(OBJECTS), n - n_recurring)])
    has_alert = np.concatenate([(cause_of % 10) < 7, np.zeros(n - n_recurring, bool)])
    order = np.argsort(times, kind="stable")
    times, cause, service, category = times[order], cause[order], service[order], category[order]
    subcategory, group, owner, host = subcategory[order], group[order], owner[order], host[order]
    verb, obj, has_alert = verb[order], obj[order], has_alert[order]
    # recurring causes: a message per cause (two words of its own), whose variable parts differ each time
    # (host, duration, request id); noise: three words of a 300-word vocabulary
    words = rng.integers(0, len(WORDS), (n, 3))
    words[:, 0] = np.where(cause >= 0, cause % len(WORDS), words[:, 0])
    words[:, 1] = np.where(cause >= 0, (cause // len(WORDS)) % len(WORDS), words[:, 1])
    millis = rng.integers(100, 60_000, n)
    request = rng.integers(0, 2**40, n)
    texts = [
        f"{OBJECTS[o]} {VERBS[v]} {WORDS[w0]} {WORDS[w1]} on host-{h:02d} after {ms} ms (request {rq:010x})"
        if c >= 0 else f"{OBJECTS[o]} {WORDS[w0]} {WORDS[w1]} {WORDS[w2]}"
        for o, v, h, c, ms, rq, (w0, w1, w2) in zip(
            obj.tolist(), verb.tolist(), host.tolist(), cause.tolist(), millis.tolist(), request.tolist(),
            words.tolist())
    ]
    fingerprints = [f"fp-{c:06d}" if a else None for c, a in zip(cause.tolist(), has_alert.tolist())]
    labels = [
        {"alertname": f"{OBJECTS[o].title()}{VERBS[v].title()}", "instance": f"host-{h:02d}"} if a else None
        for o, v, h, a in zip(obj.tolist(), verb.tolist(), host.tolist(), has_alert.tolist())
    ]
    columns = {
        "fingerprint": fingerprints,
        "service": [f"svc-{s}" for s in service.tolist()],
        "configuration_item": [None] * n,
        "category": [f"cat-{c}" for c in category.tolist()],
        "subcategory": [f"sub-{c}" for c in subcategory.tolist()],
        "symptom": [f"{VERBS[v]}" for v in verb.tolist()],
        "assignment_group": [f"team-{g}" for g in group.tolist()],
        "owner": [f"person-{o}" for o in owner.tolist()],
    }
    return Synthetic(
        ids=np.arange(start_id, start_id + n, dtype=np.int64), times=times, columns=columns,
        texts=texts, labels=labels, cause=cause,
    )


def _hash(values: np.ndarray) -> np.ndarray:
    """A cheap deterministic integer hash (splitmix64 finaliser)."""
    x = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (x ^ (x >> np.uint64(31))).astype(np.int64) & np.int64(0x7FFFFFFFFFFFFFFF)


def pair_scores(truth: np.ndarray, label: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 over all incidents (noise and ungrouped are singletons), in O(n)."""
    n = len(truth)
    singles = np.arange(n) + truth.max(initial=0) + 1
    t = np.where(truth >= 0, truth, singles)
    g = np.where(label >= 0, label, -1 - np.arange(n))

    def pairs(*keys):
        _, counts = np.unique(np.stack(keys, axis=1), axis=0, return_counts=True)
        return float((counts * (counts - 1) // 2).sum())

    both, predicted, actual = pairs(t, g), pairs(g), pairs(t)
    precision = both / predicted if predicted else 0.0
    recall = both / actual if actual else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
