"""The image the demo and the screenshots open: the real fluorescence nuclei image of
``../shared/data/nuclei2d`` (BBBC038, see its README) when it is there, else the
synthetic sample; strokes are painted (simulated) on its left half only, so the right
half measures the model honestly on nuclei it never saw painted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUCLEI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nuclei2d"


def load_sample() -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(name, image, strokes on the left half, true classes 1 = background / 2 = nucleus)."""
    from napari_unet.core.simulated_strokes import simulate_strokes

    if (NUCLEI / "img2d.tif").exists():
        from skimage.io import imread

        image = imread(NUCLEI / "img2d.tif")
        truth = np.where(imread(NUCLEI / "mask2d.tif") > 0, 2, 1).astype(np.uint8)
        name = "nuclei"
    else:
        from napari_unet.sample_data import synthetic_image

        image, truth = synthetic_image()
        truth = truth.astype(np.uint8)
        name = "synthetic nuclei"
    half = truth.shape[1] // 2
    strokes = np.zeros_like(truth)
    strokes[:, :half] = simulate_strokes(truth[:, :half], strokes_per_class=10, seed=0)
    return name, image, strokes, truth


def unseen_half_dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice of the nucleus class (2) on the right half of the image, never painted."""
    from napari_unet.core import dice_iou_per_class

    half = truth.shape[1] // 2
    return dice_iou_per_class(prediction[:, half:], truth[:, half:], classes=[2])[2]["dice"]
