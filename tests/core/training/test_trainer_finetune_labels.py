"""Fine-tuning keeps the meaning of the labels it is given: strokes (0 = unpainted) for a
model first trained on dense masks, dense masks for a model first trained on strokes.
Real ISBI crops, real training steps."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.core.data.labels import IGNORE, ClassInfo
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.cli.bad_input_files import tiny_model
from tests.conftest import isbi_slice

CONFIG = TrainingConfig(
    max_time=None, max_steps=2, seed=0, device="cpu", batch_size=2, validate_every_steps=1
)


@pytest.fixture(scope="module")
def crop():
    image, classes = isbi_slice(1, crop=96)
    strokes = simulate_strokes(classes, seed=1, max_fraction=0.03)
    return image, classes, strokes


def _model(dense: bool):
    model = tiny_model()
    model.classes = (
        ClassInfo(("background", "object"), (0, 255), dense=True)
        if dense
        else ClassInfo(("background", "object"), (1, 2), dense=False)
    )
    return model


def _targets(trainer: Trainer) -> tuple[np.ndarray, np.ndarray]:
    """All targets of the training data (training and validation pixels), flat."""
    units = trainer.data.units
    train = np.concatenate([u.targets.ravel() for u in units])
    val = np.concatenate([u.validation.ravel() for u in units])
    return np.where(train != IGNORE, train, val), train


def test_strokes_on_a_dense_model_learn_the_strokes_not_the_unpainted_zeros(crop):
    image, _, strokes = crop
    trainer = Trainer([image], [strokes], dense=False, init=_model(dense=True), config=CONFIG)
    targets, _ = _targets(trainer)
    painted = targets[targets != IGNORE]
    assert painted.size == int((strokes > 0).sum())  # unpainted 0 pixels are ignored
    assert np.bincount(painted, minlength=2).tolist() == [
        int((strokes == 1).sum()),
        int((strokes == 2).sum()),
    ]
    result = run_to_completion(trainer.run())
    assert result.steps == 2 and result.model.classes.source_values == (0, 255)


def test_dense_masks_on_a_sparse_model_learn_every_pixel(crop):
    image, classes, _ = crop
    mask = np.where(classes == 2, 255, 0).astype(np.uint8)
    trainer = Trainer([image], [mask], dense=True, init=_model(dense=False), config=CONFIG)
    targets, _ = _targets(trainer)
    painted = targets[targets != IGNORE]  # (units are padded with IGNORE to a patch)
    assert painted.size == mask.size  # every pixel is a class, 0 included
    np.testing.assert_array_equal(
        np.bincount(painted, minlength=2), [int((mask == 0).sum()), int((mask == 255).sum())]
    )
    assert run_to_completion(trainer.run()).steps == 2


def test_dense_class_values_on_a_dense_model_map_as_classes(crop):
    """A corrected prediction (values 1..K) given as a dense mask to a 0/255 model."""
    image, classes, _ = crop
    trainer = Trainer([image], [classes], dense=True, init=_model(dense=True), config=CONFIG)
    targets, _ = _targets(trainer)
    np.testing.assert_array_equal(
        np.bincount(targets[targets != IGNORE], minlength=2),
        [int((classes == 1).sum()), int((classes == 2).sum())],
    )


def test_dense_masks_with_more_values_than_classes_are_refused(crop):
    from napari_unet.core.errors import UserInputError

    image, classes, _ = crop
    three = classes.copy()
    three[:5] = 7
    with pytest.raises(UserInputError, match="3 different values but the model has 2"):
        Trainer([image], [three * 10], dense=True, init=_model(dense=False), config=CONFIG)
