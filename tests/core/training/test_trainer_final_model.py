"""A finished run keeps its final weights unless an earlier validation was clearly better
(beyond the noise of the held-out pixels); a stopped run keeps the best so far."""

from __future__ import annotations

import torch

from napari_unet.core import Trainer, TrainingConfig, UNetConfig
from napari_unet.core.training.trainer import ValidationScores
from tests.conftest import isbi_slice


def _trainer() -> Trainer:
    image, classes = isbi_slice(0, crop=96)
    return Trainer(
        [image],
        [classes],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=4),
        config=TrainingConfig(
            max_time=None, max_steps=2, seed=0, device="cpu", batch_size=2, patch_size=(64, 64)
        ),
    )


def _weights_equal(model, network) -> bool:
    kept = model.network.state_dict()
    return all(torch.equal(kept[k].cpu(), v.cpu()) for k, v in network.state_dict().items())


def _final(mean: float, pixels: int) -> ValidationScores:
    return ValidationScores(
        step=9,
        dice=(mean, mean),
        mean_dice=mean,
        elapsed=1.0,
        improved=False,
        pixels=(pixels, pixels),
    )


def test_final_weights_replace_an_earlier_best_within_the_validation_noise():
    trainer = _trainer()
    earlier = trainer.best
    trainer._best_score = 0.80
    with torch.no_grad():
        next(trainer.network.parameters()).add_(1.0)  # the weights moved since that best
    trainer._keep_final_if_as_good(_final(0.78, pixels=400), step=9, elapsed=1.0)  # noise 0.05
    assert trainer.best is not earlier and _weights_equal(trainer.best, trainer.network)
    assert trainer.best.summary["rounds"][-1]["validation_dice"] == 0.78


def test_an_earlier_best_clearly_better_than_the_final_weights_is_kept():
    trainer = _trainer()
    earlier = trainer.best
    trainer._best_score = 0.80
    trainer._keep_final_if_as_good(_final(0.70, pixels=400), step=9, elapsed=1.0)
    assert trainer.best is earlier
    trainer._keep_final_if_as_good(_final(0.77, pixels=10_000), step=9, elapsed=1.0)  # noise 0.02
    assert trainer.best is earlier
