"""3D from strokes on three slices: 2D U-Net, 3D U-Net and a random forest, same strokes.

Run from the repository root (needs ``<repo>/../shared/data/plant3d``)::

    python benchmarks/bench_3d.py                      # 120 s per U-Net
    python benchmarks/bench_3d.py --steps 60 --seed 1  # fixed work (loaded machine)

``plant3d`` (64 x 200 x 200, dense cell instances): classes 1 = cell boundary
(``find_boundaries`` of the instances, per Z slice), 2 = cell interior. Simulated strokes
(:func:`simulate_strokes`) on Z slices 16, 32 and 48 only. Then, in the same run:

* ``U-Net 2D``: a 2D model trained on the three painted slices, predicting every slice;
* ``U-Net 3D``: a 3D model (default 3D patch) trained on the volume with the same strokes;
* ``random forest``: 100 trees on 2D ``multiscale_basic_features`` (sigma 1-16) per slice.

Scores on the whole stack: boundary Dice, and instance F1 at IoU 0.5 of the 3D instances
(:func:`instance_labels` of the interior) against the true cells.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, format_table, machine_summary, print_machine  # noqa: E402

from napari_unet.core import (  # noqa: E402
    Normalization,
    PredictionConfig,
    Trainer,
    TrainingConfig,
    UNetConfig,
    instance_f1,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.device import available_cpu_cores  # noqa: E402
from napari_unet.core.prediction.instances import instance_labels  # noqa: E402

PLANT = DATA / "plant3d"
PAINTED_SLICES = (16, 32, 48)
BOUNDARY, INTERIOR = 1, 2


def read_plant(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Image (Z, Y, X), true instances, classes (1 boundary, 2 interior), sparse strokes."""
    from skimage.io import imread
    from skimage.segmentation import find_boundaries

    image = np.asarray(imread(PLANT / "raw.tif"))
    truth = np.asarray(imread(PLANT / "label.tif"))
    boundary = np.stack([find_boundaries(s, mode="thick") for s in truth])
    classes = np.where(boundary | (truth == 0), BOUNDARY, INTERIOR).astype(np.uint8)
    strokes = np.zeros_like(classes)
    for i, z in enumerate(PAINTED_SLICES):
        strokes[z] = simulate_strokes(
            classes[z],
            strokes_per_class=8,
            stroke_length=40,
            max_fraction=0.02,
            seed=1000 * seed + i,
        )
    return image, truth, classes, strokes


def scores(pred_classes: np.ndarray, truth: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    p, t = pred_classes == BOUNDARY, classes == BOUNDARY
    dice = 2 * int((p & t).sum()) / max(int(p.sum()) + int(t.sum()), 1)
    f1 = instance_f1(instance_labels(pred_classes, min_size=64), truth)["f1"]
    return dice, f1


def run_unet(image, strokes, dims: int, seconds: float, steps: int | None, seed: int) -> dict:
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu"
    )
    model_config = replace(UNetConfig(), spatial_dims=dims)
    result = run_to_completion(
        Trainer([image], [strokes], model_config=model_config, config=config).run()
    )
    start = time.perf_counter()
    labels = run_to_completion(
        predict(result.model, image, config=PredictionConfig(device="cpu"))
    ).labels
    return {
        "labels": labels,
        "steps": result.steps,
        "train_s": result.elapsed,
        "predict_s": time.perf_counter() - start,
    }


def run_forest(image, strokes, seed: int) -> dict:
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    low, high = Normalization().statistics(image[np.newaxis])
    norm = Normalization.apply(image[np.newaxis], low, high)[0]

    def feats(z: int) -> np.ndarray:
        return multiscale_basic_features(norm[z], sigma_min=1, sigma_max=16).astype(np.float32)

    start = time.perf_counter()
    xs, ys = [], []
    for z in PAINTED_SLICES:
        painted = strokes[z] > 0
        xs.append(feats(z)[painted])
        ys.append(strokes[z][painted])
    forest = RandomForestClassifier(
        n_estimators=100, n_jobs=available_cpu_cores(), random_state=seed
    ).fit(np.concatenate(xs), np.concatenate(ys))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    labels = np.stack(
        [
            forest.predict(f.reshape(-1, f.shape[-1])).reshape(image.shape[1:])
            for f in (feats(z) for z in range(image.shape[0]))
        ]
    ).astype(np.uint8)
    return {
        "labels": labels,
        "steps": "-",
        "train_s": train_s,
        "predict_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per U-Net")
    parser.add_argument("--steps", type=int, default=None, help="fixed steps instead of time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (PLANT / "raw.tif").exists():
        raise SystemExit(f"plant3d not found under {DATA.resolve()}.")
    print_machine(machine_summary())
    image, truth, classes, strokes = read_plant(args.seed)
    rows = []
    for name, run in (
        ("random forest (2D features)", lambda: run_forest(image, strokes, args.seed)),
        ("U-Net 2D", lambda: run_unet(image, strokes, 2, args.seconds, args.steps, args.seed)),
        ("U-Net 3D", lambda: run_unet(image, strokes, 3, args.seconds, args.steps, args.seed)),
    ):
        out = run()
        dice, f1 = scores(out["labels"], truth, classes)
        rows.append([name, dice, f1, out["steps"], out["train_s"], out["predict_s"]])
        print(f"  {name}: boundary Dice {dice:.3f}, instance F1 {f1:.3f}", flush=True)
    print(
        format_table(
            ["method", "boundary Dice", "instance F1@0.5", "steps", "train s", "predict s"], rows
        )
    )
    print(
        f"\nplant3d, strokes on Z {PAINTED_SLICES} ({100 * (strokes > 0).mean():.2f}% of "
        f"voxels), seed {args.seed}. Load average after: {machine_summary()['load_average']}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
