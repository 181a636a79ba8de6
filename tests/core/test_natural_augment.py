"""Training against natural perturbations: one strength over the training augmentation."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.augment import (
    CONTRAST_AUGMENT, LEGACY_AUGMENT, AugmentConfig, augment_batch,
)
from napari_unet.core.natural_augment import natural_augment
from tests.conftest import isbi_slice


def test_strength_0_is_the_augmentation_without_natural_perturbations():
    cfg = natural_augment(0.0)
    assert cfg == LEGACY_AUGMENT
    assert not cfg.rotate and cfg.zoom == (1.0, 1.0) and cfg.noise == cfg.blur == cfg.gamma == 0


def test_strength_1_is_the_default_augmentation_with_contrast_and_between_is_milder():
    full = natural_augment(1.0)
    assert full == CONTRAST_AUGMENT
    assert full.gamma > 0 and full.intensity_scale > 0 and full.zoom == AugmentConfig().zoom
    half = natural_augment(0.5)
    assert half.rotate and 0 < half.noise < full.noise and 0 < half.blur < full.blur
    assert full.zoom[0] < half.zoom[0] < 1.0 < half.zoom[1] < full.zoom[1]


def test_training_config_strength_sets_the_augmentation_and_none_keeps_it():
    assert TrainingConfig(max_steps=1, natural_perturbations=0.0).augment == LEGACY_AUGMENT
    custom = AugmentConfig(noise=0.3)
    assert TrainingConfig(max_steps=1, augment=custom).augment == custom
    with pytest.raises(ValueError, match="natural_perturbations"):
        TrainingConfig(max_steps=1, natural_perturbations=1.5)


def test_stronger_natural_perturbations_change_training_batches_more():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 48, 48, generator=gen), torch.randint(0, 2, (8, 48, 48), generator=gen)
    change = []
    for strength in (0.0, 1.0):
        cfg = natural_augment(strength)
        moved, _ = augment_batch(x, y, cfg, torch.Generator().manual_seed(0))
        change.append(float((moved - x).abs().mean()))
    assert change[1] > change[0]


def test_training_with_natural_perturbations_0_runs():
    image, classes = isbi_slice(0, crop=128)
    trainer = Trainer([image], [classes], dense=True,
                      model_config=UNetConfig(depth=2, base_channels=4),
                      config=TrainingConfig(max_time=None, max_steps=3, seed=0, batch_size=2,
                                            patch_size=(64, 64), validate_every_steps=3,
                                            natural_perturbations=0.0))
    result = run_to_completion(trainer.run())
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(result.losses)))
