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
from collections import defaultdict
from typing import Sequence

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
    """
    current = [tuple(comparable(t) for t in template.split()) for template in templates]
    cluster = list(range(len(templates)))
    for _ in range(passes):
        distinct: dict[tuple[str, ...], int] = {}
        members: list[list[int]] = []
        weight: list[int] = []
        for index, tokens in enumerate(current):
            slot = distinct.setdefault(tokens, len(distinct))
            if slot == len(members):
                members.append([])
                weight.append(0)
            members[slot].append(index)
            weight[slot] += int(counts[index])
        shapes = list(distinct)
        keys: dict[tuple, dict[str, int]] = defaultdict(dict)
        for slot, tokens in enumerate(shapes):
            fixed = sum(1 for t in tokens if t != MASK)
            if fixed - 1 < min_fixed:
                continue
            for position, token in enumerate(tokens):
                if token == MASK:
                    continue
                key = (len(tokens), position, tokens[:position] + tokens[position + 1:])
                keys[key][token] = slot
        best: dict[int, tuple[int, tuple]] = {}
        for key, values in keys.items():
            if len(values) < min_values:
                continue
            total = sum(weight[slot] for slot in values.values())
            for slot in values.values():
                if slot not in best or best[slot][0] < total:
                    best[slot] = (total, key)
        if not best:
            break
        merged_shape: dict[int, tuple[str, ...]] = {}
        for slot, (_, (_, position, _rest)) in best.items():
            tokens = shapes[slot]
            merged_shape[slot] = tokens[:position] + (MASK,) + tokens[position + 1:]
        for slot, tokens in merged_shape.items():
            for index in members[slot]:
                current[index] = tokens
    names: dict[tuple[str, ...], int] = {}
    for index, tokens in enumerate(current):
        cluster[index] = names.setdefault(tokens, len(names))
    return cluster, [" ".join(tokens) for tokens in names]
