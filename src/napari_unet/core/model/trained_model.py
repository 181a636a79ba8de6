"""A trained network together with everything needed to use it on new images."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from ..data.images import Normalization
from ..data.labels import ClassInfo
from ..reliability import round_validation_text
from .unet import UNet, UNetConfig


@dataclass
class TrainedModel:
    """A :class:`UNet` plus its classes, normalization and training history.

    ``summary`` is JSON-serializable: ``{"rounds": [{"round", "steps", "seconds",
    "painted_pixels", "validation_dice", "validation_pixels"}, ...], ...}``
    (``validation_pixels``: held-out pixels per scored class; absent in older files).
    """

    network: UNet
    classes: ClassInfo
    normalization: Normalization = field(default_factory=Normalization)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> UNetConfig:
        return self.network.config

    @property
    def spatial_dims(self) -> int:
        return self.network.config.spatial_dims

    @property
    def in_channels(self) -> int:
        return self.network.config.in_channels

    @property
    def num_classes(self) -> int:
        return self.network.config.num_classes

    @property
    def boundary_class(self) -> int | None:
        """The class value (1..K) named as the membranes between cells, or None."""
        return self.classes.boundary_class

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return list(self.summary.get("rounds", []))

    def copy(self) -> TrainedModel:
        """A deep copy with its own weights (on the CPU)."""
        net = UNet(self.network.config)
        net.load_state_dict(
            {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        )
        return TrainedModel(net, self.classes, self.normalization, copy.deepcopy(self.summary))

    def describe(self) -> str:
        """One line for the GUI and the command line."""
        c = self.config
        rounds = self.rounds
        last = rounds[-1] if rounds else {}
        validation = round_validation_text(last)
        dice_txt = f", {validation}" if validation else ""
        return (
            f"{c.spatial_dims}D U-Net depth {c.depth} width {c.base_channels}, "
            f"{c.in_channels} channel(s), {c.num_classes} classes, "
            f"{len(rounds)} training round(s){dice_txt}"
        )

    def state_on_cpu(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
