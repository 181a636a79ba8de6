"""Natural perturbations and EOT on the ISBI model: curves, PGD vs EOT after a transform,
and training against the perturbations.

    python -u benchmarks/bench_perturbations.py [--model M.pt | --train-steps 150]
        [--slices 5 6 7] [--crop 256] [--eot-crop 128] [--seeds 0 1 2]
        [--file-roundtrip] [--eot-objectives segpgd ce dag]
        [--finetune-steps 100] [--out docs/robustness]

Without ``--model`` the model is trained ``--train-steps`` (batch 4, 128x128, seed 0) on
dense slices 0-2 with the legacy augmentation (``natural_perturbations=0``), so that part 3
starts from a model that has not seen the perturbations.

1. Robustness curves (``core.robustness.perturbation_curve``) of the model on the slices:
   Dice vs the clean prediction and vs the truth for noise, blur, rotation, scale and
   contrast; CSV + PNG per kind and one figure with all five in ``--out``.
2. PGD, SegPGD and EOT at 8/255 (10 steps, continuous float images), once per ``--seeds``:
   Dice vs clean on the image as it is, and after rotating 12 degrees and zooming 0.9 both
   the clean and the attacked image (``core.robustness.dice_after_transform``); seconds per
   slice; EOT's damage (1 - Dice) after the transform divided by each attack's.
   ``--file-roundtrip``: the protocol of a user's files instead: every attacked image is
   written in the image's dtype (uint8 TIFF, the attack's own rounding), read back, and only
   then rotated, zoomed and predicted. ``--eot-objectives segpgd ce dag`` adds one EOT row
   per loss (default: EOT's default loss only).
3. Two copies of the model fine-tuned ``--finetune-steps`` (batch 4, 128x128, seed 1) on
   slices 0-2: without natural perturbations (``natural_perturbations=0``, the legacy
   augmentation: flips, 90-degree turns, mild brightness/contrast; the control) and with
   them (``natural_perturbations=2``, ``CONTRAST_AUGMENT``: any rotation, zoom 0.5-2x,
   blur, low resolution, noise, brightness/contrast, gamma); their curves vs truth, the
   mean over the perturbed levels, the clean Dice, and a figure of both.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import load_average
from _isbi_model import default_model, isbi

from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.core.attacks import EOT, PGD, SegPGD
from napari_unet.core.metrics import truth_classes
from napari_unet.core.robustness import (
    NEUTRAL,
    RobustnessCurve,
    dice_after_transform,
    draw_curve,
    perturbation_curve,
)

LEVELS = {
    "noise": [0.0, 0.05, 0.1, 0.2, 0.3],
    "blur": [0.0, 0.5, 1.0, 2.0, 3.0],
    "rotation": [0.0, 5.0, 15.0, 30.0, 45.0],
    "scale": [0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5],
    "contrast": [0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5],
}


def curves(model, slices, label: str, out: Path) -> dict[str, RobustnessCurve]:
    """One curve per kind of :data:`LEVELS`, written to ``out/<label>_<kind>.csv/.png``."""
    images = [s[0] for s in slices]
    truths = [truth_classes(s[1]) for s in slices]
    result = {}
    for kind, levels in LEVELS.items():
        start = time.perf_counter()
        curve = run_to_completion(perturbation_curve(model, images, kind, levels, truths=truths))
        curve.to_csv(out / f"{label}_{kind}.csv")
        result[kind] = curve
        cells = "  ".join(
            f"{r['level']:g}: {r['dice_vs_clean']:.3f}/{r['dice_vs_truth']:.3f}" for r in curve.rows
        )
        print(f"  {kind:9s} {cells}   ({time.perf_counter() - start:.0f} s)", flush=True)
    return result


def figure(panels: dict[str, list[tuple[str, RobustnessCurve]]], path: Path, key: str) -> None:
    """One panel per kind, one line per labelled curve (``key``: the Dice column)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * len(panels), 2.8), dpi=100)
    FigureCanvasAgg(fig)
    for i, (kind, lines) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if len(lines) == 1:
            draw_curve(ax, lines[0][1])
        else:
            for label, curve in lines:
                ax.plot(curve.levels, [r[key] for r in curve.rows], "o-", ms=3, label=label)
            ax.set_xlabel(kind, fontsize=8)
            ax.set_ylabel(f"Dice ({key.replace('dice_', '').replace('_', ' ')})", fontsize=8)
            ax.legend(fontsize=7)
            ax.tick_params(labelsize=7)
        ax.set_title(kind, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    print(f"  figure: {path}")


EPS = 8 / 255


def attacks(objectives: list[str] | None) -> dict:
    """``{name: make(steps, samples, seed)}``: PGD, SegPGD, then EOT with its default loss
    (``EOT``) or one ``EOT-<loss>`` per entry of ``objectives``."""
    made = {
        "PGD": lambda steps, samples, seed: PGD(EPS, steps, seed=seed),
        "SegPGD": lambda steps, samples, seed: SegPGD(EPS, steps, seed=seed),
    }
    if not objectives:
        made["EOT"] = lambda steps, samples, seed: EOT(EPS, steps, samples=samples, seed=seed)
    for loss in objectives or []:
        made[f"EOT-{loss}"] = lambda steps, samples, seed, loss=loss: EOT(
            EPS, steps, samples=samples, seed=seed, objective=loss
        )
    return made


def through_file(image: np.ndarray, attacked: np.ndarray, folder: Path) -> np.ndarray:
    """``attacked`` as a user's file holds it: written in the image's dtype (TIFF) and read
    back. The attack already rounded it to that dtype; this checks nothing else is lost."""
    import tifffile

    from napari_unet.core.io.image_files import write_tiff

    if attacked.dtype != image.dtype:
        raise ValueError(f"attacked image is {attacked.dtype}, the file would be {image.dtype}")
    path = write_tiff(folder / "attacked.tif", attacked)
    return np.asarray(tifffile.imread(path))


def attack_damage(
    model, slices, attack, file_roundtrip: bool = False, folder: Path | None = None
) -> tuple[float, float, float]:
    """Mean over slices: Dice vs clean as is, after rotation 12 + zoom 0.9, seconds.

    file_roundtrip: the attacked image is the image's dtype (the attack's rounding), written
    to a file in ``folder`` and read back before the transform (else float32, unrounded)."""
    as_is, after, seconds = [], [], []
    for image, _ in slices:
        start = time.perf_counter()
        result = attack(model, image, keep_float=not file_roundtrip)
        seconds.append(time.perf_counter() - start)
        attacked = (
            through_file(image, result.adversarial, folder)
            if file_roundtrip
            else result.adversarial
        )
        as_is.append(result.metrics.dice_adversarial)
        after.append(dice_after_transform(model, image, attacked, degrees=12, factor=0.9))
    return float(np.mean(as_is)), float(np.mean(after)), float(np.mean(seconds))


def pgd_vs_eot(
    model,
    slices,
    samples: int,
    steps: int,
    seeds: list[int],
    file_roundtrip: bool = False,
    objectives: list[str] | None = None,
) -> None:
    """PGD, SegPGD and EOT per seed (random start; EOT's draws), EOT's damage ratio after."""
    import tempfile

    made = attacks(objectives)
    reference = [name for name in made if name.startswith("EOT")][0]
    how = (
        "uint8 files (written, read back, then transformed)"
        if file_roundtrip
        else "continuous float images"
    )
    print(
        f"\nPGD vs EOT at 8/255 ({steps} steps; EOT {samples} transforms per step), {how}; "
        f"Dice vs clean prediction, mean over slices; ratios: {reference}'s damage "
        "(1 - Dice) after the transform / each attack's"
    )
    print(f"{'seed':6s}{'attack':14s}{'as is':>10s}{'rot 12 + zoom 0.9':>20s}{'s per slice':>14s}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            rows = {}
            for name, make in made.items():
                rows[name] = attack_damage(
                    model, slices, make(steps, samples, seed), file_roundtrip, Path(tmp)
                )
                as_is, after, seconds = rows[name]
                print(f"{seed:<6d}{name:14s}{as_is:10.4f}{after:20.4f}{seconds:14.1f}", flush=True)
            eot_damage = 1 - rows[reference][1]
            print(
                "      ratios: "
                + ", ".join(
                    f"{name} {eot_damage / max(1 - after, 1e-9):.2f}"
                    for name, (_a, after, _s) in rows.items()
                ),
                flush=True,
            )


def finetune(model, pairs, steps: int, strength: float):
    cfg = TrainingConfig(
        max_time=None,
        max_steps=steps,
        seed=1,
        batch_size=4,
        patch_size=(128, 128),
        validate_every_steps=max(steps, 1),
        natural_perturbations=strength,
    )
    start = time.perf_counter()
    result = run_to_completion(
        Trainer(
            [p[0] for p in pairs], [p[1] for p in pairs], dense=True, init=model, config=cfg
        ).run()
    )
    print(
        f"fine-tune natural_perturbations={strength:g}: {result.steps} steps in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return result.model


def summary(label: str, result: dict[str, RobustnessCurve]) -> None:
    """Clean Dice vs truth and, per kind, the mean Dice vs truth over the perturbed levels."""
    clean = result["noise"].rows[0]["dice_vs_truth"]
    means = [
        np.mean([r["dice_vs_truth"] for r in c.rows if r["level"] != NEUTRAL[k]])
        for k, c in result.items()
    ]
    print(f"{label:28s}{clean:8.4f}" + "".join(f"{m:10.4f}" for m in means))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file; default: train --train-steps on 0-2")
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--save-model", default=None, help="write the trained model there")
    parser.add_argument("--slices", type=int, nargs="+", default=[5, 6, 7])
    parser.add_argument("--crop", type=int, default=None, help="crop the slices (e.g. 256)")
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--eot-samples", type=int, default=8)
    parser.add_argument("--attack-steps", type=int, default=10)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="one PGD/SegPGD/EOT comparison per seed",
    )
    parser.add_argument(
        "--eot-crop", type=int, default=None, help="crop for the PGD vs EOT table (default: --crop)"
    )
    parser.add_argument(
        "--file-roundtrip",
        action="store_true",
        help="EOT table: attacked images written as uint8 files, read back, "
        "then transformed and predicted (whole slices unless --eot-crop)",
    )
    parser.add_argument(
        "--eot-objectives",
        nargs="+",
        default=None,
        choices=("segpgd", "ce", "dag"),
        help="EOT table: one EOT row per loss (default: EOT's default)",
    )
    parser.add_argument("--out", default="docs/robustness", help="CSV and PNG folder")
    parser.add_argument("--skip", nargs="*", default=[], choices=("curves", "eot", "train"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average {load_average()}", flush=True)
    model = default_model(
        args.model,
        60,
        None,
        steps=args.train_steps,
        save=args.save_model,
        natural_perturbations=0.0,
    )
    slices = [isbi(i, args.crop) for i in args.slices]
    print(f"slices {args.slices}, {slices[0][0].shape}")
    if "curves" not in args.skip:
        print("\nDice vs clean / vs truth per level")
        base = curves(model, slices, "model", out)
        figure({k: [("model", c)] for k, c in base.items()}, out / "curves.png", "dice_vs_clean")
    if "eot" not in args.skip:
        eot_slices = [isbi(i, args.eot_crop) for i in args.slices] if args.eot_crop else slices
        print(f"EOT table on {eot_slices[0][0].shape} crops")
        pgd_vs_eot(
            model,
            eot_slices,
            args.eot_samples,
            args.attack_steps,
            args.seeds,
            args.file_roundtrip,
            args.eot_objectives,
        )
    if "train" not in args.skip:
        pairs = [isbi(i) for i in range(3)]
        plain = finetune(model, pairs, args.finetune_steps, 0.0)
        robust = finetune(model, pairs, args.finetune_steps, 2.0)
        print("\nfine-tune without natural perturbations (control)")
        before = curves(plain, slices, "control", out)
        print("fine-tune with natural perturbations")
        after = curves(robust, slices, "natural", out)
        print(f"\n{'Dice vs truth':28s}{'clean':>8s}" + "".join(f"{k:>10s}" for k in LEVELS))
        summary("without (control)", before)
        summary("natural perturbations", after)
        figure(
            {k: [("without", before[k]), ("with natural perturbations", after[k])] for k in LEVELS},
            out / "training.png",
            "dice_vs_truth",
        )


if __name__ == "__main__":
    main()
