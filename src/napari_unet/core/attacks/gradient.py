"""L-infinity gradient attacks: FGSM, PGD, SegPGD and DAG.

All four share one loop (:class:`IterativeLinf`): optional random start inside the eps
ball, ``steps`` gradient steps on a pixel objective, projection onto the eps ball, the
valid intensity range and the region mask after every step, restarts, and the *best*
iterate per sample (most pixels fooled) is kept, so more steps never make an attack
weaker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator

import torch
from torch import nn

from ..device import autocast
from ..stopping import StopFlag
from .base import Attack, AttackStep, damage, project_linf
from .objectives import OBJECTIVES, Objective, segpgd


class IterativeLinf(Attack):
    """Iterated gradient steps inside an L-inf ball (the PGD family).

    Parameters
    ----------
    eps: radius of the L-inf ball, normalized intensity units.
    steps: gradient steps per restart.
    step_size: size of one step (default ``2.5 * eps / steps``, Madry et al.).
    random_start: start from a uniform random point of the ball.
    restarts: independent runs; the best result per sample is kept.
    objective: ``"ce"``, ``"segpgd"``, ``"dag"`` or a callable (see :mod:`.objectives`).
    step_rule: ``"sign"`` (x += a * sign(g)) or ``"normalized"`` (x += a * g / max|g|, DAG).
    seed: seed of the random start (``None`` = torch's global generator).
    keep_best: return the iterate fooling most pixels (one extra forward pass per
        restart); ``False`` returns the last iterate (adversarial training).
    """

    name = "pgd"

    def __init__(
        self,
        eps: float,
        steps: int = 10,
        *,
        step_size: float | None = None,
        random_start: bool = True,
        restarts: int = 1,
        objective: str | Objective = "ce",
        step_rule: str = "sign",
        target: int | None = None,
        seed: int | None = 0,
        keep_best: bool = True,
    ) -> None:
        super().__init__(eps, target=target)
        if eps is None:
            raise ValueError(f"{self.name} needs an eps (L-inf radius).")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}.")
        if restarts < 1:
            raise ValueError(f"restarts must be at least 1, got {restarts}.")
        if step_rule not in ("sign", "normalized"):
            raise ValueError(f"step_rule must be 'sign' or 'normalized', got {step_rule!r}.")
        if isinstance(objective, str):
            if objective not in OBJECTIVES:
                raise ValueError(f"Unknown objective {objective!r}; one of {sorted(OBJECTIVES)}.")
            objective = OBJECTIVES[objective]
        self.steps = steps
        self.step_size = step_size if step_size is not None else 2.5 * eps / steps
        self.random_start = random_start
        self.restarts = restarts
        self.objective: Callable = objective
        self.step_rule = step_rule
        self.seed = seed
        self.keep_best = keep_best

    @property
    def iterations(self) -> int:
        return self.steps * self.restarts

    def describe(self) -> str:
        return f"{super().describe()}, {self.steps} step(s) of {self.step_size:.3g}" + (
            f", {self.restarts} restarts" if self.restarts > 1 else ""
        )

    def _gradient(
        self, network: nn.Module, x_adv: torch.Tensor, targets: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Objective gradient w.r.t. the input, the logits (detached) and the objective."""
        x_adv = x_adv.detach().requires_grad_(True)
        with autocast(x_adv.device):
            logits = network(x_adv)
        value = self.objective(logits, targets, self.targeted, step, self.steps)
        (grad,) = torch.autograd.grad(value, x_adv)
        return grad, logits.detach().float(), float(value.detach())

    def _step(self, grad: torch.Tensor) -> torch.Tensor:
        if self.step_rule == "sign":
            return self.step_size * grad.sign()
        scale = grad.flatten(1).abs().amax(1).clamp(min=1e-12)
        return self.step_size * grad / scale.view(-1, *([1] * (grad.ndim - 1)))

    def _perturb(
        self, network, x, targets, lower, upper, mask, stop: StopFlag
    ) -> Generator[AttackStep, None, torch.Tensor]:
        gen = None
        if self.seed is not None:
            gen = torch.Generator(device="cpu").manual_seed(self.seed)
        best = x.clone()
        best_damage = torch.full((x.shape[0],), -1.0, dtype=torch.float64, device=x.device)
        shape = (-1,) + (1,) * (x.ndim - 1)
        done = 0
        total = self.iterations
        for _restart in range(self.restarts):
            x_adv = x.clone()
            if self.random_start and self.eps > 0:
                noise = torch.rand(x.shape, generator=gen, dtype=torch.float32)
                noise = (2 * noise - 1).to(device=x.device, dtype=x.dtype) * self.eps
                x_adv = project_linf(x + noise, x, self.eps, lower, upper, mask)
            for t in range(1, self.steps + 1):
                if stop.requested:
                    if not self.keep_best:
                        return x_adv
                    return _keep_best(best, best_damage, x_adv, network, targets, self.targeted)
                grad, logits, value = self._gradient(network, x_adv, targets, t)
                hit = damage(logits, targets, self.targeted)
                better = hit > best_damage
                best = torch.where(better.view(shape), x_adv, best)
                best_damage = torch.maximum(best_damage, hit)
                x_adv = project_linf(x_adv + self._step(grad), x, self.eps, lower, upper, mask)
                done += 1
                yield AttackStep(done, total, value, float(best_damage.mean()))
            if not self.keep_best and self.restarts == 1:
                return x_adv
            best, best_damage = _update_best(
                best, best_damage, x_adv, network, targets, self.targeted
            )
        return best


def _update_best(best, best_damage, x_adv, network, targets, targeted):
    """Score the final iterate and keep it where it beats the best so far."""
    with torch.no_grad(), autocast(x_adv.device):
        logits = network(x_adv).float()
    hit = damage(logits, targets, targeted)
    better = hit > best_damage
    shape = (-1,) + (1,) * (x_adv.ndim - 1)
    return torch.where(better.view(shape), x_adv, best), torch.maximum(best_damage, hit)


def _keep_best(best, best_damage, x_adv, network, targets, targeted) -> torch.Tensor:
    return _update_best(best, best_damage, x_adv, network, targets, targeted)[0]


class PGD(IterativeLinf):
    """Projected gradient descent (Madry et al. 2018) on the mean pixel cross entropy."""

    name = "pgd"


class SegPGD(IterativeLinf):
    """SegPGD (Gu et al. 2022): PGD whose loss first targets the pixels still correct.

    Loss ``(1 - l_t) * CE`` over pixels not yet fooled plus ``l_t * CE`` over pixels
    already fooled, ``l_t = (t - 1) / (2 T)`` (see :func:`.objectives.segpgd`), each pixel
    the model still gets right weighted by the inverse frequency of its class among the
    pixels still right. Same eps, step size, random start and best-iterate rule as
    :class:`PGD`.

    confident: a pixel counts as fooled once its reference-class probability is below this
        (default 0.25); ``1.0`` = Gu et al.'s argmax test, which lets just-flipped pixels
        drift back and is weaker than CE-PGD at small eps.
    balanced: class-balanced weights (default ``True``, see :func:`.objectives.segpgd`).
        Segmentation is scored by Dice averaged over classes, where a pixel of a thin, rare
        class (membranes, small nuclei) weighs more than one of the background; the plain
        pixel average spends the budget on the majority class. With the weighting SegPGD
        did more damage than CE-PGD at every eps against the clean prediction (three
        models) and against the truth (benchmark model); without it, it ties CE-PGD at
        small eps. Against the truth on a weak model, ``False`` was stronger at 1-4/255
        (README).
    """

    name = "segpgd"

    def __init__(
        self,
        eps: float,
        steps: int = 10,
        *,
        confident: float = 0.25,
        balanced: bool = True,
        **kwargs,
    ) -> None:
        if not 0 < confident <= 1:
            raise ValueError(f"confident must be in (0, 1], got {confident}.")
        if "objective" not in kwargs:
            kwargs["objective"] = functools.partial(segpgd, confident=confident, balanced=balanced)
        super().__init__(eps, steps, **kwargs)


class DAG(IterativeLinf):
    """Dense Adversary Generation (Xie et al. 2017) inside an L-inf ball.

    Normalized-gradient ascent of ``z_adv - z_true`` over the pixels not yet fooled,
    no random start; projected onto the eps ball and valid range like PGD.
    """

    name = "dag"

    def __init__(self, eps: float, steps: int = 20, **kwargs) -> None:
        kwargs.setdefault("objective", "dag")
        kwargs.setdefault("step_rule", "normalized")
        kwargs.setdefault("random_start", False)
        kwargs.setdefault("step_size", eps / 4 if eps else 0.0)
        super().__init__(eps, steps, **kwargs)


class FGSM(IterativeLinf):
    """Fast gradient sign method (Goodfellow et al. 2015): ``x + eps * sign(grad)``, one step.

    The step is taken from the clean image (no random start), then clipped to the valid
    range and the region mask; the result is returned as is (no best-iterate selection).
    """

    name = "fgsm"

    def __init__(
        self, eps: float, *, target: int | None = None, objective: str | Objective = "ce"
    ) -> None:
        super().__init__(
            eps, 1, step_size=eps, random_start=False, objective=objective, target=target
        )

    def describe(self) -> str:
        return Attack.describe(self)

    def _perturb(
        self, network, x, targets, lower, upper, mask, stop: StopFlag
    ) -> Generator[AttackStep, None, torch.Tensor]:
        if stop.requested:
            return x.clone()
        grad, logits, value = self._gradient(network, x, targets, 1)
        x_adv = project_linf(x + self.eps * grad.sign(), x, self.eps, lower, upper, mask)
        yield AttackStep(1, 1, value, float(damage(logits, targets, self.targeted).mean()))
        return x_adv
