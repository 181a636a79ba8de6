"""Random augmentations of training batches, done in PyTorch on the training device.

What a model learns from strokes on one image should hold on the next acquisition:
another magnification, orientation, noise level, focus and contrast. Each patch draws
its own parameters (nnU-Net-style, Isensee et al. 2021):

* geometry: one affine resampling per patch combining a zoom (log-uniform in ``zoom``),
  a rotation by any angle and flips; the image is resampled bilinearly and the targets
  with the *same grid* by nearest neighbour, so labels stay aligned. The sampler cuts
  patches :func:`context_factor` times larger so a zoomed-out patch still sees image
  (not padding) in its corners.
* intensity: brightness / contrast, gamma, Gaussian blur, simulated low resolution,
  Gaussian and Poisson (shot) noise.

The transforms themselves are :mod:`napari_unet.core.transforms`; this module draws their
random parameters per patch and keeps the targets on the same geometry.

3D batches are rotated and zoomed in the YX plane only (Z often has another spacing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..transforms import (
    affine_grid_for,
    downsample_upsample,
    gamma,
    gaussian_blur,
    gaussian_noise,
    poisson_noise,
)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply to each training patch (normalized intensity units:
    the image's 1st..99.8th percentile spans 0..1)."""

    flips: bool = True
    rotate90: bool = False  # superseded by ``rotate`` (kept for old settings)
    rotate: bool = True  # any angle
    zoom: tuple[float, float] = (0.5, 2.0)  # object size factor, log-uniform; (1, 1) = off
    # Off by default: images are normalized by their own percentiles, and jittering the
    # normalized intensities cost up to 0.04 dev F1 and 0.05 ISBI Dice (benchmarks/
    # bench_generalization.py, "+ gamma/contrast"); the natural perturbations of training
    # (TrainingConfig.natural_perturbations) still offer contrast changes.
    intensity_scale: float = 0.0  # multiply by U(1 - s, 1 + s)
    intensity_shift: float = 0.0  # add U(-s, s)
    gamma: float = 0.0  # gamma log-uniform in [1/(1+g), 1+g], half of the patches; 0 = off
    blur: float = 1.5  # Gaussian sigma U(0, blur) pixels, a fifth of the patches; 0 = off
    low_resolution: float = 2.0  # down-sample by U(1, f) and back, a fifth; <= 1 = off
    noise: float = 0.15  # noise sigma U(0, noise), a third of the patches; 0 = off
    elastic: bool = False
    elastic_strength: float = 4.0  # pixels of maximal displacement

    @property
    def warps(self) -> bool:
        """Whether patches are resampled (zoom or rotation)."""
        return self.rotate or self.zoom != (1.0, 1.0)


# The augmentation before issue 8 (flips, 90-degree turns, mild brightness/contrast):
# the reference of the generalization benchmark.
LEGACY_AUGMENT = AugmentConfig(
    rotate90=True,
    rotate=False,
    zoom=(1.0, 1.0),
    intensity_scale=0.2,
    intensity_shift=0.1,
    gamma=0.0,
    blur=0.0,
    low_resolution=0.0,
    noise=0.0,
)


# The default plus brightness/contrast and gamma: what training against natural
# perturbations uses at full strength (core.natural_augment).
CONTRAST_AUGMENT = AugmentConfig(intensity_scale=0.3, intensity_shift=0.15, gamma=0.5)


def context_factor(cfg: AugmentConfig) -> float:
    """How much larger than the patch the sampled window must be for ``cfg``'s warps:
    the farthest source pixel of a patch zoomed by ``zoom[0]`` and rotated 45 degrees."""
    if not cfg.warps:
        return 1.0
    return (math.sqrt(2.0) if cfg.rotate else 1.0) / min(cfg.zoom[0], 1.0)


def augment_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: AugmentConfig,
    gen: torch.Generator,
    patch_size: tuple[int, ...] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch (and cut the centred ``patch_size`` out of a larger window).

    Shape:
        - x: ``(B, C, *W)`` float images, W = (Y, X) or (Z, Y, X), normalized units
        - y: ``(B, *W)`` int64 targets, -1 = ignore
        - returns ``(B, C, *P)`` and ``(B, *P)``, P = ``patch_size`` (default W)
    """
    size = tuple(patch_size or x.shape[2:])
    if cfg.warps:
        x, y = _warp(x, y, cfg, gen, size)
    else:
        x, y = _centre_crop(x, size), _centre_crop(y.unsqueeze(1), size).squeeze(1)
        if cfg.flips:
            x, y = _flip(x, y, gen)
        if cfg.rotate90 and x.shape[-1] == x.shape[-2]:
            k = int(torch.randint(0, 4, (1,), generator=gen))
            if k:
                x = torch.rot90(x, k, dims=(-2, -1))
                y = torch.rot90(y, k, dims=(-2, -1))
    if cfg.elastic:
        x, y = _elastic(x, y, cfg.elastic_strength, gen)
    x = _intensity(x, cfg, gen)
    return x.contiguous(), y.contiguous()


def _uniform(shape: tuple[int, ...], low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen) * (high - low) + low


def _chance(b: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(b, generator=gen) < p


def _centre_crop(t: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """The centred ``size`` window of the spatial axes of ``(B, C, *W)``."""
    starts = [(w - s) // 2 for w, s in zip(t.shape[2:], size)]
    return t[(slice(None), slice(None)) + tuple(slice(a, a + s) for a, s in zip(starts, size))]


def _flip(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    dims = x.ndim - 2
    for axis in range(dims):
        flip = _chance(x.shape[0], 0.5, gen).to(x.device)
        if flip.any():
            x = torch.where(flip.view(-1, *[1] * (dims + 1)), x.flip(2 + axis), x)
            y = torch.where(flip.view(-1, *[1] * dims), y.flip(1 + axis), y)
    return x, y


def _geometry(cfg: AugmentConfig, b: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Per-patch rotation (degrees), zoom factor and x-flip sign, each ``(B,)``."""
    lo, hi = cfg.zoom
    factor = torch.exp(_uniform((b,), math.log(lo), math.log(hi), gen)).double()
    degrees = _uniform((b,), 0.0, 360.0, gen).double() if cfg.rotate else torch.zeros(b).double()
    sign = torch.where(_chance(b, 0.5, gen), -1.0, 1.0) if cfg.flips else torch.ones(b)
    return degrees, factor, sign


def _warp(
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: AugmentConfig,
    gen: torch.Generator,
    size: tuple[int, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the centred ``size`` patch of each window through a random rotation, zoom
    and flip (:func:`transforms.affine_grid_for`, rescaled from patch to window): image
    bilinear (reflected at the border), targets nearest on the same grid (ignored outside)."""
    b, dims = x.shape[0], x.ndim - 2
    degrees, factor, sign = _geometry(cfg, b, gen)
    grid = affine_grid_for((b, 1) + size, degrees, factor)  # normalized to the patch
    shrink = [(p - 1) / max(w - 1, 1) for p, w in zip(reversed(size), reversed(x.shape[2:]))]
    grid = grid * torch.tensor(shrink, dtype=grid.dtype)  # ... now to the window
    grid[..., 0] *= sign.view(-1, *[1] * dims).to(grid.dtype)
    if dims == 3 and cfg.flips:
        grid[..., 2] *= torch.where(_chance(b, 0.5, gen), -1.0, 1.0).view(-1, 1, 1, 1)
    grid = grid.to(x.device)
    xw = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    yw = F.grid_sample(
        (y + 1).unsqueeze(1).float(), grid, mode="nearest", padding_mode="zeros", align_corners=True
    )
    return xw, yw.squeeze(1).long() - 1  # shifted back: 0 (outside / ignored) -> -1


def _where(chosen: torch.Tensor, value: torch.Tensor, neutral: float) -> torch.Tensor:
    """Per-sample strengths ``(B,)``: ``value`` where ``chosen``, else the neutral value."""
    return torch.where(chosen, value, torch.full_like(value, neutral)).double()


def _intensity(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Per-patch gamma, brightness/contrast, blur, low resolution and noise
    (the functions of :mod:`napari_unet.core.transforms`)."""
    b, c = x.shape[:2]
    dims = x.ndim - 2
    if cfg.gamma > 0:
        g = torch.exp(_uniform((b,), -math.log1p(cfg.gamma), math.log1p(cfg.gamma), gen))
        x = gamma(x, _where(_chance(b, 0.5, gen), g, 1.0))
    if cfg.intensity_scale or cfg.intensity_shift:
        shape = (b, c) + (1,) * dims
        scale = 1 + _uniform(shape, -1, 1, gen) * cfg.intensity_scale
        shift = _uniform(shape, -1, 1, gen) * cfg.intensity_shift
        x = x * scale.to(x.device) + shift.to(x.device)
    if cfg.blur > 0:
        sigma = _uniform((b,), 0.3, max(cfg.blur, 0.3), gen)
        x = gaussian_blur(x, _where(_chance(b, 0.2, gen), sigma, 0.0))
    if cfg.low_resolution > 1:
        factor = _uniform((b,), 1.0, cfg.low_resolution, gen)
        x = downsample_upsample(x, _where(_chance(b, 0.2, gen), factor, 1.0))
    if cfg.noise > 0:
        sigma = _uniform((b,), 0.01, max(cfg.noise, 0.01), gen)
        noisy, shot = _chance(b, 1 / 3, gen), _chance(b, 0.5, gen)
        x = gaussian_noise(x, _where(noisy & ~shot, sigma, 0.0), gen)
        x = poisson_noise(x, _where(noisy & shot, 1 / sigma**2, math.inf), gen)
    return x


def _elastic(
    x: torch.Tensor, y: torch.Tensor, strength: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random displacement: a coarse random grid, up-sampled, applied by grid_sample."""
    dims = x.ndim - 2
    size = x.shape[2:]
    b = x.shape[0]
    coarse = torch.randn((b, dims) + (4,) * dims, generator=gen).to(x.device)
    mode = "bilinear" if dims == 2 else "trilinear"
    field = F.interpolate(coarse, size=size, mode=mode, align_corners=True)
    # displacement in normalized [-1, 1] coordinates, per axis in grid order (x, y[, z])
    scale = torch.tensor([2.0 * strength / max(s - 1, 1) for s in reversed(size)], device=x.device)
    field = field.flip(1).movedim(1, -1) * scale
    axes = [torch.linspace(-1, 1, s, device=x.device) for s in size]
    base = torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], dim=-1)
    grid = base.unsqueeze(0) + field
    xw = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    yw = F.grid_sample(
        (y + 1).unsqueeze(1).float(), grid, mode="nearest", padding_mode="zeros", align_corners=True
    )
    return xw, yw.squeeze(1).long() - 1  # shifted back: 0 (outside / ignored) -> -1
