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
    vocabulary: dict[str, int] = {MASK: 0}
    rows = [[vocabulary.setdefault(token, len(vocabulary)) for token in template.split()] for template in templates]
    words = list(vocabulary)
    # tokens as compared; id 0 is the mask
    seen = {MASK: 0}
    as_compared = np.asarray([seen.setdefault(comparable(w), len(seen)) for w in words], dtype=np.int64)
    names = list(seen)
    weights = np.asarray(counts, dtype=np.int64)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    cluster = np.zeros(len(rows), dtype=np.int64)
    cluster_names: list[str] = []
    for length in np.unique(lengths).tolist():
        members = np.flatnonzero(lengths == length)
        if length == 0:
            cluster[members] = len(cluster_names)
            cluster_names.append("")
            continue
        matrix = as_compared[np.asarray([rows[i] for i in members.tolist()], dtype=np.int64)]
        for _ in range(passes):
            # one row per distinct shape: rows merged by a pass are one shape in the next
            shapes, inverse = np.unique(matrix, axis=0, return_inverse=True)
            inverse = inverse.ravel()
            shape_weight = np.bincount(inverse, weights=weights[members], minlength=len(shapes)).astype(np.int64)
            changed = _merge_pass(shapes, shape_weight, min_values, min_fixed)
            matrix = shapes[inverse]
            if not changed:
                break
        shapes, inverse = np.unique(matrix, axis=0, return_inverse=True)
        cluster[members] = len(cluster_names) + inverse.ravel()
        cluster_names.extend(" ".join(names[t] for t in shape.tolist()) for shape in shapes)
    return cluster.tolist(), cluster_names


_MULTIPLIERS = np.random.default_rng(20261127).integers(1, 2**62, 4096, dtype=np.int64).astype(np.uint64) | np.uint64(1)


def _merge_pass(matrix: np.ndarray, weight: np.ndarray, min_values: int, min_fixed: int) -> bool:
    """Turn into a mask the variable position of each row that has one; whether any changed."""
    rows, length = matrix.shape
    fixed = (matrix != 0).sum(axis=1)
    eligible = fixed - 1 >= min_fixed
    if length > len(_MULTIPLIERS) or not eligible.any():
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
