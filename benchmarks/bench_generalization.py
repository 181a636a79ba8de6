"""Generalization from a few strokes: train on one nuclei image, segment 15 others.

Run from the repository root (needs ``<repo>/../shared/data/{nuclei2d,dsb2018-dev}``)::

    python benchmarks/bench_generalization.py                    # 60 s, seed 0
    python benchmarks/bench_generalization.py --ablate           # every mechanism off in turn
    python benchmarks/bench_generalization.py --seconds 30 --seed 1 --isbi --json out.json

Protocol (issue 8): simulated strokes (:func:`simulate_strokes`: short strokes inside 25
nuclei and 25 in the background, ~0.7% of the pixels) on ``nuclei2d``; then, in the same
run and from the same strokes:

* ``U-Net <variant>``: :class:`Trainer` for ``--seconds`` on the CPU, then, as
  ``napari-unet predict --instances`` does, ``predict`` on each dev image (``+ object size
  matching``: ``predict_at_model_scale``, see ``core.object_scale``);
* ``random forest``: 100 trees on scikit-image's ``multiscale_basic_features`` (sigma 1-16)
  of the percentile-normalized image, then the issue's distance-transform watershed, and
  (a stronger baseline) this package's default watershed;
* ``Otsu + watershed``: no training; Otsu threshold, then the same watershed.

Scores: mean over the 15 dev images of instance F1 at IoU 0.5 and of foreground Dice.
``today`` is the training and instance settings before issue 8 (its steps/s is the
reference for the training speed). ``--isbi`` adds the ISBI cross-slice membrane Dice
of ``bench_strokes.py`` (U-Net with the new defaults, and the forest).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, format_table, machine_summary, print_machine, write_json  # noqa: E402

from napari_unet.core import (  # noqa: E402
    Normalization,
    PredictionConfig,
    Trainer,
    TrainingConfig,
    instance_f1,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.device import available_cpu_cores  # noqa: E402
from napari_unet.core.prediction.instances import instance_labels  # noqa: E402
from napari_unet.core.prediction.object_scale import predict_at_model_scale  # noqa: E402
from napari_unet.core.training.augment import CONTRAST_AUGMENT, LEGACY_AUGMENT, AugmentConfig  # noqa: E402

NUCLEI = DATA / "nuclei2d"
DEV = DATA / "dsb2018-dev"
BACKGROUND, NUCLEUS = 1, 2

# Each variant: (training-config overrides, prediction-config overrides). "new" is the
# default of the package; each ablation switches one mechanism of it off ("-") or one
# that is off by default on ("+").
DEFAULT_AUG = AugmentConfig()
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "new (defaults)": ({}, {}),
    "today": ({"augment": LEGACY_AUGMENT}, {"instance_method": "distance"}),
    "- zoom/rotation": ({"augment": replace(DEFAULT_AUG, zoom=(1.0, 1.0), rotate=False)}, {}),
    "- noise/blur/low-res": (
        {"augment": replace(DEFAULT_AUG, noise=0.0, blur=0.0, low_resolution=0.0)},
        {},
    ),
    "+ gamma/contrast": ({"augment": CONTRAST_AUGMENT}, {}),
    "- probability watershed": ({}, {"instance_method": "distance"}),
    "+ object size matching": ({}, {"object_size": True}),
    "+ test-time augmentation": ({}, {"tta": True}),
}

DEFAULT_VARIANTS = ["new (defaults)", "today", "+ object size matching"]


def read_dev() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The dev images: ``[(name, image (Y, X) uint8 channel 0, instances (Y, X))]``."""
    from skimage.io import imread

    out = []
    for path in sorted((DEV / "images").glob("*.png")):
        image = imread(path)
        if image.ndim == 3:
            image = image[..., 0]
        truth = imread(DEV / "labels" / f"{path.stem}.tif")
        out.append((path.stem[:8], np.asarray(image), np.asarray(truth)))
    return out


def read_train(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``nuclei2d`` image, simulated strokes (1 = background, 2 = nucleus), painted fraction."""
    from skimage.io import imread

    image = np.asarray(imread(NUCLEI / "img2d.tif"))
    mask = np.asarray(imread(NUCLEI / "mask2d.tif"))
    classes = np.where(mask > 0, NUCLEUS, BACKGROUND).astype(np.uint8)
    strokes = simulate_strokes(
        classes, strokes_per_class=25, stroke_length=12, max_fraction=0.01, seed=seed
    )
    return image, strokes, float((strokes > 0).mean())


def score(instances: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Instance F1 at IoU 0.5 and foreground Dice of one image."""
    f1 = instance_f1(instances, truth)["f1"]
    p, t = instances > 0, truth > 0
    total = int(p.sum()) + int(t.sum())
    dice = 1.0 if total == 0 else 2 * int((p & t).sum()) / total
    return f1, dice


def train_unet(image, strokes, seconds: float, steps: int | None, seed: int, train_kw: dict):
    """Train on one image, or on several: ``image`` and ``strokes`` may be lists."""
    images = image if isinstance(image, list) else [image]
    labels = strokes if isinstance(strokes, list) else [strokes]
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu", **train_kw
    )
    return run_to_completion(Trainer(images, labels, config=config).run())


def run_unet(result, dev, predict_kw: dict) -> dict:
    """Score a trained model (a ``TrainingResult``) on the dev images, as ``napari-unet
    predict --instances`` does (``--object-size auto`` when ``object_size`` is True)."""
    kw = dict(predict_kw)
    segment = predict_at_model_scale if kw.pop("object_size", False) else predict
    pconfig = PredictionConfig(device="cpu", instances=True, **kw)
    start = time.perf_counter()
    scores = []
    for _, im, truth in dev:
        out = run_to_completion(segment(result.model, im, config=pconfig))
        scores.append(score(out.instances, truth))
    return {
        "scores": scores,
        "steps_per_s": result.steps / result.elapsed,
        "predict_s": time.perf_counter() - start,
        "steps": result.steps,
    }


def forest_features(image: np.ndarray) -> np.ndarray:
    """ilastik-style features ``(Y, X, F)`` of the percentile-normalized image, sigma 1-16."""
    from skimage.feature import multiscale_basic_features

    low, high = Normalization().statistics(image[np.newaxis])
    norm = Normalization.apply(image[np.newaxis], low, high)[0]
    return multiscale_basic_features(norm, sigma_min=1, sigma_max=16).astype(np.float32)


def run_forest(image, strokes, dev, seed: int) -> dict[str, dict]:
    """The forest's classes on every dev image, split into instances twice: by the
    issue's distance-transform watershed, and by this package's default watershed."""
    from sklearn.ensemble import RandomForestClassifier

    painted = strokes > 0
    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    forest = RandomForestClassifier(
        n_estimators=100, n_jobs=available_cpu_cores(), random_state=seed
    )
    forest.fit(forest_features(image)[painted], strokes[painted])
    start = time.perf_counter()
    scores: dict[str, list] = {"distance": [], "probability": []}
    for _, im, truth in dev:
        f = forest_features(im)
        classes = forest.predict(f.reshape(-1, f.shape[-1])).reshape(im.shape).astype(np.uint8)
        for method, found in scores.items():
            found.append(score(instance_labels(classes, method=method), truth))
    seconds = time.perf_counter() - start
    return {
        "random forest + distance watershed": {"scores": scores["distance"], "predict_s": seconds},
        "random forest + napari-unet watershed": {
            "scores": scores["probability"],
            "predict_s": seconds,
        },
    }


def run_otsu(dev) -> dict:
    from skimage.filters import threshold_otsu

    scores = []
    for _, im, truth in dev:
        classes = np.where(im > threshold_otsu(im), NUCLEUS, BACKGROUND).astype(np.uint8)
        scores.append(score(instance_labels(classes), truth))
    return {"scores": scores, "predict_s": float("nan")}


def run_isbi(seconds: float, steps: int | None, seed: int) -> list[list[Any]]:
    """ISBI cross-slice membrane Dice as ``bench_strokes.py``: the forest, and one U-Net
    (new defaults) predicting without and with test-time augmentation."""
    import bench_strokes as bs

    images, truths = zip(*(bs.read_isbi(i) for i in bs.TRAIN_SLICES))
    test_images, test_truths = zip(*(bs.read_isbi(i) for i in bs.TEST_SLICES))
    strokes = [
        simulate_strokes(bs.to_classes(t), seed=1000 * seed + i) for i, t in enumerate(truths)
    ]
    test_classes = [bs.to_classes(t) for t in test_truths]
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu"
    )
    result = run_to_completion(Trainer(list(images), strokes, config=config).run())
    detail = f"{result.steps} steps, best validation Dice {result.best_validation_dice:.3f}"
    rows = []
    for name, tta in (("U-Net (new defaults)", False), ("U-Net (new defaults) + TTA", True)):
        preds = [
            run_to_completion(
                predict(result.model, im, config=PredictionConfig(device="cpu", tta=tta))
            ).labels
            for im in test_images
        ]
        rows.append([name, *bs.scores(preds, test_classes), detail])
    forest = bs.run_forest(images, strokes, test_images, seed)
    rows.append(["random forest", *bs.scores(forest["preds"], test_classes), forest["detail"]])
    return rows


def print_margins(f1: dict[str, float], isbi: list[list[Any]]) -> None:
    """The issue's targets: dev F1 >= forest + 0.10, ISBI membrane Dice >= forest + 0.03."""
    unet = f1.get("U-Net new (defaults)")
    if unet is not None:
        for forest in (
            "random forest + distance watershed",
            "random forest + napari-unet watershed",
        ):
            print(
                f"dev F1, U-Net new (defaults) - {forest}: {unet - f1[forest]:+.3f} (target +0.10)"
            )
    if isbi:
        for row in isbi[:2]:
            print(
                f"ISBI membrane Dice, {row[0]} - forest: {row[1] - isbi[-1][1]:+.3f} (target +0.03)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="U-Net training time")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train a fixed number of steps instead of --seconds (for a "
        "loaded machine: the steps a quiet one does in the time)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of strokes, training, forest")
    parser.add_argument(
        "--ablate", action="store_true", help="also train every ablation (one mechanism off each)"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        metavar="NAME",
        help=f"U-Net variants to run (default: {DEFAULT_VARIANTS}); {list(VARIANTS)}",
    )
    parser.add_argument("--isbi", action="store_true", help="add the ISBI cross-slice figure")
    parser.add_argument("--per-image", action="store_true", help="print per-image F1")
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    if not (NUCLEI / "img2d.tif").exists() or not (DEV / "images").is_dir():
        raise SystemExit(f"Data not found under {DATA.resolve()} (nuclei2d, dsb2018-dev).")
    machine = machine_summary()
    print_machine(machine)
    dev = read_dev()
    image, strokes, painted = read_train(args.seed)
    names = list(VARIANTS) if args.ablate else (args.variants or DEFAULT_VARIANTS)
    results: dict[str, dict] = {}
    results.update(run_forest(image, strokes, dev, args.seed))
    results["Otsu + watershed"] = run_otsu(dev)
    trained: dict[str, Any] = {}  # variants that differ only in prediction share a model
    for name in names:
        train_kw, predict_kw = VARIANTS[name]
        key = repr(sorted(train_kw.items()))
        if key not in trained:
            trained[key] = train_unet(image, strokes, args.seconds, args.steps, args.seed, train_kw)
        results[f"U-Net {name}"] = run_unet(trained[key], dev, predict_kw)
        print(
            f"  {name}: F1 {np.mean([s[0] for s in results[f'U-Net {name}']['scores']]):.3f}",
            flush=True,
        )
    rows = []
    for name, r in results.items():
        f1 = float(np.mean([s[0] for s in r["scores"]]))
        dice = float(np.mean([s[1] for s in r["scores"]]))
        rows.append([name, f1, dice, r.get("steps_per_s", float("nan")), r["predict_s"]])
    print(
        format_table(
            ["method", "mean F1@0.5", "mean fg Dice", "train steps/s", "predict s (15 images)"],
            rows,
        )
    )
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s"
    print(
        f"\nnuclei2d strokes: {100 * painted:.2f}% of pixels, seed {args.seed}, U-Net "
        f"{budget} on the CPU. Load average after: {machine_summary()['load_average']}."
    )
    if args.per_image:
        header = ["image"] + list(results)
        table = [
            [n] + [r["scores"][i][0] for r in results.values()] for i, (n, _, _) in enumerate(dev)
        ]
        print(format_table(header, table))
    isbi = run_isbi(args.seconds, args.steps, args.seed) if args.isbi else []
    if isbi:
        print(
            format_table(
                ["ISBI slices 0-4 -> 5-9", "membrane Dice", "interior Dice", "detail"], isbi
            )
        )
    print_margins(dict((r[0], r[1]) for r in rows), isbi)
    write_json(
        args.json,
        {
            "machine": machine,
            "seconds": args.seconds,
            "seed": args.seed,
            "painted_fraction": painted,
            "rows": rows,
            "isbi": isbi,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
