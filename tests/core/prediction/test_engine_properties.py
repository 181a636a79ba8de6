"""Property-based tests of shapes, dtypes and bad inputs of prediction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_unet.core import (
    ClassInfo,
    Normalization,
    PredictionConfig,
    TrainedModel,
    UNet,
    UNetConfig,
    UserInputError,
    predict,
    run_to_completion,
)

DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64, bool]


def _model(k: int = 2, channels: int = 1, dims: int = 2) -> TrainedModel:
    net = UNet(
        UNetConfig(in_channels=channels, num_classes=k, spatial_dims=dims, depth=2, base_channels=4)
    ).eval()
    names = tuple(f"c{i}" for i in range(1, k + 1))
    return TrainedModel(net, ClassInfo(names, tuple(range(1, k + 1))), Normalization())


MODEL2 = _model(3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(1, 40), min_size=2, max_size=4),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_predictions_have_the_image_shape_and_valid_classes(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    image = (
        (rng.random(shape) * 300).astype(dtype) if dtype is not bool else rng.random(shape) > 0.5
    )
    result = run_to_completion(
        predict(MODEL2, image, config=PredictionConfig(tile=16, overlap=4, instances=True))
    )
    assert result.labels.shape == tuple(shape)
    assert result.labels.min() >= 1 and result.labels.max() <= 3
    assert result.instances.shape == tuple(shape)
    assert result.completed.all()


@settings(max_examples=10, deadline=None)
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), y=st.integers(0, 9), x=st.integers(0, 9))
def test_non_finite_pixels_are_reported(bad, y, x):
    image = np.ones((10, 10), np.float32)
    image[y, x] = bad
    with pytest.raises(UserInputError, match="NaN or infinite"):
        run_to_completion(predict(MODEL2, image))


@settings(max_examples=10, deadline=None)
@given(channels=st.integers(2, 5))
def test_channel_mismatch_is_reported(channels):
    image = np.zeros((channels, 12, 12), np.uint8)
    with pytest.raises(UserInputError, match=f"has {channels}"):
        run_to_completion(predict(MODEL2, image, channel_axis=0))


def test_rgb_images_with_an_rgb_model():
    model = _model(2, channels=3)
    image = np.zeros((20, 24, 3), np.uint8)
    assert run_to_completion(predict(model, image, rgb=True)).labels.shape == (20, 24)


def test_3d_model_on_a_time_series_of_volumes():
    model = _model(2, dims=3)
    image = np.random.default_rng(0).random((2, 5, 12, 12)).astype(np.float32)  # (T, Z, Y, X)
    result = run_to_completion(predict(model, image))
    assert result.labels.shape == image.shape and result.completed.shape == (2,)
