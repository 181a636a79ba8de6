"""Shared fixtures: the real data in ../shared/data, read in place, never copied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def isbi_slice(i: int, crop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ISBI 2012 slice ``i``: (image uint8, classes uint8 with 1 = membrane, 2 = interior)."""
    from skimage.io import imread

    folder = SHARED_DATA / "isbi2012"
    if not folder.is_dir():
        pytest.skip(f"real data not found at {folder}")
    image = imread(folder / "images" / f"{i}.png")
    classes = np.where(imread(folder / "labels" / f"{i}.png") > 127, 2, 1).astype(np.uint8)
    if crop:
        image, classes = image[:crop, :crop], classes[:crop, :crop]
    return image, classes


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


ISBI_CROP = 256


def _isbi_dense(index: int) -> tuple[np.ndarray, np.ndarray]:
    """ISBI slice ``index`` cropped to 256x256: (image uint8, mask 0 = membrane / 255 = cell)."""
    from skimage.io import imread

    folder = SHARED_DATA / "isbi2012"
    image = imread(folder / "images" / f"{index}.png")[:ISBI_CROP, :ISBI_CROP]
    labels = imread(folder / "labels" / f"{index}.png")[:ISBI_CROP, :ISBI_CROP]
    return np.asarray(image), np.asarray(labels)


@pytest.fixture(scope="session")
def isbi_test_slice() -> tuple[np.ndarray, np.ndarray]:
    """A 128x128 uint8 ISBI crop not used for training, with its 0/255 truth."""
    if not (SHARED_DATA / "isbi2012").is_dir():
        pytest.skip(f"ISBI data not found at {SHARED_DATA / 'isbi2012'}")
    image, labels = _isbi_dense(6)
    return image[:128, :128], labels[:128, :128]


@pytest.fixture(scope="session")
def isbi_model():
    """A small U-Net (depth 2, width 8) trained 60 steps (seed 0) on 2 dense ISBI crops."""
    if not (SHARED_DATA / "isbi2012").is_dir():
        pytest.skip(f"ISBI data not found at {SHARED_DATA / 'isbi2012'}")
    from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion

    pairs = [_isbi_dense(i) for i in (0, 1)]
    trainer = Trainer([p[0] for p in pairs], [p[1] for p in pairs], dense=True,
                      model_config=UNetConfig(depth=2, base_channels=8),
                      config=TrainingConfig(max_time=None, max_steps=60, seed=0,
                                            validate_every_steps=60, batch_size=4))
    return run_to_completion(trainer.run()).model
