"""A small model trained once per test session on real ISBI 2012 slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ISBI = DATA / "isbi2012"
CROP = 256


def _isbi(index: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage.io import imread

    image = imread(ISBI / "images" / f"{index}.png")[:CROP, :CROP]
    labels = imread(ISBI / "labels" / f"{index}.png")[:CROP, :CROP]
    return np.asarray(image), np.asarray(labels)


@pytest.fixture(scope="session")
def isbi_test_slice() -> tuple[np.ndarray, np.ndarray]:
    """A 128x128 uint8 ISBI crop not used for training, with its 0/255 truth."""
    if not ISBI.is_dir():
        pytest.skip(f"ISBI data not found at {ISBI}")
    image, labels = _isbi(6)
    return image[:128, :128], labels[:128, :128]


@pytest.fixture(scope="session")
def isbi_model():
    """A small U-Net (depth 2, width 8) trained 60 steps (seed 0) on 2 dense ISBI crops."""
    if not ISBI.is_dir():
        pytest.skip(f"ISBI data not found at {ISBI}")
    from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion

    pairs = [_isbi(i) for i in (0, 1)]
    trainer = Trainer([p[0] for p in pairs], [p[1] for p in pairs], dense=True,
                      model_config=UNetConfig(depth=2, base_channels=8),
                      config=TrainingConfig(max_time=None, max_steps=60, seed=0,
                                            validate_every_steps=60, batch_size=4))
    return run_to_completion(trainer.run()).model
