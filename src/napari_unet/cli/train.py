"""``napari-unet train``: train (or fine-tune) a U-Net from images and painted labels,
or (``--project DIR``) run a project's next round from its images and labels."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from napari_unet.core import (
    PRESETS,
    StopFlag,
    TrainedModel,
    Trainer,
    TrainingConfig,
    UNetConfig,
    load_model,
    run_to_completion,
)
from napari_unet.core.data.labels import MAX_CLASSES
from napari_unet.core.errors import UserInputError
from napari_unet.core.io.image_files import open_image
from napari_unet.core.model.model_file import is_model_file, save_model_or_rescue
from napari_unet.core.reliability import round_validation_text

from ._inputs import add_channels, add_device, check_pairs, open_inputs
from ._progress import ProgressBar, training_printer
from ._validate import (
    existing_file,
    existing_image,
    float_in_range,
    int_in_range,
    output_file,
    positive_float,
    positive_int,
    seed,
)

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from images and (sparse or dense) labels")
    p.add_argument(
        "--images",
        nargs="+",
        metavar="IMG",
        type=existing_image,
        help="TIFF, PNG or zarr / OME-Zarr images (zarr and TIFF read lazily)",
    )
    p.add_argument(
        "--labels",
        nargs="+",
        metavar="LAB",
        type=existing_image,
        help="one label image per image: 0 = unpainted, 1..K = classes (or --dense)",
    )
    p.add_argument("--out", metavar="MODEL", type=output_file, help="model file to write (.pt)")
    p.add_argument(
        "--project",
        metavar="DIR",
        default=None,
        help="instead of --images, --labels, --out and --init: train the next round of this "
        "project (napari-unet Train widget) from its images and labels, continuing its "
        "current model; the round is added to the project and becomes current",
    )
    p.add_argument(
        "--max-time",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="time budget in seconds (default 60 unless --steps is given)",
    )
    p.add_argument(
        "--steps", type=positive_int, default=None, metavar="N", help="number of training steps"
    )
    p.add_argument(
        "--dense",
        action="store_true",
        help="labels are dense masks: every value is a class (e.g. 0/255)",
    )
    p.add_argument(
        "--ndim",
        type=int,
        choices=(2, 3),
        default=None,
        help="2D model (slice by slice, default) or 3D model (volumes)",
    )
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="model size: tiny, fast (default), large or classic "
        "(depth and width as in the Train widget)",
    )
    p.add_argument(
        "--init",
        metavar="MODEL",
        default=None,
        type=existing_file,
        help="fine-tune this model file",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed 0..2**32-1 (default 0)")
    p.add_argument(
        "--adversarial-eps",
        type=float_in_range(0.0, 1.0),
        default=0.0,
        metavar="EPS",
        help="train on PGD adversarial examples made on the fly with this L-inf "
        "budget (normalized intensity units, e.g. 0.0157 = 4/255); 0 = off",
    )
    p.add_argument(
        "--adversarial-steps",
        type=int_in_range(1, 100),
        default=3,
        metavar="N",
        help="PGD steps per adversarial batch (default 3)",
    )
    p.add_argument(
        "--natural-perturbations",
        type=float_in_range(0.0, 2.0),
        default=None,
        metavar="S",
        help="strength of the natural perturbations in the training "
        "augmentation (random rotation, zoom 0.5-2x, blur, low resolution, "
        "noise): 1 = the default augmentation, 0 = none (flips and mild "
        "brightness/contrast only), 2 = the default plus brightness/contrast "
        "and gamma changes, between = interpolated ranges",
    )
    p.add_argument(
        "--boundary-class",
        type=int_in_range(1, MAX_CLASSES),
        default=None,
        metavar="K",
        help="the class value painted on the membranes between cells (e.g. 1 for ISBI's "
        "dense 0/255 masks, where 0 = membrane becomes class 1); the model remembers it "
        "so cells can be cut along it (boundary_instances); default: none, or the "
        "--init model's",
    )
    add_channels(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.project is not None:
        return run_project_round(args)
    missing = [f"--{name}" for name in ("images", "labels", "out") if getattr(args, name) is None]
    if missing:
        raise UserInputError(
            f"the following arguments are required: {', '.join(missing)} (or --project DIR)"
        )
    check_pairs(args.images, args.labels, "images", "labels")
    check_replaceable(args.out)
    trainer = _make_trainer(args)
    bar = ProgressBar("training", total=1.0)
    show, seen = training_printer(bar)
    try:
        result = run_to_completion(trainer.run(), show)
    except KeyboardInterrupt:
        bar.close()
        return save_learned(
            trainer.best, args.out, f"interrupted at step {seen['step']}", EXIT_INTERRUPTED
        )
    bar.close()
    print(f"trained {result.summary()}")
    code = EXIT_BAD_INPUT if result.stop_reason == "out_of_memory" else 0  # as cli.main does
    code = save_learned(result.model, args.out, f"stopped after {result.steps} steps", code)
    if result.undertrained and code == 0:  # saved where asked: say how to go on from it
        print(
            f"To continue training this model: napari-unet train --init {args.out} "
            "(same --images and --labels, another --out).",
            file=sys.stderr,
        )
    return code


def run_project_round(args: argparse.Namespace) -> int:
    """The next round of the project ``args.project`` (see :mod:`._project_round`)."""
    from ._project_round import train_next_round

    return train_next_round(args)


def _make_trainer(args: argparse.Namespace) -> Trainer:
    """Read the files and build the :class:`Trainer` (everything before the first step)."""
    max_time = args.max_time if (args.max_time is not None or args.steps is not None) else 60.0
    init = load_model(args.init) if args.init else None
    if init is not None and args.ndim is not None and init.spatial_dims != args.ndim:
        raise UserInputError(
            f"--init is a {init.spatial_dims}D model but --ndim {args.ndim} was given."
        )
    if init is not None and args.preset is not None:
        raise UserInputError(
            "--preset sets the size of a new model; --init keeps the size of "
            "the model it fine-tunes. Give one of them."
        )
    images, rgb, channel_axis = open_inputs(args.images, args, init.in_channels if init else None)
    labels = [open_image(p).data for p in args.labels]  # zarr and TIFF labels stay lazy
    config = TrainingConfig(
        max_time=max_time,
        max_steps=args.steps,
        seed=args.seed,
        device=args.device,
        checkpoint=args.out,
        adversarial_eps=args.adversarial_eps,
        adversarial_steps=args.adversarial_steps,
        natural_perturbations=args.natural_perturbations,
        boundary_class=args.boundary_class,
    )
    return Trainer(
        images,
        labels,
        dense=args.dense,
        init=init,
        model_config=replace(
            UNetConfig(), spatial_dims=args.ndim or 2, **PRESETS[args.preset or "fast"]
        ),
        config=config,
        stop=StopFlag(),
        rgb=rgb,
        channel_axis=channel_axis,
    )


def check_replaceable(out: str) -> None:
    """``--out`` may replace only a napari-unet model file, never e.g. a labels TIFF."""
    if Path(out).exists() and not is_model_file(out):
        raise UserInputError(
            f"--out {out} exists and is not a napari-unet model file; "
            "refusing to replace it. Choose another file name."
        )


def save_learned(model: TrainedModel, out: str, what: str, code: int) -> int:
    """Save ``model`` to ``out`` only if it learned (took a step and was validated), so an
    early stop never replaces a good model with an untrained one. A disk that refuses the
    write gets the model kept in a rescue folder. Prints one line; returns the exit code."""
    if not model.rounds or not model.rounds[-1].get("steps"):
        state = "left unchanged" if Path(out).exists() else "not written"
        print(
            f"{what}, before the model was first validated: no model saved ({out} {state}).",
            file=sys.stderr,
        )
        return code or EXIT_BAD_INPUT
    outcome = save_model_or_rescue(model, out)
    if outcome.error is not None:
        print(
            f"{what}: could not write {out} ({outcome.error.strerror or outcome.error}); the "
            f"model was saved to {outcome.path} instead ({out} is unchanged).",
            file=sys.stderr,
        )
        return code or EXIT_BAD_INPUT
    validation = round_validation_text(model.rounds[-1])
    score = f", {validation}" if validation else ""
    print(
        f"{what}: model of step {model.rounds[-1]['steps']}{score} saved to {out}",
        file=sys.stdout if code == 0 else sys.stderr,
    )
    return code
