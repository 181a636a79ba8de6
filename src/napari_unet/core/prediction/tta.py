"""Test-time augmentation: the network's class probabilities averaged over flips.

Optional (``PredictionConfig(tta=True)``, ``napari-unet predict --tta``, the Segment
widget's checkbox): it costs one forward pass per flip (4x) and smooths the decisions
the network makes differently for a mirrored view.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import torch

EPS = 1e-7


def flip_sets(dims: int) -> list[tuple[int, ...]]:
    """Axes of a ``(B, K, *S)`` tensor to flip, one tuple per view: every combination of
    the last two spatial axes (in 3D, Z is never flipped: stacks are often anisotropic)."""
    axes = (dims, dims + 1)  # Y, X of (B, K, [Z,] Y, X)
    return [combo for r in range(3) for combo in combinations(axes, r)]


class FlipAveraged:
    """``net`` averaged over the views of :func:`flip_sets`.

    Called with ``(B, C, *S)``, returns ``(B, K, *S)`` log-probabilities: their softmax
    is the averaged probabilities and their argmax its class, so the caller treats them
    like logits.
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], dims: int) -> None:
        self.net = net
        self.flips = flip_sets(dims)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for axes in self.flips:
            view = x.flip(axes) if axes else x
            prob = self.net(view).float().softmax(1)
            prob = prob.flip(axes) if axes else prob
            total = prob if total is None else total + prob
        return (total / len(self.flips)).clamp_min(EPS).log()
