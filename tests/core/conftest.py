"""A small model trained once per session on real ISBI strokes, for the core tests."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


@pytest.fixture(scope="session")
def isbi_crops() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three 192x192 ISBI crops: (image uint8, classes 1 = membrane / 2 = interior)."""
    return [isbi_slice(i, crop=192) for i in range(3)]


@pytest.fixture(scope="session")
def isbi_strokes(isbi_crops) -> list[np.ndarray]:
    return [
        simulate_strokes(c, strokes_per_class=6, stroke_length=40, max_fraction=0.02, seed=i)
        for i, (_, c) in enumerate(isbi_crops)
    ]


@pytest.fixture(scope="session")
def trained(isbi_crops, isbi_strokes):
    """A TrainingResult of 60 steps of the default model on two crops' strokes."""
    trainer = Trainer(
        [isbi_crops[0][0], isbi_crops[1][0]],
        isbi_strokes[:2],
        model_config=UNetConfig(),
        config=TrainingConfig(
            max_time=None, max_steps=60, seed=0, device="cpu", batch_size=4, validate_every_steps=20
        ),
    )
    return run_to_completion(trainer.run())
