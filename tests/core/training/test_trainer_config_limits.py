"""TrainingConfig refuses budgets that would train forever or silently turn a feature off."""

from __future__ import annotations

import math

import pytest

from napari_unet.core import TrainingConfig


@pytest.mark.parametrize(
    "settings",
    [
        {"max_time": math.nan},
        {"max_time": math.inf},
        {"max_time": -1.0},
        {"max_time": 0.0},
        {"adversarial_eps": -0.5},
        {"adversarial_eps": math.nan},
        {"adversarial_eps": math.inf},
        {"adversarial_steps": 0},
    ],
    ids=str,
)
def test_training_config_refuses(settings):
    with pytest.raises(ValueError):
        TrainingConfig(**settings)


def test_training_config_accepts_sane_budgets():
    config = TrainingConfig(max_time=0.5, adversarial_eps=0.0, adversarial_steps=1)
    assert config.max_time == 0.5
