"""Dice of the default model under each attack at eps 1, 2, 4, 8 /255 on ISBI slices.

    python benchmarks/bench_attacks.py [--model MODEL.pt] [--quick]

Dice (mean over the two classes) of the adversarial prediction against the ISBI truth,
on slices 5-9 (``--quick``: slices 5-6 cropped to 256x256, fewer steps). Plain
cross-entropy PGD is the reference row; SegPGD must do at least as much damage at every
eps. Attacks run on the continuous image (``keep_float``), as in the literature: on the
uint8 file an eps of 1/255 of the normalized range is below one grey level here.
Also prints the time per 512x512 slice per attack step and a stronger check at 8/255
(more steps, restarts, targeted).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _isbi_model import default_model, isbi
from napari_unet.core.attacks import PGD, make_attack

EPS = (1, 2, 4, 8)


def dice_under(attack, model, slices) -> tuple[float, float, float]:
    """Mean adversarial Dice vs truth, clean Dice, seconds per step per 512x512 slice."""
    adv, clean, seconds, pixels = [], [], 0.0, 0
    for image, truth in slices:
        t = time.perf_counter()
        r = attack(model, image, labels=truth, keep_float=True)
        seconds += time.perf_counter() - t
        pixels += image.size
        adv.append(r.metrics.dice_adversarial)
        clean.append(r.metrics.dice_clean)
    per_step = seconds / max(attack.iterations, 1) / (pixels / 512**2)
    return float(np.mean(adv)), float(np.mean(clean)), per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file; default: train the default model")
    parser.add_argument("--quick", action="store_true", help="2 cropped slices, fewer steps")
    parser.add_argument("--train-seconds", type=float, default=None)
    args = parser.parse_args()
    crop = 256 if args.quick else None
    model = default_model(args.model, args.train_seconds or (30 if args.quick else 60), crop)
    slices = [isbi(i, crop) for i in ((5, 6) if args.quick else range(5, 10))]
    steps = 5 if args.quick else 10
    attacks = {"fgsm": None, "pgd (CE, reference)": "pgd", "segpgd": "segpgd", "dag": "dag"}
    print(f"\nDice vs truth under attack, {len(slices)} slice(s) "
          f"{slices[0][0].shape}, {steps} steps (dag {2 * steps})")
    print(f"{'attack':22s}" + "".join(f"{f'{e}/255':>9s}" for e in EPS) + f"{'s/step/slice':>14s}")
    table = {}
    clean = None
    for label, name in attacks.items():
        row, timing = [], []
        for e in EPS:
            n = name or "fgsm"
            attack = make_attack(n, e / 255, None if n == "fgsm" else
                                 (2 * steps if n == "dag" else steps))
            d, clean, per_step = dice_under(attack, model, slices)
            row.append(d)
            timing.append(per_step)
        table[label] = row
        print(f"{label:22s}" + "".join(f"{d:9.3f}" for d in row) + f"{np.mean(timing):14.2f}")
    print(f"{'clean':22s}" + "".join(f"{clean:9.3f}" for _ in EPS))
    ok = all(s <= p + 1e-9 for s, p in zip(table["segpgd"], table["pgd (CE, reference)"]))
    print(f"SegPGD at least as damaging as CE-PGD at every eps: {ok}")
    print("\nStronger attacks at 8/255 (is the model really robust?):")
    for label, attack in [
        ("pgd 50 steps", PGD(8 / 255, 50 if not args.quick else 20)),
        ("pgd 10 steps x 3 restarts", PGD(8 / 255, steps, restarts=3)),
        ("segpgd 50 steps", make_attack("segpgd", 8 / 255, 50 if not args.quick else 20)),
        ("pgd targeted -> background", PGD(8 / 255, steps, target=1)),
        ("pgd targeted -> object", PGD(8 / 255, steps, target=2)),
    ]:
        d, _c, per_step = dice_under(attack, model, slices)
        print(f"{label:30s} Dice {d:.3f}")


if __name__ == "__main__":
    main()
