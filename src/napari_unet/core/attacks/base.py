"""The attack object: mode handling, projection and best-iterate bookkeeping.

An attack works on *normalized* tensors (the model's input units). Subclasses write
:meth:`Attack._perturb`, a generator yielding :class:`AttackStep` events and returning the
adversarial batch. :meth:`Attack.perturb` wraps it: the network goes to eval mode for the
attack and back to its previous mode (module by module) afterwards, even when the
generator is closed early; gradients are taken with :func:`torch.autograd.grad`, so the
network's own ``.grad`` fields are never touched.

The image-level entry points (:meth:`Attack.run`, :meth:`Attack.__call__`) call
:mod:`.image_attack` (which takes any attack with :meth:`Attack.perturb` and does not import
this module): they take a napari-style array and return an :class:`AttackResult`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..stopping import StopFlag, run_to_completion
from .image_attack import AttackProgress, AttackResult, attack_image


@dataclass(frozen=True)
class AttackStep:
    """One iteration of an attack on one batch.

    step: iterations done so far (1-based), over all restarts / search rounds.
    total: iterations planned.
    loss: value of the attack objective (higher = more adversarial).
    damage: best fraction of counted pixels fooled so far (mean over the batch), 0..1.
    """

    step: int
    total: int
    loss: float
    damage: float


@contextlib.contextmanager
def eval_mode(network: nn.Module) -> Iterator[None]:
    """Put every module of ``network`` in eval mode; restore each module's flag afterwards."""
    flags = [(m, m.training) for m in network.modules()]
    network.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def damage(logits: torch.Tensor, targets: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Fraction of counted pixels fooled, per sample, shape ``(B,)``.

    Untargeted: predicted class differs from ``targets``; targeted: predicted class equals
    ``targets``. ``targets`` is ``(B, *S)`` int64 with -1 = not counted.
    """
    pred = logits.argmax(1)
    valid = targets >= 0
    hit = (pred == targets) if targeted else (pred != targets)
    hit = (hit & valid).flatten(1).sum(1).double()
    return hit / valid.flatten(1).sum(1).clamp(min=1).double()


def project_linf(
    x_adv: torch.Tensor,
    x: torch.Tensor,
    eps: float,
    lower: torch.Tensor | None,
    upper: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Project onto the L-inf ball of radius ``eps`` around ``x``, the valid range and the mask."""
    delta = (x_adv - x).clamp(-eps, eps)
    if mask is not None:
        delta = delta * mask
    out = x + delta
    if lower is not None:
        out = torch.maximum(out, lower)
    if upper is not None:
        out = torch.minimum(out, upper)
    return out


class Attack:
    """Base class of all attacks.

    Parameters
    ----------
    eps: L-inf radius in normalized intensity units (``None`` = unbounded, CW only).
    target: class value (1..K) to push every counted pixel towards; ``None`` = untargeted.
    """

    name = "attack"

    def __init__(self, eps: float | None, *, target: int | None = None) -> None:
        if eps is not None and not eps >= 0:
            raise ValueError(f"eps must be >= 0 (normalized units), got {eps}.")
        if target is not None and target < 1:
            raise ValueError(f"target is a class value 1..K, got {target}.")
        self.eps = eps
        self.target = target

    @property
    def targeted(self) -> bool:
        return self.target is not None

    @property
    def iterations(self) -> int:
        """Forward/backward passes per batch (for progress and timing)."""
        return 1

    def describe(self) -> str:
        eps = "unbounded" if self.eps is None else f"eps {self.eps:.4g}"
        tgt = f", towards class {self.target}" if self.targeted else ""
        return f"{self.name} ({eps}{tgt})"

    # ------------------------------------------------------------ tensor level
    def perturb(
        self,
        network: nn.Module,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        lower: torch.Tensor | None = None,
        upper: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        stop: StopFlag | None = None,
    ) -> Generator[AttackStep, None, torch.Tensor]:
        """Attack a normalized batch; yields :class:`AttackStep`, returns the adversarial batch.

        Shape:
            - x: ``(B, C, *S)`` normalized float
            - targets: ``(B, *S)`` int64 class index (0..K-1) to move away from
              (untargeted) or towards (targeted); -1 = pixel not counted in the loss
            - lower, upper: valid range, broadcastable to ``x`` (``None`` = unbounded)
            - mask: ``(B, 1, *S)`` 0/1, where the image may change (``None`` = everywhere)
            - returns: ``(B, C, *S)``, detached, same dtype as ``x``
        """
        stop = stop or StopFlag()
        x = x.detach()
        if mask is not None:
            mask = mask.to(x.dtype)
        with eval_mode(network):
            result = yield from self._perturb(network, x, targets, lower, upper, mask, stop)
        return result.detach()

    def perturb_tensor(
        self, network: nn.Module, x: torch.Tensor, targets: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        """Synchronous :meth:`perturb`."""
        return run_to_completion(self.perturb(network, x, targets, **kwargs))

    def _perturb(
        self,
        network: nn.Module,
        x: torch.Tensor,
        targets: torch.Tensor,
        lower: torch.Tensor | None,
        upper: torch.Tensor | None,
        mask: torch.Tensor | None,
        stop: StopFlag,
    ) -> Generator[AttackStep, None, torch.Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------- image level
    def run(
        self, model: Any, image: Any, **kwargs: Any
    ) -> Generator[AttackProgress, None, AttackResult]:
        """Attack a whole image (see :func:`.image_attack.attack_image`)."""
        return attack_image(self, model, image, **kwargs)

    def __call__(self, model: Any, image: Any, **kwargs: Any) -> AttackResult:
        """Synchronous :meth:`run`: the :class:`AttackResult` of ``model`` on ``image``."""
        return run_to_completion(self.run(model, image, **kwargs))
