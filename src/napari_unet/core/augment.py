"""Random augmentations of training batches, done in PyTorch on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply to each training patch."""

    flips: bool = True
    rotate90: bool = True
    intensity_scale: float = 0.2  # multiply by U(1 - s, 1 + s)
    intensity_shift: float = 0.1  # add U(-s, s) (normalized units)
    elastic: bool = False
    elastic_strength: float = 4.0  # pixels of maximal displacement


def augment_batch(
    x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch.

    Shape:
        - x: ``(B, C, *S)`` float images, S = (Y, X) or (Z, Y, X)
        - y: ``(B, *S)`` int64 targets, -1 = ignore
    """
    dims = x.ndim - 2
    b = x.shape[0]
    dev = x.device

    def coin() -> torch.Tensor:
        return torch.rand(b, generator=gen) < 0.5

    if cfg.flips:
        for axis in range(dims):
            flip = coin().to(dev)
            if flip.any():
                x = torch.where(flip.view(-1, *[1] * (dims + 1)), x.flip(2 + axis), x)
                y = torch.where(flip.view(-1, *[1] * dims), y.flip(1 + axis), y)
    if cfg.rotate90 and x.shape[-1] == x.shape[-2]:
        k = int(torch.randint(0, 4, (1,), generator=gen))
        if k:
            x = torch.rot90(x, k, dims=(-2, -1))
            y = torch.rot90(y, k, dims=(-2, -1))
    if cfg.intensity_scale or cfg.intensity_shift:
        shape = (b, x.shape[1]) + (1,) * dims
        scale = 1 + (torch.rand(shape, generator=gen) * 2 - 1) * cfg.intensity_scale
        shift = (torch.rand(shape, generator=gen) * 2 - 1) * cfg.intensity_shift
        x = x * scale.to(dev) + shift.to(dev)
    if cfg.elastic:
        x, y = _elastic(x, y, cfg.elastic_strength, gen)
    return x.contiguous(), y.contiguous()


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
    yw = F.grid_sample((y + 1).unsqueeze(1).float(), grid, mode="nearest",
                       padding_mode="zeros", align_corners=True)
    return xw, yw.squeeze(1).long() - 1  # shifted back: 0 (outside / ignored) -> -1
