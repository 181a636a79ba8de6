"""Learning from strokes: the U-Net against an ilastik-style random forest, same strokes.

Run from the repository root (needs ``<repo>/../shared/data/isbi2012``)::

    python benchmarks/bench_strokes.py                     # 60 s of training, seed 0
    python benchmarks/bench_strokes.py --seconds 30 --seeds 0 1 2 --json out.json
    python benchmarks/bench_strokes.py --steps 300   # fixed work instead of time (loaded machine)

For each seed: simulated strokes (:func:`napari_unet.core.data.simulated_strokes.simulate_strokes`,
under 1% of the pixels; class 1 = membrane (label 0), class 2 = interior (label 255)) on
ISBI slices 0-4. Then, in the same run:

* ``U-Net``: :class:`napari_unet.core.Trainer` for ``--seconds`` on the CPU with the default
  model, then :func:`napari_unet.core.predict` on slices 5-9;
* ``random forest``: scikit-learn, 100 trees, all cores, on scikit-image's
  ``multiscale_basic_features`` (intensity, edges, Hessian texture at several scales: the
  ilastik recipe) of the painted pixels, then every pixel of slices 5-9.

Both are scored by Dice of membrane (class 1) and interior (class 2) against the dense
ISBI labels of slices 5-9.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    format_table,
    machine_summary,
    print_machine,
    read_isbi,
    require_isbi,
    write_json,
)

from napari_unet.core import (  # noqa: E402
    PredictionConfig,
    Trainer,
    TrainingConfig,
    dice_iou_per_class,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.device import available_cpu_cores  # noqa: E402

TRAIN_SLICES = range(0, 5)
TEST_SLICES = range(5, 10)
MEMBRANE, INTERIOR = 1, 2


def to_classes(labels: np.ndarray) -> np.ndarray:
    """ISBI labels (0 membrane, 255 interior) to classes 1 (membrane), 2 (interior)."""
    return np.where(labels == 0, MEMBRANE, INTERIOR).astype(np.uint8)


def scores(preds: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, float]:
    """Membrane and interior Dice over all test slices pooled together."""
    s = dice_iou_per_class(np.stack(preds), np.stack(truths), classes=[MEMBRANE, INTERIOR])
    return s[MEMBRANE]["dice"], s[INTERIOR]["dice"]


def run_unet(
    images, strokes, test_images, seconds: float | None, seed: int, steps: int | None = None
) -> dict:
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu"
    )
    trainer = Trainer(images, strokes, config=config)
    start = time.perf_counter()
    result = run_to_completion(trainer.run())
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    preds = [
        run_to_completion(predict(result.model, im, config=PredictionConfig(device="cpu"))).labels
        for im in test_images
    ]
    predict_s = time.perf_counter() - start
    val = result.best_validation_dice
    val_txt = f"{val:.3f}" if isinstance(val, float) else "n/a"
    return {
        "train_s": train_s,
        "predict_s": predict_s,
        "preds": preds,
        "steps": result.steps,
        "detail": f"{result.steps} steps, stop: {result.stop_reason}, best validation "
        f"Dice {val_txt}",
    }


def features(image: np.ndarray) -> np.ndarray:
    """ilastik-style pixel features ``(Y, X, F)`` float32 of a 2D image."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(
        image.astype(np.float32) / 255.0, intensity=True, edges=True, texture=True
    ).astype(np.float32)


def run_forest(images, strokes, test_images, seed: int) -> dict:
    from sklearn.ensemble import RandomForestClassifier

    start = time.perf_counter()
    xs, ys = [], []
    for im, st in zip(images, strokes):
        f = features(im)
        painted = st > 0
        xs.append(f[painted])
        ys.append(st[painted])
    forest = RandomForestClassifier(
        n_estimators=100, n_jobs=available_cpu_cores(), random_state=seed
    )
    forest.fit(np.concatenate(xs), np.concatenate(ys))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    preds, probs = [], []
    for im in test_images:
        f = features(im)
        proba = forest.predict_proba(f.reshape(-1, f.shape[-1]))  # (pixels, classes painted)
        preds.append(forest.classes_[proba.argmax(axis=1)].reshape(im.shape).astype(np.uint8))
        probs.append(np.moveaxis(proba, 1, 0).reshape((-1, *im.shape)).astype(np.float32))
    predict_s = time.perf_counter() - start
    return {
        "train_s": train_s,
        "predict_s": predict_s,
        "preds": preds,
        "probs": probs,  # (classes painted, Y, X) per test image, class order forest.classes_
        "detail": f"{len(np.concatenate(ys))} training pixels, {xs[0].shape[1]} features",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="U-Net training time")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train the U-Net a fixed number of steps instead of --seconds "
        "(for a loaded machine: the steps a quiet one does in the time)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds for strokes, training and the forest",
    )
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    require_isbi()
    machine = machine_summary()
    print_machine(machine)

    images, truths = zip(*(read_isbi(i) for i in TRAIN_SLICES))
    test_images, test_truths = zip(*(read_isbi(i) for i in TEST_SLICES))
    train_classes = [to_classes(t) for t in truths]
    test_classes = [to_classes(t) for t in test_truths]
    rows = []
    for seed in args.seeds:
        strokes = [simulate_strokes(c, seed=1000 * seed + i) for i, c in enumerate(train_classes)]
        painted = sum(int((s > 0).sum()) for s in strokes) / sum(s.size for s in strokes)
        for method, run in (
            (
                "U-Net",
                lambda: run_unet(images, strokes, test_images, args.seconds, seed, args.steps),
            ),
            ("random forest", lambda: run_forest(images, strokes, test_images, seed)),
        ):
            out = run()
            membrane, interior = scores(out["preds"], test_classes)
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "train_s": out["train_s"],
                    "predict_s": out["predict_s"],
                    "membrane_dice": membrane,
                    "interior_dice": interior,
                    "painted_fraction": painted,
                    "detail": out["detail"],
                }
            )
            print(
                f"  seed {seed} {method}: membrane Dice {membrane:.3f} ({out['detail']})",
                flush=True,
            )
    machine["load_average_after"] = machine_summary()["load_average"]

    table = [
        [
            r["method"],
            r["seed"],
            r["train_s"],
            r["predict_s"],
            r["membrane_dice"],
            r["interior_dice"],
            f"{100 * r['painted_fraction']:.2f}%",
        ]
        for r in rows
    ]
    if len(args.seeds) > 1:
        for method in ("U-Net", "random forest"):
            mine = [r for r in rows if r["method"] == method]
            table.append(
                [method, "mean"]
                + [
                    float(np.mean([r[k] for r in mine]))
                    for k in ("train_s", "predict_s", "membrane_dice", "interior_dice")
                ]
                + [f"{100 * np.mean([r['painted_fraction'] for r in mine]):.2f}%"]
            )
    print(
        format_table(
            [
                "method",
                "seed",
                "train s",
                "predict s (5 slices)",
                "membrane Dice",
                "interior Dice",
                "painted",
            ],
            table,
        )
    )
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s"
    print(
        f"\nTrain on ISBI slices {TRAIN_SLICES.start}-{TRAIN_SLICES.stop - 1}, score on "
        f"{TEST_SLICES.start}-{TEST_SLICES.stop - 1}; U-Net budget {budget}. "
        f"Load average after: {machine['load_average_after']}."
    )
    write_json(
        args.json, {"machine": machine, "seconds": args.seconds, "steps": args.steps, "rows": rows}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
