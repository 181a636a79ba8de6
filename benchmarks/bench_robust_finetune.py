"""Robustness curve before and after PGD adversarial fine-tuning, and its clean Dice cost.

    python benchmarks/bench_robust_finetune.py [--model MODEL.pt] [--quick] [--eps 4]

Trains (or loads) the default model on ISBI slices 0-2, then fine-tunes two copies for
the same time: one plainly (control) and one on PGD adversarial batches
(``TrainingConfig(adversarial_eps=eps/255, adversarial_steps=3)``). Prints the Dice vs
truth on slices 5-6 under PGD at eps 0 (clean), 1, 2, 4, 8 /255 for all three models.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _isbi_model import default_model, isbi
from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.core.attacks import PGD

EPS = (0, 1, 2, 4, 8)


def curve(model, slices, steps: int) -> list[float]:
    out = []
    for e in EPS:
        scores = []
        for image, truth in slices:
            r = PGD(max(e, 1e-9) / 255, steps if e else 1)(model, image, labels=truth,
                                                          keep_float=True)
            scores.append(r.metrics.dice_clean if e == 0 else r.metrics.dice_adversarial)
        out.append(float(np.mean(scores)))
    return out


def finetune(model, pairs, seconds: float, eps: float):
    cfg = TrainingConfig(max_time=seconds, seed=1, adversarial_eps=eps, adversarial_steps=3)
    start = time.perf_counter()
    result = run_to_completion(Trainer([p[0] for p in pairs], [p[1] for p in pairs], dense=True,
                                       init=model, config=cfg).run())
    print(f"fine-tune eps={eps * 255:.0f}/255: {result.steps} steps in "
          f"{time.perf_counter() - start:.0f} s")
    return result.model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--eps", type=float, default=4.0, help="training eps, x 1/255")
    args = parser.parse_args()
    crop = 256 if args.quick else None
    seconds = 30 if args.quick else 60
    model = default_model(args.model, seconds, crop)
    pairs = [isbi(i, crop) for i in range(3)]
    plain = finetune(model, pairs, seconds, 0.0)
    robust = finetune(model, pairs, seconds, args.eps / 255)
    slices = [isbi(i, crop) for i in (5, 6)]
    steps = 5 if args.quick else 10
    print(f"\nDice vs truth under PGD ({steps} steps), slices 5-6 {slices[0][0].shape}")
    print(f"{'model':28s}" + "".join(f"{f'{e}/255':>8s}" for e in EPS))
    for label, m in (("before", model), ("plain fine-tune (control)", plain),
                     (f"adversarial fine-tune {args.eps:g}/255", robust)):
        print(f"{label:28s}" + "".join(f"{d:8.3f}" for d in curve(m, slices, steps)))


if __name__ == "__main__":
    main()
