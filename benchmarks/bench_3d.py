"""3D from strokes on three slices: 2D U-Net, 3D U-Net and a random forest, same strokes.

Run from the repository root (needs ``<repo>/../shared/data/plant3d`` / ``nuclei3d``)::

    python benchmarks/bench_3d.py                      # plant3d, 120 s per U-Net
    python benchmarks/bench_3d.py --data nuclei3d      # 3D nuclei
    python benchmarks/bench_3d.py --steps 60 --seed 1  # fixed work (loaded machine)

``plant3d`` (64 x 200 x 200, dense cell instances): classes 1 = cell boundary
(``find_boundaries`` of the 3D instances), 2 = cell interior; cells are scored
as interior components (:func:`instance_labels`) and as the regions the boundary class
encloses (:func:`boundary_instances`, in 3D), each method's cells from its own
probabilities. ``nuclei3d`` (100^3, 54 nuclei): classes 1 = background, 2 = nucleus;
nuclei as :func:`instance_labels` of the nucleus class. Simulated strokes
(:func:`simulate_strokes`) on three Z slices only (a quarter, half and three quarters
down). Then, in the same run:

* ``U-Net 2D``: a 2D model trained on the three painted slices, predicting every slice;
* ``U-Net 3D``: a 3D model (default 3D patch) trained on the volume with the same strokes;
* ``random forest``: 100 trees on 2D ``multiscale_basic_features`` (sigma 1-16) per slice.

Scores on the whole stack: Dice of class 1 (boundary / background), and instance F1 at
IoU 0.5 of the 3D instances against the true cells or nuclei.
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
from _common import (  # noqa: E402
    DATA,
    format_table,
    machine_summary,
    print_machine,
    repair_relabelled_slices,
)

from napari_unet.core import (  # noqa: E402
    Normalization,
    PredictionConfig,
    Trainer,
    TrainingConfig,
    UNetConfig,
    boundary_instances,
    instance_f1,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.device import available_cpu_cores  # noqa: E402
from napari_unet.core.prediction.instances import instance_labels  # noqa: E402

BOUNDARY, INTERIOR = 1, 2


def read_volume(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Image (Z, Y, X), true instances, classes (1 boundary or background, 2 interior or
    nucleus), sparse strokes on three Z slices."""
    from skimage.io import imread
    from skimage.segmentation import find_boundaries

    image = np.asarray(imread(DATA / name / "raw.tif"))
    truth, repaired = repair_relabelled_slices(np.asarray(imread(DATA / name / "label.tif")))
    if repaired:
        print(
            f"  {name}: Z slice(s) {repaired} of the truth numbered apart from the rest: put back"
        )
    if name == "plant3d":
        # boundaries of the 3D cells: a cell's top and bottom faces are membrane too (in a
        # Z slice they look like membrane). Per-slice boundaries called them interior, so
        # even the true classes merged cells stacked in Z (F1 of their interior parts 0.47;
        # 0.69 with 3D boundaries)
        boundary = find_boundaries(truth, mode="thick")
        classes = np.where(boundary | (truth == 0), BOUNDARY, INTERIOR).astype(np.uint8)
    else:
        classes = np.where(truth > 0, INTERIOR, BOUNDARY).astype(np.uint8)
    strokes = np.zeros_like(classes)
    for i, z in enumerate(painted_slices(image)):
        strokes[z] = simulate_strokes(
            classes[z],
            strokes_per_class=8,
            stroke_length=40,
            max_fraction=0.02,
            seed=1000 * seed + i,
        )
    return image, truth, classes, strokes


def painted_slices(image: np.ndarray) -> tuple[int, int, int]:
    depth = image.shape[0]
    return (depth // 4, depth // 2, 3 * depth // 4)


def scores(out: dict, truth: np.ndarray, classes: np.ndarray, cells: bool) -> list[float]:
    """Class-1 Dice, F1 of interior components, and (``cells``) F1 of boundary cells."""
    pred = out["labels"]
    p, t = pred == BOUNDARY, classes == BOUNDARY
    dice = 2 * int((p & t).sum()) / max(int(p.sum()) + int(t.sum()), 1)
    f1 = instance_f1(instance_labels(pred, min_size=64), truth)["f1"]
    if not cells:
        return [dice, f1]
    enclosed = boundary_instances(out["probabilities"], BOUNDARY, background_class=None)
    return [dice, f1, instance_f1(enclosed, truth)["f1"]]


def run_unet(image, strokes, dims: int, seconds: float, steps: int | None, seed: int) -> dict:
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu"
    )
    model_config = replace(UNetConfig(), spatial_dims=dims)
    result = run_to_completion(
        Trainer([image], [strokes], model_config=model_config, config=config).run()
    )
    start = time.perf_counter()
    predicted = run_to_completion(
        predict(result.model, image, config=PredictionConfig(device="cpu", probabilities=True))
    )
    return {
        "labels": predicted.labels,
        "probabilities": predicted.probabilities,
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
    for z in painted_slices(image):
        painted = strokes[z] > 0
        xs.append(feats(z)[painted])
        ys.append(strokes[z][painted])
    forest = RandomForestClassifier(
        n_estimators=100, n_jobs=available_cpu_cores(), random_state=seed
    ).fit(np.concatenate(xs), np.concatenate(ys))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    probabilities = np.stack(
        [
            forest.predict_proba(f.reshape(-1, f.shape[-1])).T.reshape((-1, *image.shape[1:]))
            for f in (feats(z) for z in range(image.shape[0]))
        ],
        axis=1,
    ).astype(np.float32)  # (K, Z, Y, X), classes 1..K in forest.classes_ order
    return {
        "labels": (forest.classes_[probabilities.argmax(0)]).astype(np.uint8),
        "probabilities": probabilities,
        "steps": "-",
        "train_s": train_s,
        "predict_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per U-Net")
    parser.add_argument("--steps", type=int, default=None, help="fixed steps instead of time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=("plant3d", "nuclei3d"), default="plant3d")
    args = parser.parse_args(argv)
    if not (DATA / args.data / "raw.tif").exists():
        raise SystemExit(f"{args.data} not found under {DATA.resolve()}.")
    print_machine(machine_summary())
    image, truth, classes, strokes = read_volume(args.data, args.seed)
    cells = args.data == "plant3d"
    rows = []
    for name, run in (
        ("random forest (2D features)", lambda: run_forest(image, strokes, args.seed)),
        ("U-Net 2D", lambda: run_unet(image, strokes, 2, args.seconds, args.steps, args.seed)),
        ("U-Net 3D", lambda: run_unet(image, strokes, 3, args.seconds, args.steps, args.seed)),
    ):
        out = run()
        found = scores(out, truth, classes, cells)
        rows.append([name, *found, out["steps"], out["train_s"], out["predict_s"]])
        print(f"  {name}: " + ", ".join(f"{v:.3f}" for v in found), flush=True)
    f1s = ["F1 interior parts", "F1 boundary cells"] if cells else ["nuclei F1@0.5"]
    print(format_table(["method", "class-1 Dice", *f1s, "steps", "train s", "predict s"], rows))
    print(
        f"\n{args.data}, strokes on Z {painted_slices(image)} "
        f"({100 * (strokes > 0).mean():.2f}% of voxels), seed {args.seed}. "
        f"Load average after: {machine_summary()['load_average']}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
