"""The benchmarks' repair of ground truth whose one slice was numbered apart (plant3d's Z 31)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _common import repair_relabelled_slices  # noqa: E402


def _two_cells_stacked() -> np.ndarray:
    """Two 3D cells side by side through 5 slices: ids 1 and 2, (Z, Y, X) = (5, 4, 6)."""
    truth = np.ones((5, 4, 6), np.uint16)
    truth[:, :, 3:] = 2
    return truth


def test_a_slice_numbered_apart_takes_back_its_neighbours_ids() -> None:
    truth = _two_cells_stacked()
    truth[2] = np.where(truth[2] == 1, 71, 72)
    truth[2, 0, 3] = 71  # a pixel the export gave to the wrong cell stays a minority vote
    fixed, repaired = repair_relabelled_slices(truth)
    assert repaired == [2]
    expected = _two_cells_stacked()
    expected[2, 0, 3] = 1
    np.testing.assert_array_equal(fixed, expected)


def test_consistent_truth_and_truth_labelled_slice_by_slice_are_left_alone() -> None:
    truth = _two_cells_stacked()
    fixed, repaired = repair_relabelled_slices(truth)
    assert repaired == []
    np.testing.assert_array_equal(fixed, truth)
    per_slice = truth + 2 * np.arange(5, dtype=np.uint16)[:, None, None]  # ids new on every slice
    fixed, repaired = repair_relabelled_slices(per_slice)
    assert repaired == []
    np.testing.assert_array_equal(fixed, per_slice)
