import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_unet.core import Normalization, UserInputError, channels_first
from napari_unet.core.data.labels import IGNORE, TargetEncoder, check_labels, class_info_from_labels


def test_sparse_labels_ignore_zero_and_map_classes():
    lab = np.array([[0, 1, 2], [2, 0, 1]], np.uint8)
    info = class_info_from_labels([lab], dense=False)
    assert info.num_classes == 2 and info.source_values == (1, 2)
    np.testing.assert_array_equal(TargetEncoder(info).encode(lab), [[IGNORE, 0, 1], [1, IGNORE, 0]])


def test_dense_labels_map_sorted_values_to_classes():
    lab = np.array([[0, 255], [255, 0]], np.uint8)
    info = class_info_from_labels([lab], dense=True)
    assert info.source_values == (0, 255) and info.dense
    np.testing.assert_array_equal(TargetEncoder(info).encode(lab), [[0, 1], [1, 0]])


def test_empty_labels_ask_for_strokes():
    with pytest.raises(UserInputError, match="No strokes"):
        class_info_from_labels([np.zeros((8, 8), np.uint8)], dense=False)


def test_one_class_asks_for_another_class():
    with pytest.raises(UserInputError, match="Only class 2 is painted"):
        class_info_from_labels([np.full((8, 8), 2, np.uint8)], dense=False)


def test_class_beyond_an_existing_model_is_named():
    lab = np.array([[1, 3]], np.uint8)
    with pytest.raises(UserInputError, match="class 3"):
        class_info_from_labels([lab], dense=False, num_classes=2)


def test_label_checks_name_the_problem():
    with pytest.raises(UserInputError, match="integers"):
        check_labels(np.zeros((4, 4), np.float32), (4, 4))
    with pytest.raises(UserInputError, match=r"shape \(4, 4\).*\(5, 5\)"):
        check_labels(np.zeros((4, 4), np.uint8), (5, 5))
    with pytest.raises(UserInputError, match="negative"):
        check_labels(np.full((4, 4), -1, np.int32), (4, 4))


def test_channel_layouts():
    assert channels_first(np.zeros((5, 6))).shape == (1, 5, 6)
    assert channels_first(np.zeros((5, 6, 3)), rgb=True).shape == (3, 5, 6)
    assert channels_first(np.zeros((4, 2, 5, 6)), channel_axis=1).shape == (2, 4, 5, 6)
    with pytest.raises(UserInputError, match="RGB"):
        channels_first(np.zeros((5, 6)), rgb=True)
    with pytest.raises(UserInputError, match="numeric"):
        channels_first(np.zeros((5, 6), complex))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
def test_normalization_accepts_every_dtype(dtype):
    rng = np.random.default_rng(0)
    image = rng.random((1, 32, 32)) * (1 if dtype in (bool, np.float32, np.float64) else 200)
    image = image.astype(dtype) if dtype is not bool else image > 0.5
    low, high = Normalization().statistics(image)
    out = Normalization.apply(image, low, high)
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_normalization_is_invariant_to_gain_and_offset():
    rng = np.random.default_rng(1)
    image = rng.random((1, 64, 64)).astype(np.float32)
    norm = Normalization()
    a = norm.apply(image, *norm.statistics(image))
    scaled = image * 40 + 7
    b = norm.apply(scaled, *norm.statistics(scaled))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_nan_is_a_clear_error():
    image = np.ones((1, 8, 8), np.float32)
    image[0, 2, 3] = np.nan
    with pytest.raises(UserInputError, match="NaN"):
        Normalization().statistics(image)
    with pytest.raises(UserInputError, match="NaN"):
        Normalization.apply(image, np.zeros(1, np.float32), np.ones(1, np.float32))


@settings(max_examples=20, deadline=None)
@given(value=st.floats(-1e6, 1e6), shape=st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_constant_images_normalize_without_division_by_zero(value, shape):
    image = np.full((1,) + shape, value, np.float64)
    out = Normalization.apply(image, *Normalization().statistics(image))
    assert np.isfinite(out).all()
