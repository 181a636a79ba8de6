"""Instance ids stitched across block faces (as cellpose's distributed segmentation).

Each block of a unit is labelled on its own (ids 1..n_b, no size filter). Objects that
touch across a face between two blocks are one object: a graph whose nodes are the
blocks' objects and whose edges are those touching pairs is split into connected
components (:func:`scipy.sparse.csgraph.connected_components`); each component becomes
one id, objects smaller than ``min_size`` pixels in total are dropped, and the ids are
numbered 1..M in the order of their first part (block by block in grid order).
Memory holds one block and the per-object tables, never the whole unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..io.lazy_arrays import read
from .blockwise import Block


def _face_pairs(
    instances, a: Block, b: Block, axis: int, offsets: dict, min_share: float = 0.0
) -> np.ndarray:
    """Global ids ``(P, 2)`` of objects touching across the face between ``a`` and ``b``
    (``b`` follows ``a`` along spatial ``axis``). With ``min_share`` > 0 only pairs that
    face each other over at least that share of the smaller one's face pixels: objects
    that fill the space (cells bounded by membranes) touch their neighbours' parts along
    the face too, where a membrane crosses it."""
    last = list(a.region)
    last[axis] = slice(a.region[axis].stop - 1, a.region[axis].stop)
    first = list(b.region)
    first[axis] = slice(b.region[axis].start, b.region[axis].start + 1)
    left = read(instances, a.lead + tuple(last)).astype(np.int64)
    right = read(instances, b.lead + tuple(first)).astype(np.int64)
    touching = (left > 0) & (right > 0)
    pairs = np.stack([left[touching] + offsets[a.grid], right[touching] + offsets[b.grid]], 1)
    if not pairs.size:
        return pairs.reshape(0, 2)
    pairs, count = np.unique(pairs, axis=0, return_counts=True)
    if min_share > 0:
        ids = [left[left > 0] + offsets[a.grid], right[right > 0] + offsets[b.grid]]
        on_face = np.bincount(np.concatenate(ids))
        smaller = np.minimum(on_face[pairs[:, 0]], on_face[pairs[:, 1]])
        pairs = pairs[count >= min_share * smaller]
    return pairs


def stitch_unit(instances, blocks: Sequence[Block], min_size: int, min_share: float = 0.0) -> None:
    """Rewrite the local ids of one unit's ``blocks`` in ``instances`` (any array that
    supports slicing and assignment: NumPy or zarr) as stitched ids 1..M; ``min_share``:
    see :func:`_face_pairs`."""
    offsets, sizes, total = {}, [np.zeros(1, np.int64)], 0
    for block in blocks:
        counts = np.bincount(read(instances, block.index).ravel().astype(np.int64))
        offsets[block.grid] = total
        sizes.append(counts[1:])
        total += counts.size - 1
    by_grid = {b.grid: b for b in blocks}
    pairs = [np.zeros((0, 2), np.int64)]
    for block in blocks:
        for axis in range(len(block.grid)):
            nxt = list(block.grid)
            nxt[axis] += 1
            if tuple(nxt) in by_grid:
                face = _face_pairs(instances, block, by_grid[tuple(nxt)], axis, offsets, min_share)
                pairs.append(face)
    edges = np.concatenate(pairs)
    graph = coo_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(total + 1, total + 1)
    )
    count, component = connected_components(graph, directed=False)
    size = np.bincount(component, weights=np.concatenate(sizes), minlength=count)
    first_node = np.full(count, total + 1)
    np.minimum.at(first_node, component[1:], np.arange(1, total + 1))
    kept = np.flatnonzero((size >= max(min_size, 1)) & (first_node <= total))
    kept = kept[np.argsort(first_node[kept])]
    new_id = np.zeros(count, np.uint32)
    new_id[kept] = np.arange(1, kept.size + 1, dtype=np.uint32)
    lut = new_id[component]
    lut[0] = 0
    for block in blocks:
        local = read(instances, block.index).astype(np.int64)
        start = offsets[block.grid]
        shifted = np.where(local > 0, local + start, 0)
        instances[block.index] = lut[shifted]
