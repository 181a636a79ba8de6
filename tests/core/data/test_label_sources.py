"""Merging training labels: strokes win, corrections count only where they differ from
the prediction as written, lazy arrays are read slice by slice."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import LabelSource, SourceKind, UserInputError, merge_label_sources


def _prediction(shape=(4, 32, 32), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 3, shape).astype(np.uint8)


def test_uncorrected_prediction_counts_nothing_and_is_refused():
    pred = _prediction()
    seg = LabelSource("seg", pred.copy(), SourceKind.CORRECTIONS, reference=pred)
    with pytest.raises(UserInputError, match="Nothing corrected: 'seg'"):
        merge_label_sources([seg])


def test_corrections_count_where_changed_and_strokes_win():
    pred = _prediction()
    corrected = pred.copy()
    corrected[1, :5, :5] = 3 - corrected[1, :5, :5]
    strokes = np.zeros_like(pred)
    strokes[1, 0, :3] = 1
    strokes[2, 10, 10:20] = 2
    merged = merge_label_sources(
        [
            LabelSource("strokes", strokes, SourceKind.STROKES),
            LabelSource("seg", corrected, SourceKind.CORRECTIONS, reference=pred),
        ]
    )
    expected = np.zeros_like(pred)
    expected[1, :5, :5] = corrected[1, :5, :5]
    expected[strokes > 0] = strokes[strokes > 0]
    np.testing.assert_array_equal(merged, expected)


def test_seed_layers_count_whole_but_lose_to_corrections_and_strokes():
    pred = _prediction()
    seed = np.ones_like(pred)
    corrected = pred.copy()
    corrected[0, 0, 0] = 3 - corrected[0, 0, 0]
    strokes = np.zeros_like(pred)
    strokes[0, 0, 0] = 2
    strokes[3, 3, 3] = 2
    merged = merge_label_sources(
        [
            LabelSource("strokes", strokes, SourceKind.STROKES),
            LabelSource("seg", corrected, SourceKind.CORRECTIONS, reference=pred),
            LabelSource("quick", seed, SourceKind.SEED),
        ]
    )
    assert merged[0, 0, 0] == 2 and merged[3, 3, 3] == 2 and merged[2, 5, 5] == 1


def test_lazy_reference_and_data_are_read_slice_by_slice():
    da = pytest.importorskip("dask.array")
    pred = _prediction()
    corrected = pred.copy()
    corrected[2, 7, 7] = 3 - corrected[2, 7, 7]
    merged = merge_label_sources(
        [
            LabelSource(
                "seg",
                da.from_array(corrected, chunks=(1, 32, 32)),
                SourceKind.CORRECTIONS,
                reference=da.from_array(pred, chunks=(1, 32, 32)),
            )
        ]
    )
    assert np.count_nonzero(merged) == 1 and merged[2, 7, 7] == corrected[2, 7, 7]


def test_mismatched_shapes_name_both_layers():
    with pytest.raises(UserInputError, match="'a'.*'b'"):
        merge_label_sources(
            [
                LabelSource("a", np.ones((4, 4), np.uint8), SourceKind.STROKES),
                LabelSource("b", np.ones((5, 4), np.uint8), SourceKind.STROKES),
            ]
        )
    with pytest.raises(UserInputError, match="no longer has the shape"):
        LabelSource(
            "seg",
            np.ones((4, 4), np.uint8),
            SourceKind.CORRECTIONS,
            reference=np.ones((5, 4), np.uint8),
        )
