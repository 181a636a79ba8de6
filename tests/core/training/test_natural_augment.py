"""Training against natural perturbations: one strength over the training augmentation."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.training.augment import (
    CONTRAST_AUGMENT,
    LEGACY_AUGMENT,
    AugmentConfig,
    augment_batch,
)
from napari_unet.core.training.natural_augment import natural_augment
from tests.conftest import isbi_slice


def test_strength_0_is_the_augmentation_without_natural_perturbations():
    cfg = natural_augment(0.0)
    assert cfg == LEGACY_AUGMENT
    assert not cfg.rotate and cfg.zoom == (1.0, 1.0) and cfg.noise == cfg.blur == cfg.gamma == 0


def test_strength_1_is_the_default_augmentation_and_between_is_milder():
    default = natural_augment(1.0)
    assert default == AugmentConfig()
    assert default.gamma == 0 and default.intensity_scale == 0
    half = natural_augment(0.5)
    assert half.rotate and 0 < half.noise < default.noise and 0 < half.blur < default.blur
    assert default.zoom[0] < half.zoom[0] < 1.0 < half.zoom[1] < default.zoom[1]


def test_strength_2_adds_contrast_and_gamma_to_the_default_augmentation():
    full = natural_augment(2.0)
    assert full == CONTRAST_AUGMENT
    assert full.gamma > 0 and full.intensity_scale > 0 and full.zoom == AugmentConfig().zoom
    between = natural_augment(1.5)
    assert 0 < between.gamma < full.gamma and 0 < between.intensity_shift < full.intensity_shift
    assert between.zoom == full.zoom and between.noise == full.noise


def test_train_widget_and_cli_default_strength_is_the_package_default():
    from napari_unet.core.training.natural_augment import DEFAULT_STRENGTH

    assert natural_augment(DEFAULT_STRENGTH) == TrainingConfig(max_steps=1).augment


def test_training_config_strength_sets_the_augmentation_and_none_keeps_it():
    assert TrainingConfig(max_steps=1, natural_perturbations=0.0).augment == LEGACY_AUGMENT
    custom = AugmentConfig(noise=0.3)
    assert TrainingConfig(max_steps=1, augment=custom).augment == custom
    with pytest.raises(ValueError, match="natural_perturbations"):
        TrainingConfig(max_steps=1, natural_perturbations=2.5)


def test_stronger_natural_perturbations_change_training_batches_more():
    # a centred blob: flips and 90-degree turns (strength 0) leave it as it is, so what
    # changes it is the perturbations: zoom, noise, blur (1), then contrast and gamma (2)
    grid = torch.linspace(-1, 1, 48)
    blob = torch.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / 0.2)
    x = blob.expand(16, 1, 48, 48).clone()
    y = (x[:, 0] > 0.5).long()
    change = []
    for strength in (0.0, 1.0, 2.0):
        moved, _ = augment_batch(x, y, natural_augment(strength), torch.Generator().manual_seed(0))
        change.append(float((moved - x).abs().mean()))
    assert change[0] < change[1] < change[2]


def test_training_with_natural_perturbations_0_runs():
    image, classes = isbi_slice(0, crop=128)
    trainer = Trainer(
        [image],
        [classes],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=4),
        config=TrainingConfig(
            max_time=None,
            max_steps=3,
            seed=0,
            batch_size=2,
            patch_size=(64, 64),
            validate_every_steps=3,
            natural_perturbations=0.0,
        ),
    )
    result = run_to_completion(trainer.run())
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(result.losses)))
