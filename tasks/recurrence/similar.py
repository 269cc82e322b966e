"""Messages worded differently that say the same thing: nearest neighbours on TF-IDF.

The nodes are distinct messages (a template on a service). Candidates come
from blocks, so the work stays near-linear: each message is filed under every
pair of its three rarest words that some other message also has (within its service when the scan splits by
service), and only messages filed together are compared. A pair is similar
when the cosine of its TF-IDF vectors (words and character n-grams) reaches
the floor.

Similar pairs do not chain: clusters are stars. The message with the most
similar neighbours (then the most incidents) becomes a centre and takes its
unassigned neighbours; every member of a cluster is similar to its centre
itself, never only to a neighbour of a neighbour.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from problemflow.models.text import MASK
from problemflow.tasks.recurrence.features import neighbour_pairs

_WORD = re.compile(r"[^\W\d_][\w'-]*")
BLOCK_WORDS = 3


def words(text: str) -> list[str]:
    """Lower-case words of a message, masks and numbers left out."""
    return _WORD.findall(text.replace(MASK, " ").lower())


def vectoriser_pair() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    return (
        TfidfVectorizer(analyzer=words, sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, dtype=np.float32,
                        preprocessor=lambda t: t.replace(MASK, " ").lower()),
    )


def vectors(texts: list[str]):
    """Rows of unit length: word TF-IDF and character 3-4-gram TF-IDF, weighted equally."""
    word_vectoriser, char_vectoriser = vectoriser_pair()
    word_matrix = word_vectoriser.fit_transform(texts)
    char_matrix = char_vectoriser.fit_transform(texts)
    combined = hstack([word_matrix, char_matrix]).tocsr()
    norms = np.sqrt(np.asarray(combined.multiply(combined).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    from scipy.sparse import diags

    return (diags(1.0 / norms) @ combined).tocsr()


def candidates(texts: list[str], blocks: np.ndarray, max_neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of node indexes that share a service block and two of their rarest words."""
    tokenised = [sorted(set(words(t))) for t in texts]
    frequency = Counter(w for ws in tokenised for w in ws)
    keys: dict[tuple, int] = {}
    key_of, node_of = [], []
    for node, ws in enumerate(tokenised):
        if len(ws) < 2:
            continue
        # a word no other message has can find no partner: the rarest words shared with someone
        rare = sorted((w for w in ws if frequency[w] > 1), key=lambda w: (frequency[w], w))[:BLOCK_WORDS]
        for i in range(len(rare)):
            for j in range(i + 1, len(rare)):
                pair = (int(blocks[node]),) + tuple(sorted((rare[i], rare[j])))
                key_of.append(keys.setdefault(pair, len(keys)))
                node_of.append(node)
    if not key_of:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    key_arr = np.asarray(key_of, dtype=np.int64)
    node_arr = np.asarray(node_of, dtype=np.int64)
    order = np.lexsort((node_arr, key_arr))
    key_arr, node_arr = key_arr[order], node_arr[order]
    found_a, found_b = neighbour_pairs(key_arr, node_arr, max_neighbours)
    if not found_a:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return pairs[:, 0], pairs[:, 1]


def cosine(matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(a), dtype=np.float32)
    step = 200_000
    for start in range(0, len(a), step):
        stop = start + step
        out[start:stop] = np.asarray(matrix[a[start:stop]].multiply(matrix[b[start:stop]]).sum(axis=1)).ravel()
    return out


def stars(n: int, a: np.ndarray, b: np.ndarray, similarity: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each node's centre (itself when it is one or stands alone), from similar pairs, without chaining."""
    centre = np.arange(n)
    if not len(a):
        return centre
    degree = np.bincount(np.concatenate([a, b]), minlength=n)
    neighbours: dict[int, list[tuple[float, int]]] = {}
    for x, y, s in zip(a.tolist(), b.tolist(), similarity.tolist()):
        neighbours.setdefault(x, []).append((s, y))
        neighbours.setdefault(y, []).append((s, x))
    assigned = np.zeros(n, dtype=bool)
    for node in sorted(neighbours, key=lambda v: (-degree[v], -weight[v], v)):
        if assigned[node]:
            continue
        assigned[node] = True
        for _, other in sorted(neighbours[node], reverse=True):
            if not assigned[other]:
                assigned[other] = True
                centre[other] = node
    return centre


def similar_nodes(texts: list[str], blocks: np.ndarray, weight: np.ndarray, *, floor: float,
                  max_neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Each node's centre and its similarity to it (1 for centres and lone nodes)."""
    n = len(texts)
    a, b = candidates(texts, blocks, max_neighbours)
    centre = np.arange(n)
    closeness = np.ones(n, dtype=np.float32)
    if not len(a):
        return centre, closeness
    needed = np.unique(np.concatenate([a, b]))
    row = np.full(n, -1, dtype=np.int64)
    row[needed] = np.arange(len(needed))
    matrix = vectors([texts[i] for i in needed.tolist()])
    sims = cosine(matrix, row[a], row[b])
    keep = sims >= floor
    a, b, sims = a[keep], b[keep], sims[keep]
    centre = stars(n, a, b, sims, weight)
    lookup = {(int(x), int(y)): float(s) for x, y, s in zip(a, b, sims)}
    for node in np.flatnonzero(centre != np.arange(n)).tolist():
        c = int(centre[node])
        closeness[node] = lookup.get((min(node, c), max(node, c)), floor)
    return centre, closeness
