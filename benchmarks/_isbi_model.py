"""Shared by the attack benchmarks: ISBI slices and a default model trained on them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "isbi2012"


def isbi(index: int, crop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from skimage.io import imread

    image = np.asarray(imread(DATA / "images" / f"{index}.png"))
    truth = np.asarray(imread(DATA / "labels" / f"{index}.png"))
    return (image[:crop, :crop], truth[:crop, :crop]) if crop else (image, truth)


def default_model(
    path: str | None,
    seconds: float,
    crop: int | None,
    seed: int = 0,
    steps: int | None = None,
    save: str | None = None,
    natural_perturbations: float | None = None,
):
    """Load ``path``, or train the default U-Net on dense labels of slices 0-2.

    ``steps``: train that many steps (batch 4, 128x128 patches) instead of ``seconds``:
    on a shared, loaded CPU a time budget gives a different (often useless) model each run.
    ``save``: write the trained model there.
    ``natural_perturbations``: as :class:`TrainingConfig` (``None`` = its default augmentation,
    0 = the legacy one).
    """
    from napari_unet.core import Trainer, TrainingConfig, load_model, run_to_completion, save_model

    if path:
        return load_model(path)
    pairs = [isbi(i, crop) for i in range(3)]
    start = time.perf_counter()
    config = (
        TrainingConfig(max_time=seconds, seed=seed)
        if steps is None
        else TrainingConfig(
            max_time=None,
            max_steps=steps,
            seed=seed,
            batch_size=4,
            patch_size=(128, 128),
            validate_every_steps=50,
            natural_perturbations=natural_perturbations,
        )
    )
    trainer = Trainer([p[0] for p in pairs], [p[1] for p in pairs], dense=True, config=config)
    result = run_to_completion(trainer.run())
    print(
        f"trained {result.steps} steps in {time.perf_counter() - start:.0f} s, "
        f"validation Dice {result.best_validation_dice:.3f}"
    )
    if save:
        save_model(result.model, save)
    return result.model
