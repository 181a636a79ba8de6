"""``napari-unet train --project DIR``: a project's next round, headless.

Learns from the project's images and their labels (as last saved), continuing the
project's current model (a new model of ``--preset`` / ``--ndim`` when it has none). The
round's model goes into a new file of the project, the round (settings, seed, labels
hash, scores, steps, time, device) into its manifest, and it becomes current. On the
CPU, the same project state and ``--seed`` give the same weights.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from napari_unet.core import (
    PRESETS,
    StopFlag,
    TrainedModel,
    Trainer,
    TrainingConfig,
    UNetConfig,
    run_to_completion,
)
from napari_unet.core.errors import UserInputError
from napari_unet.core.project import Project
from napari_unet.core.project.training import TrainingInputs, round_settings, training_inputs
from napari_unet.core.reliability import round_validation_text

from ._progress import ProgressBar, training_printer

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
FILE_OPTIONS = ("images", "labels", "out", "init")


def train_next_round(args: argparse.Namespace) -> int:
    """Train and record the next round of ``args.project``; returns the exit code."""
    given = [f"--{name}" for name in FILE_OPTIONS if getattr(args, name, None) is not None]
    if given or args.dense:
        raise UserInputError(
            f"--project takes the images, labels and model from the project; drop "
            f"{', '.join(given + (['--dense'] if args.dense else []))}."
        )
    project = Project.open(args.project)
    inputs = training_inputs(project)
    init = project.current_model()
    model_config = _new_model_config(args, init)
    config = TrainingConfig(
        max_time=args.max_time if (args.max_time is not None or args.steps is not None) else 60.0,
        max_steps=args.steps,
        seed=args.seed,
        device=args.device,
        adversarial_eps=args.adversarial_eps,
        adversarial_steps=args.adversarial_steps,
        natural_perturbations=args.natural_perturbations,
    )
    trainer = Trainer(
        inputs.images,
        inputs.labels,
        dense=inputs.dense,
        init=init,
        model_config=model_config,
        config=config,
        stop=StopFlag(),
        rgb=inputs.rgb,
    )
    bar = ProgressBar("training", total=1.0)
    show, seen = training_printer(bar)
    try:
        result = run_to_completion(trainer.run(), show)
    except KeyboardInterrupt:
        bar.close()
        what = f"interrupted at step {seen['step']}"
        return _record(project, trainer.best, inputs, config, model_config, init, what, 0.0,
                       seen["device"], EXIT_INTERRUPTED)  # fmt: skip
    bar.close()
    print(f"trained {result.summary()}")
    code = EXIT_BAD_INPUT if result.stop_reason == "out_of_memory" else 0
    return _record(project, result.model, inputs, config, model_config, init,
                   f"stopped after {result.steps} steps", result.elapsed,
                   seen["device"], code)  # fmt: skip


def _new_model_config(args: argparse.Namespace, init: TrainedModel | None) -> UNetConfig | None:
    """The U-Net settings of a new model (the project has no model yet), else None."""
    if init is None:
        return replace(UNetConfig(), spatial_dims=args.ndim or 2, **PRESETS[args.preset or "fast"])
    if args.preset is not None:
        raise UserInputError(
            "--preset sets the size of a new model; this project continues its current "
            "model. Drop --preset."
        )
    if args.ndim is not None and args.ndim != init.spatial_dims:
        raise UserInputError(
            f"The project's current model is {init.spatial_dims}D but --ndim {args.ndim} was given."
        )
    return None


def _record(
    project: Project,
    model: TrainedModel,
    inputs: TrainingInputs,
    config: TrainingConfig,
    model_config: UNetConfig | None,
    init: TrainedModel | None,
    what: str,
    seconds: float,
    device: str,
    code: int,
) -> int:
    """Add ``model`` as the project's next round if it learned; one line says what."""
    if not model.rounds or not model.rounds[-1].get("steps"):
        print(f"{what}, before the model was first validated: no round added.", file=sys.stderr)
        return code or EXIT_BAD_INPUT
    record = project.record_round(
        model,
        what="Training" if init is None else "Continuing",
        settings=round_settings(config, dense=inputs.dense, model_config=model_config),
        seed=config.seed,
        learned_from=list(zip(inputs.names, inputs.labels)),
        steps=int(model.rounds[-1]["steps"]),
        seconds=seconds or float(model.rounds[-1].get("seconds") or 0.0),
        device=device,
        parent=project.manifest.current_round,
    )
    project.save()
    validation = round_validation_text(model.rounds[-1])
    score = f", {validation}" if validation else ""
    print(
        f"{what}: round {record.number} (model of step {model.rounds[-1]['steps']}{score}) "
        f"saved to {project.folder / record.model}; it is the project's current model",
        file=sys.stdout if code == 0 else sys.stderr,
    )
    return code
