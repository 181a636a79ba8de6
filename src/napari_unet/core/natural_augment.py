"""Training against natural perturbations: random rotation, zoom, blur, contrast and noise.

The same functions as the robustness curves (:mod:`.transforms`), applied to training
batches with random per-sample strengths; the labels follow the geometry (nearest, the
pixels coming from outside the image are not counted). Switched on by
``TrainingConfig(natural_perturbations=s)``, ``s`` in (0, 1] scaling every range below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import transforms


@dataclass(frozen=True)
class NaturalPerturbations:
    """The ranges at strength 1; each perturbation hits a sample with ``probability``.

    max_degrees: rotation uniform in ``[-max_degrees, max_degrees]``.
    max_zoom: zoom log-uniform in ``[1 / max_zoom, max_zoom]``.
    max_blur: Gaussian blur sigma uniform in ``[0, max_blur]`` pixels.
    max_gamma: gamma log-uniform in ``[1 / max_gamma, max_gamma]``.
    max_noise: Gaussian noise sigma uniform in ``[0, max_noise]`` (normalized units).
    """

    probability: float = 0.5
    max_degrees: float = 30.0
    max_zoom: float = 1.25
    max_blur: float = 1.5
    max_gamma: float = 1.5
    max_noise: float = 0.1


def _draw(batch: int, probability: float, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Uniform draws in [-1, 1] ``(batch,)`` for the five perturbations, 0 where not applied."""
    u = torch.rand(5, batch, generator=gen, dtype=torch.float64) * 2 - 1
    on = torch.rand(5, batch, generator=gen, dtype=torch.float64) < probability
    return tuple(u * on)


def perturb_batch(x: torch.Tensor, y: torch.Tensor, strength: float, gen: torch.Generator,
                  ranges: NaturalPerturbations = NaturalPerturbations()
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly rotate, zoom, blur, change the contrast of and add noise to a batch.

    Shape:
        - x: ``(B, C, *S)`` normalized float images
        - y: ``(B, *S)`` int64 targets, -1 = not counted (also where the geometry brings in
          pixels from outside the image)
    """
    if strength <= 0:
        return x, y
    rot, zoom, blur, gam, noise = _draw(x.shape[0], ranges.probability, gen)
    degrees = rot * ranges.max_degrees * strength
    factor = torch.exp(zoom * math.log(ranges.max_zoom) * strength)
    grid = transforms.affine_grid_for(x.shape, degrees, factor, device=x.device)
    x = transforms.warp(x, grid, "bilinear", "reflection")
    y = transforms.warp((y + 1).unsqueeze(1), grid, "nearest", "zeros")[:, 0] - 1
    x = transforms.gaussian_blur(x, blur.abs() * ranges.max_blur * strength)
    x = transforms.gamma(x, torch.exp(gam * math.log(ranges.max_gamma) * strength))
    x = transforms.gaussian_noise(x, noise.abs() * ranges.max_noise * strength, gen)
    return x, y
