"""Dice of a model under each attack at eps 1, 2, 4, 8 /255 on ISBI slices.

    python -u benchmarks/bench_attacks.py [--model MODEL.pt | --train-steps N] [--quick]

Main table: the library's default mode, the attack works against the model's own clean
prediction and Dice (mean over the two classes) is measured against it, so the table
shows what the *attack* changes (the model's own errors vs the truth are not counted as
damage). Second table: PGD and SegPGD against the ISBI truth, Dice vs truth.
Plain cross-entropy PGD is the reference row; the segmentation attack (SegPGD, class
balanced by default) must do at least as much damage at every eps, with the same steps,
eps, step size and random start (seed 0). Two ablations: SegPGD without the class
balancing, and Gu et al.'s original (argmax "fooled" test, no balancing).
Slices 5-9 at 512x512 (``--quick``: slices 5-6 cropped to 256x256). Attacks run on the
continuous image (``keep_float``): on the uint8 file an eps of 1/255 of the normalized
range is below one grey level. Also prints the time per 512x512 slice per attack step
and stronger attacks at 8/255 (more steps, restarts, targeted).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _isbi_model import default_model, isbi

from napari_unet.core.attacks import PGD, CarliniWagnerL2, SegPGD, make_attack

EPS = (1, 2, 4, 8)


def dice_under(attack, model, slices, truth: bool = False) -> tuple[float, float, float, float]:
    """Mean adversarial Dice, clean Dice, fraction changed, seconds per step per 512^2 slice."""
    adv, clean, changed, seconds, pixels = [], [], [], 0.0, 0
    for image, labels in slices:
        t = time.perf_counter()
        r = attack(model, image, labels=labels if truth else None, keep_float=True)
        seconds += time.perf_counter() - t
        pixels += image.size
        adv.append(r.metrics.dice_adversarial)
        clean.append(r.metrics.dice_clean)
        changed.append(r.metrics.fraction_changed)
    per_step = seconds / max(attack.iterations, 1) / (pixels / 512**2)
    return float(np.mean(adv)), float(np.mean(clean)), float(np.mean(changed)), per_step


def table(title: str, makers: dict, model, slices, truth: bool) -> dict[str, list[float]]:
    print(f"\n{title}")
    print(f"{'attack':30s}" + "".join(f"{f'{e}/255':>9s}" for e in EPS) + f"{'s/step/slice':>14s}")
    out, clean = {}, None
    for label, make in makers.items():
        row, timing = [], []
        for e in EPS:
            d, clean, _changed, per_step = dice_under(make(e / 255), model, slices, truth)
            row.append(d)
            timing.append(per_step)
        out[label] = row
        print(
            f"{label:30s}" + "".join(f"{d:9.4f}" for d in row) + f"{np.mean(timing):14.3f}",
            flush=True,
        )
    print(f"{'clean':30s}" + "".join(f"{clean:9.4f}" for _ in EPS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file; default: train the default model")
    parser.add_argument("--quick", action="store_true", help="2 cropped slices")
    parser.add_argument("--train-seconds", type=float, default=None)
    parser.add_argument(
        "--train-steps",
        type=int,
        default=None,
        help="train by steps instead of time (reproducible on a loaded machine)",
    )
    parser.add_argument("--save-model", help="save the trained model there")
    parser.add_argument("--steps", type=int, default=10, help="PGD / SegPGD steps (DAG: 2x)")
    args = parser.parse_args()
    crop = 256 if args.quick else None
    model = default_model(
        args.model,
        args.train_seconds or (30 if args.quick else 60),
        crop,
        steps=args.train_steps,
        save=args.save_model,
    )
    slices = [isbi(i, crop) for i in ((5, 6) if args.quick else range(5, 10))]
    n = args.steps
    print(
        f"{len(slices)} slice(s) {slices[0][0].shape}, {n} steps (dag {2 * n}, cw {3 * n} "
        f"Adam steps, eps-capped); keep_float"
    )
    makers = {
        "fgsm": lambda e: make_attack("fgsm", e),
        "pgd (CE, reference)": lambda e: PGD(e, n),
        "segpgd (default)": lambda e: SegPGD(e, n),
        "segpgd, not class-balanced": lambda e: SegPGD(e, n, balanced=False),
        "segpgd (Gu et al.)": lambda e: SegPGD(e, n, confident=1.0, balanced=False),
        "dag": lambda e: make_attack("dag", e, 2 * n),
        "cw (L-inf capped, c=1)": lambda e: CarliniWagnerL2(
            e, c=1.0, steps=3 * n, learning_rate=0.01, min_fooled=1.0
        ),
    }
    main_rows = table(
        "Dice vs the clean prediction (attack against the clean prediction)",
        makers,
        model,
        slices,
        truth=False,
    )
    ok = all(
        s <= p for s, p in zip(main_rows["segpgd (default)"], main_rows["pgd (CE, reference)"])
    )
    print(f"SegPGD at least as damaging as CE-PGD at every eps (vs clean prediction): {ok}")
    pick = ("pgd (CE, reference)", "segpgd (default)", "segpgd (Gu et al.)")
    truth_rows = table(
        "Dice vs truth (attack against the ISBI truth)",
        {k: makers[k] for k in pick},
        model,
        slices,
        truth=True,
    )
    for k in pick[1:]:
        ok = all(s <= p for s, p in zip(truth_rows[k], truth_rows[pick[0]]))
        print(f"{k} at least as damaging as CE-PGD at every eps (vs truth): {ok}")
    print("\nStronger attacks at 8/255, Dice vs clean prediction / fraction of pixels changed:")
    for label, attack in [
        (f"pgd {n} steps (as in the table)", PGD(8 / 255, n)),
        (f"pgd {5 * n} steps", PGD(8 / 255, 5 * n)),
        (f"pgd {n} steps x 3 restarts", PGD(8 / 255, n, restarts=3)),
        (f"segpgd {5 * n} steps", SegPGD(8 / 255, 5 * n)),
        (f"pgd {n} targeted -> background", PGD(8 / 255, n, target=1)),
        (f"pgd {n} targeted -> object", PGD(8 / 255, n, target=2)),
        ("pgd 10 steps at 32/255", PGD(32 / 255, 10)),
    ]:
        d, _c, changed, _t = dice_under(attack, model, slices)
        print(f"{label:34s} Dice {d:.4f}  changed {changed:.4f}", flush=True)


if __name__ == "__main__":
    main()
