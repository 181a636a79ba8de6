"""Carlini-Wagner L2 attack (Carlini & Wagner 2017), for dense predictions.

Minimizes ``||delta||_2^2 + c * sum_pixels max(margin, -kappa)`` with Adam on a tanh-space
variable ``w``: ``x' = lo + (hi - lo) * (tanh(w) + 1) / 2`` always lies in the box
``[lo, hi]`` = valid intensity range (intersected with the L-inf ball of radius ``eps``
when ``eps`` is given), so no clipping is needed. The margin sum runs over pixels, like
the squared norm, so ``c`` does not depend on the image size.

An iterate *succeeds* when at least ``min_fooled`` of the counted pixels are fooled; the
smallest-L2 successful iterate is kept per sample (or, with no success, the one fooling
most pixels). With ``search_steps > 0`` the constant ``c`` is binary-searched per sample
*in log space* (geometric mean of the last success and the last failure; x10 or /10 while
one side is still unknown): the useful ``c`` spans decades.

Scale of ``c``: the hinge gradient of one pixel w.r.t. the input is of the order of the
logit sensitivity (tens per normalized unit), while the L2 gradient is ``2 delta`` (about
0.02 at delta = 2.5/255). With ``c`` near 1 the L2 term is negligible and Adam, whose first
steps are sign-like and dense, just walks an iterative-FGSM path (L2 about that of a PGD
perturbation); with ``c`` around 1e-3 the L2 term counts and the perturbation concentrates
on the pixels that flip, which is what makes CW sparse. Hence the default ``c = 1e-3``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import torch

from ..device import autocast
from ..stopping import StopFlag
from .base import Attack, AttackStep, damage
from .objectives import margin

_TANH_LIMIT = 1 - 1e-6


@dataclass
class _BestIterate:
    """Per sample, the best iterate so far: a successful one with the least L2, else the
    one with the most damage (least L2 among equals). image ``(B, C, *S)``; l2, damage
    float64 ``(B,)``; success bool ``(B,)``."""

    image: torch.Tensor
    l2: torch.Tensor
    success: torch.Tensor
    damage: torch.Tensor

    @classmethod
    def of(cls, x: torch.Tensor) -> _BestIterate:
        """Start from the clean batch ``x`` (no success, damage -1)."""
        b = x.shape[0]
        like = {"dtype": torch.float64, "device": x.device}
        return cls(
            x.clone(),
            torch.full((b,), float("inf"), **like),
            torch.zeros(b, dtype=torch.bool, device=x.device),
            torch.full((b,), -1.0, **like),
        )

    def update(
        self, x_adv: torch.Tensor, hit: torch.Tensor, success: torch.Tensor, l2: torch.Tensor
    ) -> None:
        """Keep ``x_adv`` for the samples where it beats the best so far."""
        more_damage = (hit > self.damage) | ((hit == self.damage) & (l2 < self.l2))
        better = torch.where(success, ~self.success | (l2 < self.l2), ~self.success & more_damage)
        shape = (-1,) + (1,) * (x_adv.ndim - 1)
        self.image = torch.where(better.view(shape), x_adv, self.image)
        self.l2 = torch.where(better, l2, self.l2)
        self.damage = torch.where(better, hit, self.damage)
        self.success |= success


def _search_c(
    c: torch.Tensor, c_low: torch.Tensor, c_high: torch.Tensor, success: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the binary search of c in log space, per sample: ``(c, c_low, c_high)``
    after a round that succeeded where ``success``."""
    c_high = torch.where(success, torch.minimum(c_high, c), c_high)
    c_low = torch.where(success, c_low, torch.maximum(c_low, c))
    c = torch.where(
        torch.isinf(c_high), c * 10, torch.where(c_low > 0, (c_low * c_high).sqrt(), c / 10)
    )
    return c, c_low, c_high


class CarliniWagnerL2(Attack):
    """Carlini-Wagner L2.

    Parameters
    ----------
    eps: optional L-inf cap (normalized units) intersected with the valid range; ``None``
        = only the valid range.
    c: trade-off constant on the summed hinge (initial value when searching; see the
        module docstring for its scale).
    kappa: confidence margin in logits.
    steps: Adam steps per search round.
    search_steps: rounds of binary search over ``c`` (0 = fixed ``c``).
    learning_rate: Adam step size on ``w``.
    min_fooled: fraction of counted pixels that must be fooled for success.
    """

    name = "cw"

    def __init__(
        self,
        eps: float | None = None,
        *,
        c: float = 1e-3,
        kappa: float = 0.0,
        steps: int = 100,
        search_steps: int = 0,
        learning_rate: float = 0.01,
        min_fooled: float = 0.95,
        target: int | None = None,
    ) -> None:
        super().__init__(eps, target=target)
        if c <= 0:
            raise ValueError(f"c must be positive, got {c}.")
        if kappa < 0:
            raise ValueError(f"kappa must be >= 0, got {kappa}.")
        if steps < 1 or search_steps < 0:
            raise ValueError("steps must be >= 1 and search_steps >= 0.")
        if not 0 < min_fooled <= 1:
            raise ValueError(f"min_fooled must be in (0, 1], got {min_fooled}.")
        self.c = c
        self.kappa = kappa
        self.steps = steps
        self.search_steps = search_steps
        self.learning_rate = learning_rate
        self.min_fooled = min_fooled

    @property
    def iterations(self) -> int:
        return self.steps * (self.search_steps + 1)

    def describe(self) -> str:
        search = f", {self.search_steps} search rounds" if self.search_steps else ""
        return (
            f"{super().describe()}, c {self.c:g}, kappa {self.kappa:g}, "
            f"{self.steps} Adam steps{search}"
        )

    def _box(self, x, lower, upper) -> tuple[torch.Tensor, torch.Tensor]:
        if lower is None:
            lower = x.amin(dim=tuple(range(1, x.ndim)), keepdim=True)
        if upper is None:
            upper = x.amax(dim=tuple(range(1, x.ndim)), keepdim=True)
        lo = torch.minimum(torch.as_tensor(lower, dtype=x.dtype, device=x.device).expand_as(x), x)
        hi = torch.maximum(torch.as_tensor(upper, dtype=x.dtype, device=x.device).expand_as(x), x)
        if self.eps is not None:
            lo = torch.maximum(lo, x - self.eps)
            hi = torch.minimum(hi, x + self.eps)
        return lo, hi

    def _perturb(
        self, network, x, targets, lower, upper, mask, stop: StopFlag
    ) -> Generator[AttackStep, None, torch.Tensor]:
        lo, hi = self._box(x, lower, upper)
        span = (hi - lo).clamp(min=1e-12)
        w0 = torch.atanh(((x - lo) / span * 2 - 1).clamp(-_TANH_LIMIT, _TANH_LIMIT))
        b = x.shape[0]
        c = torch.full((b,), float(self.c), dtype=torch.float64, device=x.device)
        c_low = torch.zeros_like(c)
        c_high = torch.full_like(c, float("inf"))
        best = _BestIterate.of(x)
        done, total = 0, self.iterations

        def image(w: torch.Tensor) -> torch.Tensor:
            x_adv = lo + span * (torch.tanh(w) + 1) / 2
            return x + (x_adv - x) * mask if mask is not None else x_adv

        for _round in range(self.search_steps + 1):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=self.learning_rate)
            round_success = torch.zeros(b, dtype=torch.bool, device=x.device)
            for _ in range(self.steps):
                if stop.requested:
                    return best.image
                x_adv = image(w)
                with autocast(x.device):
                    logits = network(x_adv)
                logits = logits.float()
                l2 = (x_adv - x).pow(2).flatten(1).sum(1)
                f = margin(logits, targets, self.targeted, self.kappa).flatten(1).sum(1)
                loss = (l2 + c.to(l2.dtype) * f).sum()
                (grad,) = torch.autograd.grad(loss, w)
                # bookkeeping on the iterate just evaluated
                with torch.no_grad():
                    hit = damage(logits.detach(), targets, self.targeted)
                    success = hit >= self.min_fooled
                    best.update(x_adv.detach(), hit, success, l2.detach().double())
                    round_success |= success
                w.grad = grad
                opt.step()
                done += 1
                yield AttackStep(done, total, float(-loss.detach()), float(best.damage.mean()))
            c, c_low, c_high = _search_c(c, c_low, c_high, round_success)
        return best.image
