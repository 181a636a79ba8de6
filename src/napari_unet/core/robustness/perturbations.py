"""Perturbation kinds, their units and levels, and the natural perturbations themselves.

Units (see :data:`UNITS`): noise = Gaussian sigma and attacks = eps, both in the model's
normalized intensity units; blur = Gaussian sigma in pixels; rotation = degrees about the
image centre (reflecting borders); scale = zoom factor about the centre; contrast = gamma.
A natural perturbation works on a normalized batch; rotation and scale also move the
labels (:func:`geometry_grid`, :func:`warp_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .. import transforms
from ..errors import UserInputError

NATURAL = ("noise", "blur", "rotation", "scale", "contrast")
ATTACK_KINDS = ("fgsm", "pgd", "segpgd", "eot")
KINDS = NATURAL + ATTACK_KINDS
GEOMETRIC = ("rotation", "scale")
NEUTRAL = {
    "noise": 0.0,
    "blur": 0.0,
    "rotation": 0.0,
    "scale": 1.0,
    "contrast": 1.0,
    **{k: 0.0 for k in ATTACK_KINDS},
}
UNITS = {
    "noise": "Gaussian noise sigma (normalized intensity)",
    "blur": "Gaussian blur sigma (pixels)",
    "rotation": "rotation (degrees about the centre)",
    "scale": "zoom factor about the centre",
    "contrast": "gamma",
    **{k: f"{k.upper()} eps (normalized intensity)" for k in ATTACK_KINDS},
}


def check_levels(kind: str, levels: Sequence[float]) -> list[float]:
    """The levels as floats, or :class:`UserInputError` naming the first bad one."""
    if kind not in KINDS:
        raise UserInputError(f"Unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}.")
    if not levels:
        raise UserInputError("Give at least one level.")
    out = []
    for value in levels:
        level = float(value)
        if not math.isfinite(level):
            raise UserInputError(f"Level {value} of {kind} is not a finite number.")
        if kind == "scale" and level <= 0:
            raise UserInputError(f"Zoom factor {level:g} must be > 0 (1 = no zoom).")
        if kind == "contrast" and level <= 0:
            raise UserInputError(f"Gamma {level:g} must be > 0 (1 = no change).")
        if kind in ("noise", "blur") and level < 0:
            raise UserInputError(f"{kind} sigma {level:g} must be >= 0 (0 = none).")
        if kind in ATTACK_KINDS and level < 0:
            raise UserInputError(f"eps {level:g} must be >= 0 (normalized units).")
        out.append(level)
    return out


def perturb(
    kind: str, x: torch.Tensor, level: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the natural perturbation ``kind`` at ``level`` to a normalized batch.

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; the neutral level returns ``x`` itself.
    """
    if kind == "noise":
        return transforms.gaussian_noise(x, level, generator)
    if kind == "blur":
        return transforms.gaussian_blur(x, level)
    if kind == "rotation":
        return transforms.rotate(x, level)
    if kind == "scale":
        return transforms.zoom(x, level)
    if kind == "contrast":
        return transforms.gamma(x, level)
    raise ValueError(f"{kind!r} is not a natural perturbation; one of {NATURAL}.")


def geometry_grid(kind: str, shape: tuple[int, ...], level: float) -> torch.Tensor | None:
    """The sampling grid of a rotation or zoom at ``level`` (``None`` for other kinds)."""
    if kind == "rotation":
        return transforms.affine_grid_for(shape, level, 1.0)
    if kind == "scale":
        return transforms.affine_grid_for(shape, 0.0, level)
    return None


def warp_labels(labels: np.ndarray, grid: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Labels warped like the image (nearest, reflecting), and where their source is inside.

    Shape: labels ``(*S)``, grid ``(1, *S, dims)`` -> ``(*S)`` labels, ``(*S)`` bool.
    """
    t = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))[None, None]
    moved = transforms.warp(t, grid, "nearest", "reflection")[0, 0].numpy()
    inside = transforms.warp(torch.ones_like(t), grid, "nearest", "zeros")[0, 0].numpy() > 0
    return moved.astype(labels.dtype), inside
