"""U-Net (Ronneberger et al. 2015) for 2D and 3D images, in plain PyTorch.

One class serves both dimensionalities through ``spatial_dims``. Convolutions are
3x3 (3x3x3) with "same" padding, so the output has the size of the input; inputs whose
size is not a multiple of ``2**depth`` are padded inside :meth:`UNet.forward` and the
output is cropped back, so any size works, including sizes smaller than one tile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "group", "instance", "none")
UP_MODES = ("transpose", "interpolate")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet`; validated on construction.

    Attributes
    ----------
    in_channels: number of image channels C.
    num_classes: number of output classes K (one logit map per class).
    spatial_dims: 2 for (Y, X) images, 3 for (Z, Y, X) volumes.
    depth: number of poolings (the classic U-Net has 4).
    base_channels: feature maps of the first level; doubled at every level.
    up_mode: ``"transpose"`` (transposed convolution) or ``"interpolate"``
        (bilinear/trilinear up-sampling followed by a 1x1 convolution).
    norm: ``"batch"``, ``"group"``, ``"instance"`` or ``"none"``.
    separable: depthwise-separable 3x3 convolutions (fewer parameters and FLOPs).
    dropout: dropout probability in the two deepest levels.
    """

    in_channels: int = 1
    num_classes: int = 2
    spatial_dims: int = 2
    depth: int = 3
    base_channels: int = 16
    up_mode: str = "transpose"
    norm: str = "batch"
    separable: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}.")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}.")
        if self.num_classes < 2:
            raise ValueError(
                f"num_classes must be >= 2 (background and at least one object class), "
                f"got {self.num_classes}."
            )
        if not 1 <= self.depth <= 6:
            raise ValueError(f"depth must be between 1 and 6, got {self.depth}.")
        if self.base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {self.base_channels}.")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}.")
        if self.up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {self.up_mode!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.norm == "group" and self.base_channels % _groups(self.base_channels) != 0:
            raise ValueError("base_channels is not divisible into groups for group norm.")

    @property
    def size_multiple(self) -> int:
        """Spatial sizes are padded internally to a multiple of this."""
        return 2**self.depth

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown U-Net settings in model file: {sorted(unknown)}.")
        return cls(**data)


PRESETS: dict[str, dict[str, Any]] = {
    # "fast" is the default: on a 2-core laptop CPU a training step of 8 patches of
    # 128x128 takes ~0.18 s (0.63 s with base 32), so a minute of training is ~300 steps.
    "tiny": {"depth": 2, "base_channels": 8},
    "fast": {"depth": 3, "base_channels": 16},
    "large": {"depth": 4, "base_channels": 32},
    "classic": {"depth": 4, "base_channels": 64},
}


def _groups(channels: int) -> int:
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv2d if dims == 2 else nn.Conv3d


def _norm(kind: str, dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "group":
        return nn.GroupNorm(_groups(channels), channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    return nn.Identity()


class ConvNormAct(nn.Sequential):
    """3x3 convolution (optionally depthwise-separable), normalization, ReLU."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig) -> None:
        conv = _conv(cfg.spatial_dims)
        bias = cfg.norm == "none"
        if cfg.separable:
            layers: list[nn.Module] = [
                conv(cin, cin, 3, padding=1, groups=cin, bias=False),
                conv(cin, cout, 1, bias=bias),
            ]
        else:
            layers = [conv(cin, cout, 3, padding=1, bias=bias)]
        layers += [_norm(cfg.norm, cfg.spatial_dims, cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two :class:`ConvNormAct` blocks, optional dropout between them."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig, dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [ConvNormAct(cin, cout, cfg)]
        if dropout > 0:
            layers.append((nn.Dropout2d if cfg.spatial_dims == 2 else nn.Dropout3d)(dropout))
        layers.append(ConvNormAct(cout, cout, cfg))
        super().__init__(*layers)


class Up(nn.Module):
    """Up-sample by 2, concatenate the skip connection, then :class:`DoubleConv`."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig, dropout: float) -> None:
        super().__init__()
        dims = cfg.spatial_dims
        if cfg.up_mode == "transpose":
            tconv = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
            self.up: nn.Module = tconv(cin, cout, kernel_size=2, stride=2)
        else:
            mode = "bilinear" if dims == 2 else "trilinear"
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                _conv(dims)(cin, cout, 1),
            )
        self.conv = DoubleConv(2 * cout, cout, cfg, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """U-Net mapping (B, C, *spatial) images to (B, K, *spatial) class logits.

    Shape:
        - input: ``(B, in_channels, Y, X)`` or ``(B, in_channels, Z, Y, X)``, any size.
        - output: ``(B, num_classes, ...)`` with the spatial size of the input.
    """

    def __init__(self, config: UNetConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = config if config is not None else UNetConfig(**kwargs)
        if config is not None and kwargs:
            raise ValueError("Pass either a UNetConfig or keyword settings, not both.")
        self.config = cfg
        widths = [cfg.base_channels * 2**i for i in range(cfg.depth + 1)]
        pool = nn.MaxPool2d if cfg.spatial_dims == 2 else nn.MaxPool3d
        self.pool = pool(2)
        deep = {cfg.depth - 1, cfg.depth}  # dropout in the two deepest levels
        self.inc = DoubleConv(cfg.in_channels, widths[0], cfg)
        self.downs = nn.ModuleList(
            DoubleConv(widths[i], widths[i + 1], cfg, cfg.dropout if i + 1 in deep else 0.0)
            for i in range(cfg.depth)
        )
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], cfg, cfg.dropout if i + 1 in deep else 0.0)
            for i in reversed(range(cfg.depth))
        )
        self.head = _conv(cfg.spatial_dims)(widths[0], cfg.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.ndim != cfg.spatial_dims + 2 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"Expected input of shape (B, {cfg.in_channels}, "
                f"{', '.join('ZYX'[-cfg.spatial_dims :])}), got {tuple(x.shape)}."
            )
        size = x.shape[2:]
        m = cfg.size_multiple
        pad: list[int] = []
        for s in reversed(size):
            pad += [0, (-s) % m]
        if any(pad):
            fits = all(p < s for p, s in zip(pad[1::2], reversed(size)))
            x = F.pad(x, pad, mode="reflect" if fits else "replicate")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(self.pool(skips[-1])))
        h = skips.pop()
        for up in self.ups:
            h = up(h, skips.pop())
        out = self.head(h)
        if any(pad):
            out = out[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)]
        return out


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
