"""Training rounds from and into a project: the settings a round records, and the
images and labels a headless round (``napari-unet train --project``) learns from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ..model.unet import UNetConfig
from ..training.trainer import TrainingConfig
from .checks import ProjectError
from .folder import Project


def round_settings(
    config: TrainingConfig, *, dense: bool, model_config: UNetConfig | None = None
) -> dict[str, Any]:
    """What a round records of its settings, as JSON values: the training config (its
    ``checkpoint`` path dropped), whether the labels were dense, and the new model's
    U-Net settings (None when the round continued a model)."""
    settings = asdict(config)
    settings.pop("checkpoint", None)
    settings["dense"] = bool(dense)
    settings["new_model"] = None if model_config is None else model_config.to_dict()
    return json.loads(json.dumps(settings, default=str))  # tuples to lists, all JSON


@dataclass(frozen=True)
class TrainingInputs:
    """The project's images with labels, as the :class:`Trainer` takes them: ``images``
    ``(*spatial[, C])`` (lazy for files), ``labels`` ``(*spatial)``, the image ``names``."""

    names: list[str]
    images: list[Any]
    labels: list[Any]
    dense: bool
    rgb: bool


def training_inputs(project: Project) -> TrainingInputs:
    """Every image of ``project`` that has labels, opened and checked; a missing image
    file or a mix of sparse and dense labels is refused with what to do."""
    entries = [entry for entry in project.manifest.images if entry.labels is not None]
    if not entries:
        raise ProjectError(
            f"The project {project.folder} has no labels to learn from: paint strokes in "
            "napari and save the project (Train widget, Save project…)."
        )
    kinds = {entry.labels.kind for entry in entries}
    rgbs = {entry.rgb for entry in entries}
    if len(kinds) > 1 or len(rgbs) > 1:
        raise ProjectError(
            f"The project {project.folder} mixes sparse strokes and dense masks, or RGB and "
            "single-channel images; one round learns from one kind."
        )
    opened, problems = project.open_images()
    if problems:
        raise ProjectError("; ".join(problems))  # a missing image: nothing to learn from
    by_name = {image.entry.name: image for image in opened}
    chosen = [by_name[entry.name] for entry in entries]
    return TrainingInputs(
        names=[image.entry.name for image in chosen],
        images=[image.data for image in chosen],
        labels=[image.labels for image in chosen],
        dense=kinds == {"dense"},
        rgb=rgbs == {True},
    )
