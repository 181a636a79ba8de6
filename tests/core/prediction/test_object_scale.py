"""Object scale: the model remembers the size of the objects it was painted on, and an
image of another magnification is segmented at that size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unet.core import PredictionConfig, Trainer, TrainingConfig, predict, run_to_completion
from napari_unet.core.metrics import instance_f1
from napari_unet.core.model.unet import PRESETS, UNetConfig
from napari_unet.core.prediction import object_scale
from napari_unet.core.prediction.object_scale import (
    ObjectScale,
    equivalent_diameters,
    predict_at_model_scale,
    scale_factor,
)

RADIUS = 12  # pixels: the painted nuclei are 24 px across


def nuclei_image(shape: tuple[int, int], radius: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Blurred bright discs on a noisy background: image float32, instance labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.int32)
    for n in range(1, 400):
        cy, cx = rng.uniform(radius, shape[0] - radius), rng.uniform(radius, shape[1] - radius)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (radius * rng.uniform(0.85, 1.15)) ** 2
        if not (truth[ndi.binary_dilation(disc, iterations=2)] > 0).any():
            truth[disc] = n
    image = np.where(truth > 0, rng.uniform(0.6, 1.0), 0.1).astype(np.float32)
    image = ndi.gaussian_filter(image, 1.0) + rng.normal(0, 0.03, shape).astype(np.float32)
    return image.astype(np.float32), truth


def _strokes(truth: np.ndarray) -> np.ndarray:
    """1 = background, 2 = nucleus: a short line through the centre of every other
    nucleus, and background lines between them."""
    strokes = np.zeros(truth.shape, np.uint8)
    for n, where in enumerate(ndi.find_objects(truth)):
        if where is not None and n % 2 == 0:
            cy = (where[0].start + where[0].stop) // 2
            strokes[cy, where[1].start + 4 : where[1].stop - 4] = 2
    background = ndi.distance_transform_edt(truth == 0) > 4
    strokes[::16, :][background[::16, :]] = 1
    return strokes


def train_nuclei_model():
    """A tiny model trained 80 steps from strokes on nuclei ``2 * RADIUS`` px across."""
    image, truth = nuclei_image((192, 192), RADIUS, seed=0)
    config = TrainingConfig(max_steps=80, seed=0, device="cpu", batch_size=4)
    result = run_to_completion(
        Trainer(
            [image], [_strokes(truth)], config=config, model_config=UNetConfig(**PRESETS["tiny"])
        ).run()
    )
    return result.model, truth


@pytest.fixture(scope="module")
def nuclei_model():
    return train_nuclei_model()


def _run(work):
    events: list = []
    result = run_to_completion(work, events.append)
    return result, [e for e in events if isinstance(e, ObjectScale)]


def test_equivalent_diameter_of_a_disc_and_a_ball_is_their_diameter():
    yy, xx = np.mgrid[:64, :64]
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2 < 10**2).astype(np.int32)
    zz, yy, xx = np.mgrid[:32, :32, :32]
    ball = ((zz - 16) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2 < 8**2).astype(np.int32)
    assert equivalent_diameters(disc)[0] == pytest.approx(20, rel=0.03)
    assert equivalent_diameters(ball)[0] == pytest.approx(16, rel=0.03)


def test_scale_factor_is_one_within_the_tolerance_and_clipped_to_the_limits():
    assert scale_factor(24.0, 22.0) == 1.0
    assert scale_factor(24.0, 12.0) == pytest.approx(2.0)
    assert scale_factor(24.0, 6.0) == object_scale.LIMITS[1]
    assert scale_factor(24.0, 96.0) == object_scale.LIMITS[0]
    assert scale_factor(None, 12.0) == 1.0
    assert scale_factor(24.0, None) == 1.0


def test_training_stores_the_diameter_of_the_painted_objects(nuclei_model):
    model, _ = nuclei_model
    assert model.summary["object_diameter"] == pytest.approx(2 * RADIUS, rel=0.2)


def test_an_image_at_the_trained_scale_is_predicted_once_and_unchanged(nuclei_model):
    model, _ = nuclei_model
    image, _ = nuclei_image((160, 160), RADIUS, seed=1)
    config = PredictionConfig(device="cpu", instances=True)
    plain = run_to_completion(predict(model, image, config=config))
    matched, scales = _run(predict_at_model_scale(model, image, config=config))
    assert [s.factor for s in scales] == [1.0]
    np.testing.assert_array_equal(matched.labels, plain.labels)
    np.testing.assert_array_equal(matched.instances, plain.instances)


def test_smaller_objects_are_segmented_at_the_trained_size_and_resized_back(nuclei_model):
    model, _ = nuclei_model
    image, truth = nuclei_image((256, 256), RADIUS / 2.4, seed=2)  # a lower magnification
    config = PredictionConfig(device="cpu", instances=True, probabilities=True)
    plain = run_to_completion(predict(model, image, config=config))
    matched, scales = _run(predict_at_model_scale(model, image, config=config))
    assert scales[0].factor == pytest.approx(2.0, rel=0.1)
    assert "resized back" in scales[0].reason
    assert matched.labels.shape == matched.instances.shape == image.shape
    assert matched.probabilities.shape == (2, *image.shape)
    np.testing.assert_allclose(matched.probabilities.sum(0), 1.0, atol=1e-3)
    assert instance_f1(matched.instances, truth)["f1"] >= instance_f1(plain.instances, truth)["f1"]


def test_a_model_without_an_object_size_predicts_once_and_says_why(nuclei_model):
    model, _ = nuclei_model
    old = model.copy()
    old.summary.pop("object_diameter")
    image, _ = nuclei_image((128, 128), RADIUS / 2.4, seed=3)
    result, scales = _run(predict_at_model_scale(old, image, config=PredictionConfig(device="cpu")))
    assert scales[0].factor == 1.0 and "no object size" in scales[0].reason
    assert result.labels.shape == image.shape


def test_an_image_too_large_to_resize_in_memory_is_predicted_at_its_scale(
    nuclei_model, monkeypatch
):
    model, _ = nuclei_model
    monkeypatch.setattr(object_scale, "MAX_RESCALED_BYTES", 1000)
    image, _ = nuclei_image((128, 128), RADIUS / 2.4, seed=3)
    result, scales = _run(
        predict_at_model_scale(model, image, config=PredictionConfig(device="cpu"))
    )
    assert scales[0].factor == 1.0 and "GiB" in scales[0].reason
    assert result.labels.shape == image.shape
