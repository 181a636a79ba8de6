"""``napari-unet train``: train (or fine-tune) a U-Net from images and painted labels."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from napari_unet.core import (
    StopFlag, Trainer, TrainingConfig, TrainingStep, UNetConfig, ValidationScores, load_model,
    run_to_completion, save_model,
)
from napari_unet.core.errors import UserInputError
from napari_unet.core.image_io import read_image

from ._inputs import add_device, check_pairs
from ._progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from images and (sparse or dense) labels")
    p.add_argument("--images", nargs="+", required=True, metavar="IMG", help="TIFF or PNG images")
    p.add_argument("--labels", nargs="+", required=True, metavar="LAB",
                   help="one label image per image: 0 = unpainted, 1..K = classes (or --dense)")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.pt)")
    p.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                   help="time budget in seconds (default 60 unless --steps is given)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="number of training steps")
    p.add_argument("--dense", action="store_true",
                   help="labels are dense masks: every value is a class (e.g. 0/255)")
    p.add_argument("--ndim", type=int, choices=(2, 3), default=None,
                   help="2D model (slice by slice, default) or 3D model (volumes)")
    p.add_argument("--init", metavar="MODEL", default=None, help="fine-tune this model file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--adversarial-eps", type=float, default=0.0, metavar="EPS",
                   help="train on PGD adversarial examples made on the fly with this L-inf "
                        "budget (normalized intensity units, e.g. 0.0157 = 4/255); 0 = off")
    p.add_argument("--adversarial-steps", type=int, default=3, metavar="N",
                   help="PGD steps per adversarial batch (default 3)")
    p.add_argument("--natural-perturbations", type=float, nargs="?", const=1.0, default=0.0,
                   metavar="S", help="train on random rotations (±30°), zooms (0.8-1.25), "
                        "blur, contrast (gamma) and noise at strength S in (0, 1] (1 without "
                        "a value; default off): the perturbations of `napari-unet robustness`")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_pairs(args.images, args.labels, "images", "labels")
    if args.steps is not None and args.steps < 1:
        raise UserInputError("--steps must be at least 1.")
    if args.max_time is not None and args.max_time <= 0:
        raise UserInputError("--max-time must be positive.")
    if not 0.0 <= args.natural_perturbations <= 1.0:
        raise UserInputError(f"--natural-perturbations is a strength in [0, 1], got "
                             f"{args.natural_perturbations}.")
    max_time = args.max_time if (args.max_time is not None or args.steps is not None) else 60.0
    images = [read_image(p) for p in args.images]
    labels = [read_image(p) for p in args.labels]
    init = load_model(args.init) if args.init else None
    if init is not None and args.ndim is not None and init.spatial_dims != args.ndim:
        raise UserInputError(f"--init is a {init.spatial_dims}D model but --ndim {args.ndim} was given.")
    config = TrainingConfig(max_time=max_time, max_steps=args.steps, seed=args.seed,
                            device=args.device, checkpoint=args.out,
                            adversarial_eps=args.adversarial_eps,
                            adversarial_steps=args.adversarial_steps,
                            natural_perturbations=args.natural_perturbations)
    stop = StopFlag()
    trainer = Trainer(images, labels, dense=args.dense, init=init,
                      model_config=replace(UNetConfig(), spatial_dims=args.ndim or 2),
                      config=config, stop=stop)
    bar = ProgressBar("training", total=1.0)
    progress = 0.0

    def show(event: object) -> None:
        nonlocal progress
        if isinstance(event, TrainingStep):
            progress = event.progress
            bar.update(progress, f"step {event.step} loss {event.loss:.3f}")
        elif isinstance(event, ValidationScores) and event.mean_dice is not None:
            bar.update(progress, f"validation Dice {event.mean_dice:.3f}")

    try:
        result = run_to_completion(trainer.run(), show)
    except KeyboardInterrupt:
        bar.close()
        save_model(trainer.best, args.out)
        print(f"interrupted: best model so far saved to {args.out}", file=sys.stderr)
        return 130
    bar.close()
    save_model(result.model, args.out)
    dice = result.best_validation_dice
    print(f"trained {result.steps} steps in {result.elapsed:.1f} s ({result.stop_reason}); "
          f"validation Dice {dice:.3f}" if dice is not None else
          f"trained {result.steps} steps in {result.elapsed:.1f} s ({result.stop_reason})")
    print(f"model saved to {args.out}")
    return 0
