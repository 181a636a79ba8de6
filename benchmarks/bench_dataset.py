"""A training set of several images: strokes on 1, 2 and 3 images, the same painted pixels.

Run from the repository root (needs ``<repo>/../shared/data/{nuclei2d,dsb2018-dev}``)::

    python benchmarks/bench_dataset.py                       # 60 s, seeds 0 1 2
    python benchmarks/bench_dataset.py --seeds 0 --steps 300  # fixed work (a loaded machine)
    python benchmarks/bench_dataset.py --density same         # the issue's set-up (see below)

Protocol (issue 21): the training set is ``nuclei2d``, then the first ``k - 1`` images of
``dsb2018-dev`` (channel 0), for k = 1, 2, 3. Strokes are simulated as in
``bench_generalization.py`` (short strokes inside nuclei and in the background). With
``--density equal`` (default) the *total* painted pixels are the same for every k: those
of the strokes on ``nuclei2d`` alone, shared equally between the k images. With
``--density same`` every image gets the strokes ``nuclei2d`` gets (k times the pixels).
Each training set trains a U-Net for ``--seconds`` on the CPU (the helpers of
``bench_generalization.py``); the score is the mean instance F1@0.5 (and foreground
Dice) on the dev images that no training set uses (the last 13), the same for every k.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, machine_summary, print_machine, write_json  # noqa: E402
from bench_generalization import (  # noqa: E402
    BACKGROUND,
    DEV,
    NUCLEI,
    NUCLEUS,
    read_dev,
    read_train,
    run_unet,
    train_unet,
)

from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402

MAX_IMAGES = 3


def strokes_for(truth: np.ndarray, pixels: int | None, seed: int) -> np.ndarray:
    """Simulated strokes (1 = background, 2 = nucleus) on an image with instance labels
    ``truth`` (Y, X): ``pixels`` painted pixels at most (None: as on ``nuclei2d``)."""
    classes = np.where(truth > 0, NUCLEUS, BACKGROUND).astype(np.uint8)
    fraction = 0.01 if pixels is None else pixels / truth.size
    return simulate_strokes(
        classes, strokes_per_class=25, stroke_length=12, max_fraction=fraction, seed=seed
    )


def training_sets(
    dev: list, seed: int, density: str
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """For k = 1..MAX_IMAGES: (images, strokes) of nuclei2d and the first k - 1 dev images."""
    image, strokes, _ = read_train(seed)
    total = int((strokes > 0).sum())
    sets = []
    for k in range(1, MAX_IMAGES + 1):
        share = None if density == "same" else total // k
        # nuclei2d's strokes, thinned to its share (drawn the same way) for k > 1
        first = strokes if share is None or k == 1 else strokes_for(_nuclei_truth(), share, seed)
        images, labels = [image], [first]
        for i, (_, im, truth) in enumerate(dev[: k - 1]):
            images.append(im)
            labels.append(strokes_for(truth, share, 1000 * seed + i + 1))
        sets.append((images, labels))
    return sets


def _nuclei_truth() -> np.ndarray:
    from skimage.io import imread

    return np.asarray(imread(NUCLEI / "mask2d.tif"))


def run_seed(dev: list, seed: int, args: argparse.Namespace) -> list[list]:
    """One row per training set size for one seed."""
    held_out = dev[MAX_IMAGES - 1 :]
    rows = []
    for k, (images, strokes) in enumerate(training_sets(dev, seed, args.density), start=1):
        result = train_unet(images, strokes, args.seconds, args.steps, seed, {})
        scored = run_unet(result, held_out, {})
        f1 = float(np.mean([s[0] for s in scored["scores"]]))
        dice = float(np.mean([s[1] for s in scored["scores"]]))
        painted = "+".join(str(int((s > 0).sum())) for s in strokes)
        val = result.best_validation_dice
        rows.append(
            [seed, k, painted, result.steps, val if val is not None else float("nan"), f1, dice]
        )
        print(f"  seed {seed}, {k} image(s): F1 {f1:.3f} ({result.steps} steps)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="U-Net training time")
    parser.add_argument("--steps", type=int, default=None, help="fixed steps instead of seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--density",
        choices=("equal", "same"),
        default="equal",
        help="equal: the same total painted pixels for every k; same: every image painted "
        "as nuclei2d (the issue's set-up)",
    )
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    if not (NUCLEI / "img2d.tif").exists() or not (DEV / "images").is_dir():
        raise SystemExit("Data not found (nuclei2d, dsb2018-dev under ../shared/data).")
    machine = machine_summary()
    print_machine(machine)
    dev = read_dev()
    rows = [row for seed in args.seeds for row in run_seed(dev, seed, args)]
    headers = ["seed", "images", "painted px", "steps", "best val Dice", "F1@0.5", "fg Dice"]
    print(format_table(headers, rows))
    means = [
        [
            k,
            float(np.mean([r[5] for r in rows if r[1] == k])),
            float(np.mean([r[6] for r in rows if r[1] == k])),
        ]
        for k in range(1, MAX_IMAGES + 1)
    ]
    print(format_table(["images", f"mean F1 ({len(args.seeds)} seeds)", "mean fg Dice"], means))
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s"
    print(
        f"\n{budget} per training on the CPU, strokes density '{args.density}', scored on "
        f"{len(dev) - MAX_IMAGES + 1} dev images. Load average after: "
        f"{machine_summary()['load_average']}."
    )
    write_json(args.json, {"machine": machine, "args": vars(args), "rows": rows, "means": means})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
