"""The study's block design: which comparisons each participant slot gets, and on which side.

Every (item, system pair) is rated ``ratings`` times. One replicate of all (item, pair) comparisons
is dealt into blocks of ``per_block`` trials so that each block covers as many different pairs (then
items) as it can: the block takes, in turn, the pair it has seen least, then that pair's item it has
seen least. Within a block, left/right is an Eulerian orientation of the block's pair multigraph, so
every system is on the left and on the right equally often (±1). Each block is followed by its
mirror (same comparisons, sides swapped), so every (item, pair) is also seen in both orders across
participants, and a study stopped after an even number of slots is exactly counterbalanced.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

import numpy as np

Comparison = tuple[str, str, str]  # (item_id, left arm, right arm)


def balanced_orientation(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Orient each edge (u, v) so every vertex's out- and in-degree differ by at most one.

    Odd-degree vertices are joined to a virtual vertex, which makes every degree even; walking an
    Euler circuit (Hierholzer) and orienting each edge the way it is walked gives out == in for
    every vertex; dropping the virtual edges leaves |out − in| ≤ 1.
    """
    virtual = object()
    degree = Counter(v for e in edges for v in e)
    all_edges: list[tuple] = list(edges) + [(v, virtual) for v in sorted(degree, key=str) if degree[v] % 2]
    adjacency: dict = defaultdict(list)
    for k, (u, v) in enumerate(all_edges):
        adjacency[u].append((k, v))
        adjacency[v].append((k, u))
    used = [False] * len(all_edges)
    oriented: list[tuple | None] = [None] * len(all_edges)
    for start in list(adjacency):
        stack = [start]
        while stack:
            v = stack[-1]
            while adjacency[v] and used[adjacency[v][-1][0]]:
                adjacency[v].pop()
            if adjacency[v]:
                k, w = adjacency[v].pop()
                used[k] = True
                oriented[k] = (v, w)
                stack.append(w)
            else:
                stack.pop()
    return [oriented[k] for k in range(len(edges))]  # type: ignore[misc]


def _deal(combos: list[tuple[str, tuple[str, str]]], per_block: int, rng: np.random.Generator) -> list[list]:
    """Deal one replicate of (item, pair) comparisons into blocks, round-robin, most varied first."""
    n_blocks = max(1, math.ceil(len(combos) / per_block))
    remaining: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item, pair in (combos[k] for k in rng.permutation(len(combos))):
        remaining[pair].append(item)
    blocks: list[list] = [[] for _ in range(n_blocks)]
    pair_seen = [Counter() for _ in range(n_blocks)]
    item_seen = [Counter() for _ in range(n_blocks)]
    left = len(combos)
    while left:
        for b in rng.permutation(n_blocks):
            if not left or len(blocks[b]) >= per_block:
                continue
            pair = min((p for p in remaining if remaining[p]), key=lambda p: (pair_seen[b][p], -len(remaining[p])))
            items = remaining[pair]
            k = min(range(len(items)), key=lambda j: item_seen[b][items[j]])
            item = items.pop(k)
            blocks[b].append((item, pair))
            pair_seen[b][pair] += 1
            item_seen[b][item] += 1
            left -= 1
    return [b for b in blocks if b]


def design_blocks(items: list[str], arms: list[str], *, ratings: int, per_block: int, seed: int) -> list[list[Comparison]]:
    """Blocks of comparisons (one per participant slot), in the order slots should be filled."""
    rng = np.random.default_rng([seed, 1117])
    combos = [(i, p) for i in items for p in itertools.combinations(arms, 2)]
    blocks: list[list[Comparison]] = []
    for replicate in range(math.ceil(ratings / 2)):
        for block in _deal(combos, per_block, rng):
            sides = balanced_orientation([pair if rng.random() < 0.5 else pair[::-1] for _, pair in block])
            oriented = [(item, left, right) for (item, _), (left, right) in zip(block, sides, strict=True)]
            blocks.append([oriented[k] for k in rng.permutation(len(oriented))])
            if 2 * replicate + 1 < ratings:  # the mirror: the same comparisons, sides swapped, in a new order
                mirror = [(item, right, left) for item, left, right in oriented]
                blocks.append([mirror[k] for k in rng.permutation(len(mirror))])
    return blocks


__all__ = ["Comparison", "balanced_orientation", "design_blocks"]
