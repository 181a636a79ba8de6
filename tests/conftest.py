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
