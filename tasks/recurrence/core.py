"""The grouping itself: candidate pairs, their scores, the links kept, the groups formed.

Every step is vectorised over arrays from :mod:`tasks.recurrence.features`:

1. Candidate pairs. For each signal, incidents are sorted by (code, time) and
   each one is compared with the next few incidents of the same code that fall
   inside the time window (fingerprints, and a service or configuration item
   together with the shape of the text: the recurrence window; everything
   else: the burst window). Two passes over the text find bursts whose incidents
   share only their text, exactly or but for its numbers (host names).
2. Scores. Each pair's score is the sum of the weights of the signals it
   shares, plus the text weight times the TF-IDF cosine similarity of the two
   normalised texts (scikit-learn).
3. Links. A pair inside the burst window links when its score reaches
   ``burst_min_score``; a pair further apart (up to ``window_days``) links only
   on an identity signal: the same fingerprint, or the same service or
   configuration item with similar text.
4. Groups: connected components of the links (scipy), each incident joined
   to the group through its best link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from problemflow.tasks.recurrence.config import ScanConfig
from problemflow.tasks.recurrence.features import Frame

TEXT_BIT = "text"
RULE_BURST, RULE_RECURRENCE = 1, 2


@dataclass
class Links:
    """Accepted links between frame positions ``a`` < ``b`` (as positions, not ids)."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    mask: np.ndarray  # bit i set when signal ``signal_names[i]`` is shared
    text: np.ndarray  # text cosine similarity
    rule: np.ndarray
    signal_names: list[str]


@dataclass
class Grouping:
    """Per frame position: its component label (-1 when alone) and the link that joined it."""

    label: np.ndarray
    via: np.ndarray  # position of the incident it was linked through, -1 for none
    link: np.ndarray  # index into ``links`` of that link, -1 for none
    links: Links
    candidates: int


def candidate_pairs(
    frame: Frame, config: ScanConfig, rarity: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a, b) of positions worth scoring, deduplicated, a != b."""
    times = frame.times
    rarity = rarity if rarity is not None else rarities(frame, config)
    passes: list[tuple[np.ndarray, float]] = []
    for name, codes in frame.signals.items():
        if _weight(config, name) <= 0:
            continue
        window = config.window_seconds if name == "fingerprint" else config.burst_seconds
        if name in rarity:
            # a value too common around that time to be evidence proposes no pairs
            codes = np.where(rarity[name] >= config.min_surprise, codes, -1)
        passes.append((codes, window))
        if name in ("service", "configuration_item"):
            # across days, the same service links only with similar text: block on both
            both = codes.astype(np.int64) * (int(frame.shape_codes.max(initial=0)) + 1) + frame.shape_codes
            passes.append((np.where((codes >= 0) & (frame.shape_codes >= 0), both, -1), config.window_seconds))
    if len(frame.texts) and config.weights.get(TEXT_BIT, 0) > 0:
        passes.append((frame.text_codes, config.burst_seconds))
        # texts that differ only in numbers (host-03 / host-07): a burst of one alert on many hosts
        passes.append((frame.shape_codes, config.burst_seconds))
    found_a, found_b = [], []
    for codes, window in passes:
        order = np.lexsort((times, codes)).astype(np.int32)
        order = order[codes[order] >= 0]
        sorted_codes, sorted_times = codes[order], times[order]
        for offset in range(1, config.max_neighbours + 1):
            if offset >= len(order):
                break
            same = sorted_codes[offset:] == sorted_codes[:-offset]
            close = (sorted_times[offset:] - sorted_times[:-offset]) <= window
            keep = same & close
            if not keep.any():
                break
            found_a.append(order[:-offset][keep])
            found_b.append(order[offset:][keep])
    if not found_a:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    del found_a, found_b
    keys = _distinct(np.minimum(a, b).astype(np.int64) * len(frame) + np.maximum(a, b))
    del a, b
    return (keys // len(frame)).astype(np.int32), (keys % len(frame)).astype(np.int32)


def text_similarity(frame: Frame, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TF-IDF cosine similarity of the normalised texts of each pair (0 when either has none)."""
    result = np.zeros(len(a), dtype=np.float32)
    if not frame.texts or not len(a):
        return result
    ta, tb = frame.text_codes[a], frame.text_codes[b]
    has = (ta >= 0) & (tb >= 0)
    result[has & (ta == tb)] = 1.0
    todo = has & (ta != tb)
    if not todo.any():
        return result
    # only the texts that take part in a pair are vectorised (IDF over those texts)
    needed = np.unique(np.concatenate([ta[todo], tb[todo]]))
    row = np.full(len(frame.texts), -1, dtype=np.int64)
    row[needed] = np.arange(len(needed))
    vectors = TfidfVectorizer(token_pattern=r"(?u)<?\b\w[\w.-]*\b>?", sublinear_tf=True, dtype=np.float32)
    matrix = vectors.fit_transform([frame.texts[i] for i in needed.tolist()]).tocsr()
    pair_keys, inverse = np.unique(row[ta[todo]] * len(needed) + row[tb[todo]], return_inverse=True)
    left, right = pair_keys // len(needed), pair_keys % len(needed)
    sims = np.empty(len(pair_keys), dtype=np.float32)
    step = 200_000
    for start in range(0, len(pair_keys), step):
        stop = start + step
        product = matrix[left[start:stop]].multiply(matrix[right[start:stop]])
        sims[start:stop] = np.asarray(product.sum(axis=1)).ravel()
    result[todo] = sims[inverse]
    return result


def score_pairs(
    frame: Frame, config: ScanConfig, a: np.ndarray, b: np.ndarray, rarity: dict[str, np.ndarray] | None = None
) -> Links:
    """Score candidate pairs and keep those a rule accepts."""
    rarity = rarity if rarity is not None else rarities(frame, config)
    names = [n for n in frame.signals if _weight(config, n) > 0]
    score = np.zeros(len(a), dtype=np.float32)
    mask = np.zeros(len(a), dtype=np.int64)
    identity = np.zeros(len(a), dtype=bool)
    for bit, name in enumerate(names):
        codes = frame.signals[name]
        shared = (codes[a] == codes[b]) & (codes[a] >= 0)
        weight = np.float32(_weight(config, name)) * shared
        if name != "fingerprint":  # a fingerprint names one alert: never common by chance
            weight *= rarity[name][a]
        score += weight
        mask |= shared.astype(np.int64) << bit
        if name == "fingerprint":
            identity |= shared
    text = text_similarity(frame, a, b)
    # the very same text, common around that time, says little (like any shared value)
    text_weight = np.where(
        frame.text_codes[a] == frame.text_codes[b], rarity[TEXT_BIT][a], 1.0
    )
    score += np.float32(config.weights.get(TEXT_BIT, 0.0)) * text * text_weight
    same_thing = np.zeros(len(a), dtype=bool)
    for name in ("service", "configuration_item"):
        if name in frame.signals:
            codes = frame.signals[name]
            same_thing |= (codes[a] == codes[b]) & (codes[a] >= 0)
    identity |= same_thing & (text >= config.recurrence_min_text)
    gap = np.abs(frame.times[b] - frame.times[a])
    burst = (gap <= config.burst_seconds) & (score >= config.burst_min_score)
    recurrence = (gap <= config.window_seconds) & identity
    keep = burst | recurrence
    rule = np.where(burst, RULE_BURST, RULE_RECURRENCE).astype(np.int8)
    return Links(a[keep], b[keep], score[keep], mask[keep], text[keep], rule[keep], names)


def rarities(frame: Frame, config: ScanConfig) -> dict[str, np.ndarray]:
    """:func:`surprise` of every weighted signal but fingerprints, and of the exact text."""
    found = {
        name: surprise(frame.times, codes, config)
        for name, codes in frame.signals.items()
        if name != "fingerprint" and _weight(config, name) > 0
    }
    found[TEXT_BIT] = surprise(frame.times, frame.text_codes, config)
    return found


def surprise(times: np.ndarray, codes: np.ndarray, config: ScanConfig) -> np.ndarray:
    """How surprising a shared value is within a burst, per incident, in (0, 1].

    The number of incidents with the same value opened in the surrounding
    ``context_hours`` gives the value's local rate; the chance that two of them
    fall within a burst window anyway is about ``1 - exp(-expected)``, so the
    evidence left is ``exp(-expected)``. A busy category on a Monday morning
    links little; a rare one links strongly.
    """
    half = config.context_hours * 3600 / 2
    valid = codes >= 0
    result = np.ones(len(codes), dtype=np.float32)
    if not valid.any():
        return result
    # one sorted axis: code blocks far apart, times inside them
    key = codes.astype(np.float64) * 1e10 + (times - times.min())
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    around = np.searchsorted(sorted_key, key + half, "right") - np.searchsorted(sorted_key, key - half, "left") - 1
    expected = around * (config.burst_seconds / (2 * half))
    result[valid] = np.exp(-expected[valid]).astype(np.float32)
    return result


def group(frame: Frame, config: ScanConfig) -> Grouping:
    """Group a frame: candidates, scores, links, connected components."""
    rarity = rarities(frame, config)
    a, b = candidate_pairs(frame, config, rarity)
    links = score_pairs(frame, config, a, b, rarity)
    del rarity
    n = len(frame)
    graph = coo_matrix((np.ones(len(links.a), dtype=np.int8), (links.a, links.b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component, minlength=n)
    label = np.where(sizes[component] >= 2, component, -1)
    via, link = best_links(frame.times, links)
    return Grouping(label=label, via=via, link=link, links=links, candidates=len(a))


def best_links(times: np.ndarray, links: Links) -> tuple[np.ndarray, np.ndarray]:
    """For each incident, its strongest link to an earlier-opened partner (else any partner)."""
    n = len(times)
    via = np.full(n, -1, dtype=np.int64)
    link = np.full(n, -1, dtype=np.int64)
    if not len(links.a):
        return via, link
    index = np.arange(len(links.a))
    # each link attaches both ends; order so the best score is written last
    node = np.concatenate([links.b, links.a])
    other = np.concatenate([links.a, links.b])
    which = np.concatenate([index, index])
    earlier = times[other] < times[node]
    order = np.lexsort((links.score[which], earlier))
    via[node[order]] = other[order]
    link[node[order]] = which[order]
    return via, link


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a plain sort: faster here than numpy's hash-based unique)."""
    values = np.sort(values)
    if not len(values):
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _weight(config: ScanConfig, name: str) -> float:
    if name.startswith("label:"):
        return config.label_weights.get(name[len("label:"):], 0.0)
    return config.weights.get(name, 0.0)
