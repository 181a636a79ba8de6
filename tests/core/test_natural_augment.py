"""Training against natural perturbations (core/natural_augment.py, TrainingConfig flag)."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.natural_augment import NaturalPerturbations, perturb_batch
from tests.conftest import isbi_slice


def _batch():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 48, 48, generator=gen), torch.randint(0, 2, (6, 48, 48),
                                                                  generator=gen)


def test_strength_0_leaves_the_batch_alone():
    x, y = _batch()
    x2, y2 = perturb_batch(x, y, 0.0, torch.Generator().manual_seed(0))
    assert x2 is x and y2 is y


def test_labels_follow_the_geometry_of_the_image():
    x, y = _batch()
    geometry_only = NaturalPerturbations(probability=1.0, max_blur=0.0, max_gamma=1.0,
                                         max_noise=0.0)
    image = (y + 1).float().unsqueeze(1)  # an image that is its labels
    moved, labels = perturb_batch(image, y, 1.0, torch.Generator().manual_seed(0),
                                  geometry_only)
    counted = labels >= 0
    # bilinear vs nearest differ only on class edges: most counted pixels agree exactly
    agree = (moved[:, 0].round().long() - 1 == labels)[counted].float().mean()
    assert agree > 0.9
    assert (~counted).any() and not torch.equal(labels, y)


def test_every_sample_can_be_perturbed_and_strength_scales_the_change():
    x, y = _batch()
    weak = perturb_batch(x, y, 0.2, torch.Generator().manual_seed(0))[0]
    strong = perturb_batch(x, y, 1.0, torch.Generator().manual_seed(0))[0]
    assert (strong - x).abs().mean() > (weak - x).abs().mean() > 0


def test_training_config_rejects_a_strength_outside_0_1():
    with pytest.raises(ValueError, match="natural_perturbations"):
        TrainingConfig(max_steps=1, natural_perturbations=1.5)


def test_training_with_natural_perturbations_runs_and_learns():
    image, classes = isbi_slice(0, crop=128)
    trainer = Trainer([image], [classes], dense=True,
                      model_config=UNetConfig(depth=2, base_channels=4),
                      config=TrainingConfig(max_time=None, max_steps=4, seed=0, batch_size=2,
                                            patch_size=(64, 64), validate_every_steps=4,
                                            natural_perturbations=1.0))
    result = run_to_completion(trainer.run())
    assert result.steps == 4 and all(torch.isfinite(torch.tensor(result.losses)))
