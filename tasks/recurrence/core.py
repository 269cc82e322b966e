"""The grouping itself: the links between incidents, and the groups they form.

Every link rests on evidence that names the failing thing; nothing links on a
shared field alone. Vectorised over arrays from :mod:`tasks.recurrence.features`:

1. The same message. Incidents whose templates (:mod:`models.text`, merged
   where one word varies: :mod:`tasks.recurrence.templates`) are equal form
   one message; each links to the one before it in time. How often a message
   recurs is evidence for it, never against.
2. A similar message. Messages people wrote (incidents with a description)
   are also compared by wording: TF-IDF nearest neighbours above a cosine
   floor, clustered as stars so that links do not chain
   (:mod:`tasks.recurrence.similar`).
3. The same alert: incidents with one fingerprint within ``window_days``.
4. Records without a message (an import whose titles are made of fields):
   candidate pairs in time, scored by their shared fields weighted by how rare
   each value is around then, linked inside the burst window above
   ``burst_min_score``, or across days on the same service with similar text.
5. Groups: connected components of the links (scipy), each incident joined to
   its group through its best link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from problemflow.tasks.recurrence.config import ScanConfig
from problemflow.tasks.recurrence.features import Frame, neighbour_pairs, subset
from problemflow.tasks.recurrence.similar import similar_nodes
from problemflow.tasks.recurrence.templates import merge

TEXT_BIT = "text"
_WORDY = re.compile(r"[^\W\d_]{2}")
RULE_BURST, RULE_RECURRENCE, RULE_MESSAGE, RULE_SIMILAR, RULE_FINGERPRINT = 1, 2, 3, 4, 5


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
    message: list[str] = field(default_factory=list)  # merged message templates, by cluster


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
        a, b = neighbour_pairs(codes[order], order, config.max_neighbours, times[order], window)
        found_a += a
        found_b += b
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
    """Group a frame: links of every kind, then connected components of the links."""
    n = len(frame)
    names = [name for name in frame.signals if _weight(config, name) > 0]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    cluster, merged = message_clusters(frame, config)
    message_links(frame, config, parts, cluster, merged)
    fingerprint_links(frame, config, parts)
    candidates = 0
    plain = np.flatnonzero(frame.template_codes < 0)
    if len(plain) >= 2:
        # incidents without a message (records made of fields only): bursts of shared, rare fields
        sub = subset(frame, plain)
        rarity = rarities(sub, config)
        a, b = candidate_pairs(sub, config, rarity)
        candidates = len(a)
        found = score_pairs(sub, config, a, b, rarity)
        parts.append((plain[found.a], plain[found.b], found.score, found.text, found.rule))
    if parts:
        a = np.concatenate([p[0] for p in parts]).astype(np.int64)
        b = np.concatenate([p[1] for p in parts]).astype(np.int64)
        score = np.concatenate([p[2] for p in parts]).astype(np.float32)
        text = np.concatenate([p[3] for p in parts]).astype(np.float32)
        rule = np.concatenate([p[4] for p in parts]).astype(np.int8)
    else:
        a = b = np.empty(0, dtype=np.int64)
        score = text = np.empty(0, dtype=np.float32)
        rule = np.empty(0, dtype=np.int8)
    mask = np.zeros(len(a), dtype=np.int64)
    for bit, name in enumerate(names):
        codes = frame.signals[name]
        mask |= ((codes[a] == codes[b]) & (codes[a] >= 0)).astype(np.int64) << bit
    links = Links(a, b, score, mask, text, rule, names)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component, minlength=n)
    label = np.where(sizes[component] >= 2, component, -1)
    via, link = best_links(frame.times, links)
    return Grouping(label=label, via=via, link=link, links=links, candidates=candidates + len(a),
                    message=merged)


def message_clusters(frame: Frame, config: ScanConfig) -> tuple[np.ndarray, list[str]]:
    """Per position, the cluster of its template after merging variable words (-1: no template)."""
    counts = np.bincount(frame.template_codes[frame.template_codes >= 0], minlength=len(frame.templates))
    of_template, merged = merge(frame.templates, counts, min_values=config.template_min_values)
    # a template with no word left ("<*>": a bare number or address) says nothing about what happened
    telling = [bool(_WORDY.search(t)) for t in frame.templates]
    lookup = np.asarray([c if ok else -1 for c, ok in zip(of_template, telling)] + [-1], dtype=np.int64)
    cluster = lookup[frame.template_codes]  # -1 indexes the appended -1
    return cluster, merged


def message_links(frame: Frame, config: ScanConfig, parts: list, cluster: np.ndarray, merged: list[str]) -> None:
    """The same message (template), or a similar one, on the same service: each incident links to the
    one before it in time (within ``message_window_days``)."""
    has = np.flatnonzero(cluster >= 0)
    if len(has) < 2:
        return
    if config.split_by_service and "service" in frame.signals:
        service = frame.signals["service"][has].astype(np.int64) + 1
    else:
        service = np.zeros(len(has), dtype=np.int64)
    key = cluster[has] * (int(service.max(initial=0)) + 1) + service
    nodes, node_of = np.unique(key, return_inverse=True)
    node_cluster = nodes // (int(service.max(initial=0)) + 1)
    node_service = nodes % (int(service.max(initial=0)) + 1)
    weight = np.bincount(node_of, minlength=len(nodes))
    centre = np.arange(len(nodes))
    closeness = np.ones(len(nodes), dtype=np.float32)
    first = np.full(len(nodes), -1, dtype=np.int64)
    first[node_of[::-1]] = has[::-1]  # each node's first position
    written = np.flatnonzero(frame.described[first])
    if config.similar_min_text < 1 and len(written) >= 2:
        # only messages people wrote are compared by wording: a machine's messages come from one
        # format string each, and two of them that differ in one word are two messages
        texts = [frame.texts[c] if c >= 0 else "" for c in frame.text_codes[first[written]].tolist()]
        sub_centre, sub_closeness = similar_nodes(
            texts, node_service[written], weight[written],
            floor=config.similar_min_text, max_neighbours=config.max_neighbours,
        )
        centre[written] = written[sub_centre]
        closeness[written] = sub_closeness
    final = centre[node_of]
    order = np.lexsort((frame.times[has], final))
    positions, final_sorted, node_sorted = has[order], final[order], node_of[order]
    same = final_sorted[1:] == final_sorted[:-1]
    gap = frame.times[positions[1:]] - frame.times[positions[:-1]]
    keep = same & (gap <= config.message_window_days * 86400)
    a, b = positions[:-1][keep], positions[1:][keep]
    exact = (node_sorted[1:] == node_sorted[:-1])[keep]
    # a similar (not identical) message: the closeness of whichever of the two is not the centre
    left, right = node_sorted[:-1][keep], node_sorted[1:][keep]
    similarity = np.where(exact, 1.0, np.minimum(closeness[left], closeness[right])).astype(np.float32)
    rule = np.where(exact, RULE_MESSAGE, RULE_SIMILAR).astype(np.int8)
    parts.append((a, b, similarity, similarity, rule))


def fingerprint_links(frame: Frame, config: ScanConfig, parts: list) -> None:
    """The same alert fingerprint within ``window_days``: each to the one before it."""
    codes = frame.signals.get("fingerprint")
    if codes is None or config.weights.get("fingerprint", 0) <= 0:
        return
    has = np.flatnonzero(codes >= 0)
    order = has[np.lexsort((frame.times[has], codes[has]))]
    same = codes[order[1:]] == codes[order[:-1]]
    close = (frame.times[order[1:]] - frame.times[order[:-1]]) <= config.window_seconds
    keep = same & close
    a, b = order[:-1][keep], order[1:][keep]
    ones = np.ones(len(a), dtype=np.float32)
    parts.append((a, b, ones, np.zeros(len(a), dtype=np.float32), np.full(len(a), RULE_FINGERPRINT, dtype=np.int8)))


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
