"""Robustness curve before and after PGD adversarial fine-tuning, and its clean Dice cost.

    python -u benchmarks/bench_robust_finetune.py [--model MODEL.pt | --train-steps N]
        [--quick] [--eps 4] [--finetune-steps 200]

Trains (or loads) the default model on ISBI slices 0-2, then fine-tunes two copies for
the same number of steps (batch 4, 128x128 patches, seed 1): one plainly (control) and
one on PGD adversarial batches made on the fly
(``TrainingConfig(adversarial_eps=eps/255, adversarial_steps=3)``). Prints the Dice vs
truth on slices 5-6 (attack against the truth, ``keep_float``) under PGD at eps 0
(clean), 1, 2, 4, 8 /255 for the three models, and SegPGD at 8/255.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _isbi_model import default_model, isbi

from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.core.attacks import PGD, SegPGD

EPS = (0, 1, 2, 4, 8)


def curve(model, slices, steps: int) -> list[float]:
    """Dice vs truth at each eps of :data:`EPS` (PGD), then SegPGD at 8/255."""
    out = []
    attacks = [PGD(max(e, 1e-9) / 255, steps if e else 1) for e in EPS] + [SegPGD(8 / 255, steps)]
    for i, attack in enumerate(attacks):
        scores = []
        for image, truth in slices:
            r = attack(model, image, labels=truth, keep_float=True)
            scores.append(r.metrics.dice_clean if i == 0 else r.metrics.dice_adversarial)
        out.append(float(np.mean(scores)))
    return out


def finetune(model, pairs, steps: int, eps: float):
    cfg = TrainingConfig(
        max_time=None,
        max_steps=steps,
        seed=1,
        batch_size=4,
        patch_size=(128, 128),
        validate_every_steps=max(steps, 1),
        adversarial_eps=eps,
        adversarial_steps=3,
    )
    start = time.perf_counter()
    result = run_to_completion(
        Trainer(
            [p[0] for p in pairs], [p[1] for p in pairs], dense=True, init=model, config=cfg
        ).run()
    )
    print(
        f"fine-tune eps={eps * 255:.0f}/255: {result.steps} steps in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return result.model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--quick", action="store_true", help="256x256 crops")
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--eps", type=float, default=4.0, help="training eps, x 1/255")
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--attack-steps", type=int, default=10)
    args = parser.parse_args()
    crop = 256 if args.quick else None
    model = default_model(args.model, 30 if args.quick else 60, crop, steps=args.train_steps)
    pairs = [isbi(i, crop) for i in range(3)]
    plain = finetune(model, pairs, args.finetune_steps, 0.0)
    robust = finetune(model, pairs, args.finetune_steps, args.eps / 255)
    slices = [isbi(i, crop) for i in (5, 6)]
    print(f"\nDice vs truth under PGD ({args.attack_steps} steps), slices 5-6 {slices[0][0].shape}")
    print(f"{'model':30s}" + "".join(f"{f'{e}/255':>8s}" for e in EPS) + f"{'segpgd 8':>10s}")
    for label, m in (
        ("before", model),
        ("plain fine-tune (control)", plain),
        (f"adversarial fine-tune {args.eps:g}/255", robust),
    ):
        print(
            f"{label:30s}" + "".join(f"{d:8.4f}" for d in curve(m, slices, args.attack_steps)),
            flush=True,
        )


if __name__ == "__main__":
    main()
