"""Cells from a boundary class: gaps in membranes do not merge cells, faint lines do not
split them, 3D follows the voxel size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unet.core import boundary_instances
from napari_unet.core.prediction.boundary_instances import (
    instances_from_boundary_map,
    merge_regions,
)


def two_cells_with_a_gap(gap: int = 3) -> np.ndarray:
    """Membrane probability ``(60, 100)``: two cells side by side, their shared membrane
    (3 px thick) open over ``gap`` rows in its middle."""
    boundary = np.full((60, 100), 0.05, np.float32)
    boundary[:3] = boundary[-3:] = 0.95
    boundary[:, :3] = boundary[:, -3:] = 0.95
    boundary[:, 49:52] = 0.95
    boundary[30 - gap // 2 : 30 - gap // 2 + gap, 49:52] = 0.05
    return boundary


def as_probabilities(boundary: np.ndarray) -> np.ndarray:
    """``(2, *S)``: class 1 = membrane, class 2 = interior."""
    return np.stack([boundary, 1 - boundary])


def test_a_gap_in_the_shared_membrane_leaves_two_cells():
    boundary = two_cells_with_a_gap(gap=1)
    assert ndi.label(boundary < 0.5)[1] == 1  # the interior is one connected component
    cells = boundary_instances(as_probabilities(boundary), boundary_class=1)
    assert cells.dtype == np.uint32
    assert len(np.unique(cells[cells > 0])) == 2
    left, right = cells[30, 20], cells[30, 80]
    assert left != right and left > 0 and right > 0


def test_a_wider_gap_still_leaves_two_cells():
    cells = boundary_instances(as_probabilities(two_cells_with_a_gap(gap=5)), boundary_class=1)
    assert cells[30, 20] != cells[30, 80]


def test_a_faint_internal_line_does_not_split_the_cell():
    boundary = two_cells_with_a_gap(gap=0)
    boundary[:, 49:52] = 0.3  # a faint line where the membrane was
    cells = boundary_instances(as_probabilities(boundary), boundary_class=1)
    assert len(np.unique(cells)) == 1


def test_regions_meeting_on_a_faint_face_merge_and_on_a_membrane_do_not():
    regions = np.zeros((20, 30), int)
    regions[:, :10], regions[:, 10:20], regions[:, 20:] = 1, 2, 3
    boundary = np.zeros((20, 30), np.float32)
    boundary[:, 9:11] = 0.2  # faint face between 1 and 2
    boundary[:, 19:21] = 0.9  # membrane between 2 and 3
    merged = merge_regions(regions, boundary, merge_threshold=0.5)
    assert merged[0, 0] == merged[0, 15] != merged[0, 25]
    kept = merge_regions(regions, boundary, merge_threshold=0.1)
    assert len(np.unique(kept)) == 3


def test_small_regions_join_a_neighbour_rather_than_leave_holes():
    boundary = two_cells_with_a_gap(gap=0)
    boundary[8:17, 18:27] = 0.95  # a membrane ring around a 5x5 px pocket
    boundary[10:15, 20:25] = 0.05
    cells = instances_from_boundary_map(boundary, min_size=100)
    assert (cells > 0).all()
    assert len(np.unique(cells)) == 2
    kept = instances_from_boundary_map(boundary, min_size=0)
    assert len(np.unique(kept)) == 3  # without min_size the pocket is a cell


def test_background_class_pixels_are_in_no_cell():
    boundary = two_cells_with_a_gap(gap=0)
    probabilities = np.stack([np.zeros_like(boundary), boundary, 1 - boundary])
    probabilities[:, :, 70:] = [[[0.9]], [[0.05]], [[0.05]]]  # outside: background class 1
    cells = boundary_instances(probabilities, boundary_class=2, background_class=1)
    assert (cells[:, 70:] == 0).all()
    assert cells[30, 20] != cells[30, 60] and cells[30, 60] > 0


def test_3d_with_anisotropic_spacing_keeps_cells_apart_through_a_gap():
    """Slices 5 times thicker than pixels: with the spacing, the distance to the membrane
    grows in physical units and the gap's neck still splits the seeds."""
    volume = np.stack([two_cells_with_a_gap(gap=1)] * 8)
    volume[0] = volume[-1] = 0.95  # membranes above and below
    cells = instances_from_boundary_map(volume, spacing=(5.0, 1.0, 1.0))
    assert cells.shape == volume.shape
    assert len(np.unique(cells[cells > 0])) == 2
    assert cells[4, 30, 20] != cells[4, 30, 80]
    assert (cells[1:-1, 30, 20] == cells[4, 30, 20]).all()  # one cell through the slices


def test_a_2d_model_on_a_stack_segments_each_slice_with_its_own_ids():
    stack = np.stack([two_cells_with_a_gap(gap=1)] * 3)
    cells = boundary_instances(as_probabilities(stack), boundary_class=1, spatial_dims=2)
    assert len(np.unique(cells[cells > 0])) == 6
    assert set(np.unique(cells[0])).isdisjoint(np.unique(cells[1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boundary_class": 3}, "boundary_class must be a class value 1..2"),
        ({"boundary_class": 1, "background_class": 1}, "must differ"),
        ({"boundary_class": 1, "threshold": 1.5}, "threshold must be in"),
        ({"boundary_class": 1, "spacing": (1.0, 1.0, 1.0)}, "spacing must be 2 positive"),
        ({"boundary_class": 1, "min_size": -1}, "min_size must not be negative"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        boundary_instances(as_probabilities(two_cells_with_a_gap()), **kwargs)


def test_cells_of_a_sharp_two_pixel_membrane_map_stay_apart():
    """A perfect prediction of cells packed like plant tissue: each cell's outer pixels
    are membrane (``find_boundaries``, mode "thick": 2 px between neighbours), 0 or 1.
    Smoothing brings such a membrane's middle down to about 0.7: merging on the smoothed
    map joined true cells."""
    from skimage.segmentation import find_boundaries

    rng = np.random.default_rng(3)
    seeds = np.zeros((120, 120), int)
    seeds[tuple(rng.integers(0, 120, (2, 25)))] = np.arange(1, 26)
    truth = ndi.distance_transform_edt(seeds == 0, return_indices=True)[1]
    truth = seeds[truth[0], truth[1]]  # Voronoi cells of 25 random points
    boundary = find_boundaries(truth, mode="thick").astype(np.float32)
    cells = boundary_instances(as_probabilities(boundary), boundary_class=1, min_size=0)
    found = {(t, c) for t, c in zip(truth[boundary == 0], cells[boundary == 0])}
    assert len({c for _, c in found}) == len({t for t, _ in found})  # one cell per true cell
    assert len(found) == len({t for t, _ in found})  # no true cell split in two
