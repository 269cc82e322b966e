"""Templates that differ in one word which varies: ``session opened for user <*>``.

Masking (:mod:`models.text`) hides what has digits or a known shape. A user or
host name has neither, so ``session opened for user cyrus`` and ``... user
news`` keep two templates. Here templates of the same length that agree on
every token but one are compared as a set: when that one position takes at
least ``min_values`` different words, it is a variable and the templates merge
into one with ``<*>`` there. Two words (``opened`` / ``closed``) are not enough:
that is usually two messages.

Merging is by exact key (every other token equal), never by a chain of
similar pairs, so a merged template's members all share the same frame. Two
passes let a template have two such variables.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from problemflow.models.text import MASK

_LETTERS = re.compile(r"[^\W\d_]")


def comparable(token: str) -> str:
    """A token as compared: one left with no letters once masks are removed is itself a mask."""
    if MASK not in token and _LETTERS.search(token):
        return token
    rest = token.replace(MASK, "")
    return token if _LETTERS.search(rest) else MASK


def merge(templates: Sequence[str], counts: Sequence[int], *, min_values: int = 5,
          min_fixed: int = 3, passes: int = 2) -> tuple[list[int], list[str]]:
    """Cluster templates; returns each template's cluster index and each cluster's template.

    ``min_fixed``: tokens that must stay fixed once a position becomes a
    variable (``<*> set to <*>`` is too little left to be one message).

    Vectorised: templates of one length form a matrix of token ids; the key of
    "every token but position i" is a hash of the row without column i.
    """
    if not templates:
        return [], []
    # every token of every template gets an integer id in one pass (templates are single-spaced)
    lengths = np.fromiter((t.count(" ") + 1 for t in templates), dtype=np.int64, count=len(templates))
    flat = " ".join(templates).split(" ")
    vocabulary = {MASK: 0}
    for word in dict.fromkeys(flat):
        vocabulary.setdefault(word, len(vocabulary))
    token_ids = np.fromiter(map(vocabulary.__getitem__, flat), dtype=np.int64, count=len(flat))
    del flat
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # tokens as compared; id 0 is the mask
    seen = {MASK: 0}
    as_compared = np.asarray([seen.setdefault(comparable(w), len(seen)) for w in vocabulary], dtype=np.int64)
    names = list(seen)
    weights = np.asarray(counts, dtype=np.int64)
    cluster = np.zeros(len(templates), dtype=np.int64)
    cluster_names: list[str] = []
    for length in np.unique(lengths).tolist():
        members = np.flatnonzero(lengths == length)
        if length > len(_MULTIPLIERS):  # longer than any template: each is its own
            cluster[members] = len(cluster_names) + np.arange(len(members))
            cluster_names.extend(templates[m] for m in members.tolist())
            continue
        original = as_compared[token_ids[starts[members][:, None] + np.arange(length)]]
        matrix = original.copy()
        for _ in range(passes):
            # one row per distinct shape: rows merged by a pass are one shape in the next
            _, first, inverse = _distinct_rows(matrix)
            shapes = matrix[first]
            shape_weight = np.bincount(inverse, weights=weights[members], minlength=len(shapes)).astype(np.int64)
            changed = _merge_pass(shapes, shape_weight, min_values, min_fixed)
            matrix = shapes[inverse]
            if not changed:
                break
        _, first, inverse = _distinct_rows(matrix)
        cluster[members] = len(cluster_names) + inverse
        # a shape no pass changed is named by its template as written; a merged one by its tokens
        untouched = (matrix[first] == original[first]).all(axis=1)
        cluster_names.extend(
            templates[members[f]] if same else " ".join(names[t] for t in matrix[f].tolist())
            for f, same in zip(first.tolist(), untouched.tolist())
        )
    return cluster.tolist(), cluster_names


def _distinct_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows by a 64-bit hash (faster than sorting rows): hashes, first row of each, row -> index."""
    with np.errstate(over="ignore"):
        hashes = (matrix.astype(np.uint64) * _MULTIPLIERS[: matrix.shape[1]]).sum(axis=1, dtype=np.uint64)
    distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    return distinct, first, inverse.ravel()


# odd 64-bit multipliers, one per token position (templates have at most 500 characters: < 251 tokens)
_MULTIPLIERS = np.random.default_rng(20261127).integers(1, 2**62, 512, dtype=np.int64).astype(np.uint64) | np.uint64(1)


def _merge_pass(matrix: np.ndarray, weight: np.ndarray, min_values: int, min_fixed: int) -> bool:
    """Turn into a mask the variable position of each row that has one; whether any changed."""
    rows, length = matrix.shape
    fixed = (matrix != 0).sum(axis=1)
    eligible = fixed - 1 >= min_fixed
    if not eligible.any():
        return False
    multipliers = _MULTIPLIERS[:length]
    with np.errstate(over="ignore"):
        total = (matrix.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)
    best_weight = np.zeros(rows, dtype=np.int64)
    best_position = np.full(rows, -1, dtype=np.int64)
    for position in range(length):
        candidates = np.flatnonzero(eligible & (matrix[:, position] != 0))
        if len(candidates) < min_values:
            continue
        with np.errstate(over="ignore"):
            key = total[candidates] - matrix[candidates, position].astype(np.uint64) * multipliers[position]
        keys, key_of = np.unique(key, return_inverse=True)
        key_of = key_of.ravel()
        # rows with the same key differ only at this position (different values, or they would be one row)
        values = np.bincount(key_of, minlength=len(keys))
        key_weight = np.bincount(key_of, weights=weight[candidates], minlength=len(keys)).astype(np.int64)
        variable = values[key_of] >= min_values
        better = variable & (key_weight[key_of] > best_weight[candidates])
        chosen = candidates[better]
        best_weight[chosen] = key_weight[key_of][better]
        best_position[chosen] = position
    changed = np.flatnonzero(best_position >= 0)
    matrix[changed, best_position[changed]] = 0
    return len(changed) > 0
