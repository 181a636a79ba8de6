"""Expectation over transformation (EOT, Athalye et al. 2018): PGD that survives transforms.

Plain PGD finds a perturbation that fools the model on *this* image; rotate or zoom the
attacked image a little and much of the damage is gone. EOT maximizes the *expected*
objective over random transformations ``T`` of the perturbed image,
``E_T[L(f(T(x + delta)), T(y))]``, estimated at every step from ``samples`` random
rotations, zooms and noise draws (plus the untransformed image), differentiated through
:mod:`napari_unet.core.transforms`.

The draws of a step are stratified (each image's ``samples`` rotations fall one in each of
``samples`` equal slices of the range, likewise zooms and noise, in independent random
order: a Latin hypercube), so few samples cover the whole distribution; the objective is
SegPGD's class-balanced one (Dice averages over classes, so thin membranes weigh as much as
the background). Measured in the README ("Natural perturbations, EOT"): the loss helped
most, more samples more than more steps, stratification a little at 4 samples; momentum
(MI-FGSM) did not help.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import transforms
from ..device import autocast
from .gradient import IterativeLinf


class EOT(IterativeLinf):
    """PGD on the expected objective over random rotations, zooms and noise.

    Parameters
    ----------
    eps, steps, step_size, restarts, target, seed: as :class:`IterativeLinf`.
    objective: as :class:`IterativeLinf`; default ``"segpgd"`` (class balanced, pixels not
        yet fooled first; see :func:`.objectives.segpgd`), evaluated on every transformed copy.
    samples: random transformations per step (each one forward and backward pass); the
        untransformed image is always added, so the perturbation keeps working on the
        image as it is.
    max_degrees: rotations drawn uniformly from ``[-max_degrees, max_degrees]``.
    zoom_range: zoom factors drawn log-uniformly from ``(low, high)``.
    max_noise: Gaussian noise of a sigma drawn uniformly from ``[0, max_noise]``
        (normalized units) added after the geometry.
    stratified: Latin-hypercube draws (one sample per stratum of each range and image);
        ``False`` = independent uniform draws.

    The targets are transformed with the same grid (nearest); pixels whose source lies
    outside the image (the reflected border) are not counted. The last iterate is
    returned (the best-iterate rule of PGD would pick by the untransformed damage).
    """

    name = "eot"

    def __init__(
        self,
        eps: float,
        steps: int = 10,
        *,
        samples: int = 8,
        max_degrees: float = 30.0,
        zoom_range: tuple[float, float] = (0.8, 1.25),
        max_noise: float = 0.03,
        stratified: bool = True,
        **kwargs,
    ) -> None:
        kwargs.setdefault("keep_best", False)
        kwargs.setdefault("objective", "segpgd")
        super().__init__(eps, steps, **kwargs)
        if samples < 1:
            raise ValueError(f"EOT needs at least 1 sample per step, got {samples}.")
        low, high = zoom_range
        if not 0 < low <= high:
            raise ValueError(f"zoom_range must satisfy 0 < low <= high, got {zoom_range}.")
        if not (max_degrees >= 0 and max_noise >= 0):
            raise ValueError("max_degrees and max_noise must be >= 0.")
        self.samples = samples
        self.max_degrees = max_degrees
        self.zoom_range = (float(low), float(high))
        self.max_noise = max_noise
        self.stratified = stratified
        self._draws = torch.Generator()

    def _perturb(self, network, x, targets, lower, upper, mask, stop):
        """PGD's loop; the transforms are drawn from a generator seeded afresh per run."""
        if self.seed is None:
            self._draws.seed()
        else:
            self._draws.manual_seed(self.seed + 1)
        return (yield from super()._perturb(network, x, targets, lower, upper, mask, stop))

    def describe(self) -> str:
        return (
            f"{super().describe()}, {self.samples} transform(s) per step "
            f"(±{self.max_degrees:g}°, zoom {self.zoom_range[0]:g}-{self.zoom_range[1]:g}, "
            f"noise ≤ {self.max_noise:g})"
        )

    def draw(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random ``(degrees, zoom, noise sigma)``, each ``(batch * samples,)`` float64.

        The ``samples`` draws of an image are consecutive; stratified, each of them falls in
        its own ``1 / samples`` slice of every range (slices in random order per range).
        """
        n = batch * self.samples
        u = torch.rand(3, n, generator=self._draws, dtype=torch.float64)
        if self.stratified:
            ranks = (
                torch.stack(
                    [torch.randperm(self.samples, generator=self._draws) for _ in range(3 * batch)]
                )
                .view(3, n)
                .double()
            )
            u = (ranks + u) / self.samples
        degrees = (2 * u[0] - 1) * self.max_degrees
        low, high = math.log(self.zoom_range[0]), math.log(self.zoom_range[1])
        factor = torch.exp(low + u[1] * (high - low))
        return degrees, factor, u[2] * self.max_noise

    def _transformed(
        self, x_adv: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The untransformed batch followed by ``samples`` transformed copies of each sample.

        Shape: x_adv ``(B, C, *S)``, targets ``(B, *S)`` -> ``((1 + samples) B, C, *S)``,
        ``((1 + samples) B, *S)`` with -1 where the transformed target is unknown.
        """
        b = x_adv.shape[0]
        degrees, factor, sigma = self.draw(b)
        copies = x_adv.repeat_interleave(self.samples, 0)
        grid = transforms.affine_grid_for(copies.shape, degrees, factor, device=x_adv.device)
        moved = transforms.warp(copies, grid, "bilinear", "reflection")
        moved = transforms.gaussian_noise(moved, sigma, self._draws)
        shifted = (targets + 1).repeat_interleave(self.samples, 0).unsqueeze(1)
        moved_targets = transforms.warp(shifted, grid, "nearest", "zeros")[:, 0] - 1
        return torch.cat([x_adv, moved]), torch.cat([targets, moved_targets])

    def _gradient(
        self, network: nn.Module, x_adv: torch.Tensor, targets: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Gradient of the mean objective over the transforms; logits of the untransformed batch."""
        x_adv = x_adv.detach().requires_grad_(True)
        inputs, moved_targets = self._transformed(x_adv, targets)
        with autocast(x_adv.device):
            logits = network(inputs)
        value = self.objective(logits, moved_targets, self.targeted, step, self.steps)
        (grad,) = torch.autograd.grad(value, x_adv)
        return grad, logits[: x_adv.shape[0]].detach().float(), float(value.detach())
