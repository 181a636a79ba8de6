"""Instance ids stitched across block faces: objects that cross a face become one, and
space-filling cells (bounded by membranes) are joined only to the part they face over a
good share of the face, never through a pixel where a membrane crosses it."""

from __future__ import annotations

import numpy as np

from napari_unet.core.prediction.blockwise import BlockPlan
from napari_unet.core.prediction.stitching import stitch_unit


def test_an_object_crossing_a_block_face_becomes_one_and_small_ones_go():
    labelled = np.zeros((32, 64), np.uint32)
    labelled[4:12, 20:32], labelled[4:12, 32:40] = 1, 1  # one object, two blocks' ids 1
    labelled[20:22, 2:4] = 2  # 4 pixels
    blocks = BlockPlan.create((32, 64), 2, halo=4, block_edge=32).blocks()
    stitch_unit(labelled, blocks, min_size=5)
    assert np.unique(labelled).tolist() == [0, 1]
    assert (labelled[4:12, 20:40] == 1).all()


def test_cells_crossing_a_block_face_are_joined_and_their_neighbours_are_not():
    """Space-filling cells (no gap between them) labelled block by block, the membrane
    crossing the face one pixel off on the other side (as two blocks' watersheds do):
    joined by the share of the face they have in common, never through that pixel."""
    truth = np.zeros((32, 64), np.int64)
    truth[:16], truth[16:] = 1, 2  # two cells, one above the other, across the face x=32
    blocks = BlockPlan.create((32, 64), 2, halo=4, block_edge=32).blocks()
    labelled = np.zeros_like(truth, dtype=np.uint32)
    labelled[:, :32] = truth[:, :32]
    labelled[:, 32:] = np.where(np.arange(32)[:, None] < 17, 1, 2)  # membrane 1 px lower
    for share, cells in ((0.5, 2), (0.0, 1)):
        stitched = labelled.copy()
        stitch_unit(stitched, blocks, min_size=0, min_share=share)
        assert len(np.unique(stitched)) == cells
    stitch_unit(labelled, blocks, min_size=0, min_share=0.5)
    assert (labelled[:16] == labelled[0, 0]).all() and (labelled[17:] == labelled[-1, 0]).all()
