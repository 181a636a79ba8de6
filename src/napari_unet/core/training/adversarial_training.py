"""PGD adversarial examples made on the fly during training (Madry et al. 2018).

Used by :class:`napari_unet.core.training.trainer.Trainer` when ``TrainingConfig.adversarial_eps``
is positive: each training batch is replaced by its PGD perturbation on the training
loss itself (class-weighted cross entropy + soft Dice over painted pixels).
"""

from __future__ import annotations

import torch
from torch import nn

from ..attacks.gradient import PGD
from .losses import segmentation_loss


class AdversarialBatch:
    """Makes adversarial training batches.

    Parameters
    ----------
    eps: L-inf radius in normalized intensity units.
    steps: PGD steps (step size ``2.5 * eps / steps``, random start).
    """

    def __init__(self, eps: float, steps: int = 3) -> None:
        if not eps > 0:
            raise ValueError(f"Adversarial training needs eps > 0, got {eps}.")
        if steps < 1:
            raise ValueError(f"Adversarial training needs at least 1 step, got {steps}.")
        self.eps = float(eps)
        self.steps = int(steps)
        self._weights: torch.Tensor | None = None
        self._pgd = PGD(self.eps, self.steps, objective=self._objective, seed=None, keep_best=False)

    def _objective(
        self, logits: torch.Tensor, targets: torch.Tensor, targeted: bool, step: int, steps: int
    ) -> torch.Tensor:
        return segmentation_loss(logits, targets, self._weights)

    def perturb(
        self,
        network: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        class_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Adversarial version of a batch.

        Shape:
            - x: ``(B, C, *S)`` normalized float
            - y: ``(B, *S)`` int64 targets, -1 = ignored
            - returns: ``(B, C, *S)``, detached; ``|x_adv - x| <= eps``. The network runs
              in eval mode during the attack; its previous mode is restored.
        """
        self._weights = class_weights
        try:
            out = self._pgd.perturb_tensor(network, x, y)
        finally:
            self._weights = None
        return out.detach()
