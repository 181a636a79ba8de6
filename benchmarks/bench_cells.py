"""Cells bounded by membranes: split and merge errors of cells from a few strokes (issue 22).

Run from the repository root (needs ``<repo>/../shared/data/isbi2012``)::

    python benchmarks/bench_cells.py                         # 60 s of training, seed 0
    python benchmarks/bench_cells.py --seeds 0 1 2 --json out.json
    python benchmarks/bench_cells.py --tune                  # choose settings on slices 5-19

For each seed, the strokes of ``bench_strokes.py`` (simulated on ISBI slices 0-4, class 1 =
membrane, class 2 = interior) train the U-Net (``--seconds`` on the CPU, default settings)
and the random forest of ``bench_strokes.py`` (100 trees on ilastik-style features). Both
predict the held-out slices (``--test-slices``, default 20-24: slices 5-19 are where
``--tune`` may choose settings, so the scored slices never are), and each prediction
becomes cells three ways:

* ``interior components``: connected components of the predicted interior (the issue's
  "today");
* ``--instances``: napari-unet's ``instance_labels`` of the interior class (the blob
  watershed of ``predict --instances``);
* ``boundary``: :func:`boundary_instances` of the membrane probability (seeded watershed
  + region merging), this issue's method, with its default settings; its cells fill the
  membranes up to their middle, so ``boundary, membrane pixels 0`` also scores them with
  the predicted membrane pixels taken out (as the truth's cells are).

The truth: connected components of the ISBI interior (255); membrane pixels are ignored
by the split/merge scores. Scores (pooled over the test slices): adapted Rand error, VI
split / merge (bits; lower is better) and instance F1 at IoU 0.5.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

import napari_unet  # noqa: F401 - first, as in napari and the CLI: sets PyTorch's thread waiting

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_strokes as bs  # noqa: E402
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
    boundary_instances,
    instance_f1,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.metrics import pooled_instances, split_merge_scores  # noqa: E402
from napari_unet.core.prediction.instances import instance_labels  # noqa: E402

TUNE_SLICES = range(5, 20)
TEST_SLICES = range(20, 25)
# The second pass that chose boundary_instances' defaults (threshold 0.5, min size 100),
# after a first over threshold 0.3/0.5/0.7, merge threshold 0.3-0.7 and min size 10/30/100
# had chosen threshold 0.5 and merge thresholds at its top. The merge threshold was chosen
# again (0.7) when faces became weighed on the unsmoothed probability: seeds 0-2, 300
# steps, the smallest sum of the U-Net's and the forest's errors on the tuning slices.
TUNE_GRID = {
    "threshold": (0.5,),
    "merge_threshold": (0.5, 0.6, 0.7, 0.8, 0.9),
    "min_size": (30, 100, 300),
}


def truth_cells(labels: np.ndarray) -> np.ndarray:
    """ISBI labels (255 interior, 0 membrane): cells = connected interior components."""
    return ndi.label(labels == 255)[0]


def cell_methods(probs: np.ndarray, settings: dict[str, Any]) -> dict[str, np.ndarray]:
    """Cells ``(Y, X)`` of one slice's probabilities ``(2, Y, X)`` (membrane, interior)."""
    classes = probs.argmax(axis=0) + 1
    cells = boundary_instances(probs, boundary_class=bs.MEMBRANE, **settings)
    return {
        "interior components": ndi.label(classes == bs.INTERIOR)[0],
        "--instances": instance_labels(
            np.where(classes == bs.INTERIOR, bs.INTERIOR, bs.MEMBRANE), probabilities=probs
        ),
        "boundary": cells,
        "boundary, membrane pixels 0": np.where(classes == bs.MEMBRANE, 0, cells),
    }


def scores(cells: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """Split/merge scores pooled over slices, and F1@0.5 of all slices' cells together."""
    out = split_merge_scores(*pooled_instances(list(zip(cells, truths))))
    matched = [instance_f1(c, t, 0.5) for c, t in zip(cells, truths)]
    tp = sum(m["true_positives"] for m in matched)
    n_pred, n_true = sum(m["predicted"] for m in matched), sum(m["true"] for m in matched)
    out["f1"] = 2 * tp / (n_pred + n_true) if n_pred + n_true else 1.0
    return out


def unet_probabilities(images, strokes, test_images, seconds: float, seed: int, steps):
    """Train the U-Net on the strokes; ``(2, Y, X)`` probabilities of each test image."""
    config = TrainingConfig(
        max_time=None if steps else seconds, max_steps=steps, seed=seed, device="cpu"
    )
    result = run_to_completion(Trainer(images, strokes, config=config).run())
    predict_config = PredictionConfig(device="cpu", probabilities=True)
    probs = [
        run_to_completion(predict(result.model, im, config=predict_config)).probabilities
        for im in test_images
    ]
    return probs, f"{result.steps} steps"


def predictions(seed: int, slices: range, seconds: float, steps: int | None) -> dict[str, list]:
    """``{"U-Net": [probs], "random forest": [probs]}`` of ``slices`` from seed's strokes."""
    images, train_truths = zip(*(read_isbi(i) for i in bs.TRAIN_SLICES))
    test_images = [read_isbi(i)[0] for i in slices]
    strokes = [
        simulate_strokes(bs.to_classes(t), seed=1000 * seed + i) for i, t in enumerate(train_truths)
    ]
    start = time.perf_counter()
    unet, detail = unet_probabilities(images, strokes, test_images, seconds, seed, steps)
    print(f"  seed {seed} U-Net: {detail}, {time.perf_counter() - start:.0f} s", flush=True)
    forest = bs.run_forest(list(images), strokes, test_images, seed)["probs"]
    return {"U-Net": unet, "random forest": forest}


def score_rows(seed: int, probs: dict[str, list], truths: list, settings: dict) -> list[dict]:
    rows = []
    for model, model_probs in probs.items():
        start = time.perf_counter()
        per_method: dict[str, list[np.ndarray]] = {}
        for p in model_probs:
            for method, cells in cell_methods(p, settings).items():
                per_method.setdefault(method, []).append(cells)
        seconds = (time.perf_counter() - start) / len(model_probs)
        for method, cells in per_method.items():
            rows.append({"seed": seed, "model": model, "cells": method, **scores(cells, truths)})
        rows[-1]["seconds_per_slice_all_methods"] = seconds
    return rows


def tune(probs: list[np.ndarray], truths: list[np.ndarray]) -> list[dict]:
    """Every setting of :data:`TUNE_GRID` scored on the tuning slices (best first)."""
    rows = []
    for values in itertools.product(*TUNE_GRID.values()):
        settings = dict(zip(TUNE_GRID, values))
        cells = [boundary_instances(p, boundary_class=bs.MEMBRANE, **settings) for p in probs]
        rows.append({**settings, **scores(cells, truths)})
    return sorted(rows, key=lambda r: r["adapted_rand_error"])


def print_rows(rows: list[dict]) -> None:
    keys = ("adapted_rand_error", "vi_split", "vi_merge", "f1")
    table = [[r["seed"], r["model"], r["cells"], *(r[k] for k in keys)] for r in rows]
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) > 1:
        for model, method in dict.fromkeys((r["model"], r["cells"]) for r in rows):
            mine = [r for r in rows if r["model"] == model and r["cells"] == method]
            table.append(
                ["mean", model, method, *(float(np.mean([r[k] for r in mine])) for k in keys)]
            )
    print(
        format_table(
            ["seed", "model", "cells", "adapted Rand", "VI split", "VI merge", "F1@0.5"], table
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="U-Net training time")
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--test-slices", type=int, nargs=2, default=(20, 24), metavar=("FIRST", "LAST")
    )
    parser.add_argument(
        "--tune", action="store_true", help="score a grid of settings on slices 5-19 instead"
    )
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    require_isbi()
    machine = machine_summary()
    print_machine(machine)
    slices = TUNE_SLICES if args.tune else range(args.test_slices[0], args.test_slices[1] + 1)
    if not args.tune and set(slices) & set(TUNE_SLICES) | set(slices) & set(bs.TRAIN_SLICES):
        print("note: the scored slices overlap the training or tuning slices", file=sys.stderr)
    truths = [truth_cells(read_isbi(i)[1]) for i in slices]
    rows: list[dict] = []
    for seed in args.seeds:
        probs = predictions(seed, slices, args.seconds, args.steps)
        if args.tune:
            for model, model_probs in probs.items():
                best = tune(model_probs, truths)
                print(f"seed {seed} {model}: best 5 of {len(best)} settings on slices 5-19")
                print(format_table(list(best[0]), [list(r.values()) for r in best[:5]]))
                rows += [{"seed": seed, "model": model, **r} for r in best]
            continue
        rows += score_rows(seed, probs, truths, {})
    if not args.tune:
        print_rows(rows)
        print(
            f"\nStrokes on ISBI slices 0-4, scored on slices {slices.start}-{slices.stop - 1} "
            "(pooled); VI in bits; lower is better except F1. "
            f"Load average after: {machine_summary()['load_average']}."
        )
    write_json(args.json, {"machine": machine, "slices": list(slices), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
