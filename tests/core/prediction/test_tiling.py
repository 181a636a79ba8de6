"""Tiles cover the image, overlap by at least the overlap asked for, are multiples of the
network's size multiple, and their blending weights sum to a smooth, positive map with
full weight on the image border."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.prediction.tiling import axis_tiles, blend_weights, tile_grid


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(1000, 256, 32), (513, 512, 32), (64, 256, 8)]
)
def test_tiles_cover_the_axis_with_the_overlap_and_the_size_multiple(length, tile, overlap):
    size, starts = axis_tiles(length, tile, overlap, multiple=8)
    assert starts[0] == 0 and starts[-1] + size == length
    assert size == length or size % 8 == 0
    for a, b in zip(starts, starts[1:]):
        assert a + size - b >= min(overlap, tile // 2)  # consecutive tiles overlap


def test_blending_weights_sum_to_a_positive_map_with_full_weight_on_the_border():
    shape, overlap = (300, 200), (32, 32)
    size, windows = tile_grid(shape, (128, 128), overlap, multiple=8)
    total = np.zeros(shape, np.float32)
    for window in windows:
        total[window] += blend_weights(size, window, shape, overlap)
    assert total.min() > 0.5
    for corner in (total[0, 0], total[0, -1], total[-1, 0], total[-1, -1]):
        assert corner == pytest.approx(1.0)  # one tile there, at full weight
