"""Pixel-wise attack objectives: higher value = more adversarial.

Every objective takes ``logits (B, K, *S)`` and ``targets (B, *S)`` (int64 class index,
-1 = pixel not counted) and returns a scalar. Untargeted objectives push pixels away
from ``targets``; targeted ones pull them towards ``targets``. Averages run over the
counted pixels of the whole batch, so the value does not depend on the image size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# (logits, targets, targeted, step (1-based), steps) -> scalar to maximize
Objective = Callable[[torch.Tensor, torch.Tensor, bool, int, int], torch.Tensor]


def _pixel_ce(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross entropy per pixel ``(B, *S)`` (0 where not counted) and the counted mask."""
    valid = targets >= 0
    ce = F.cross_entropy(logits.float(), targets.clamp(min=0), reduction="none")
    return ce * valid, valid


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, targeted: bool, step: int = 1, steps: int = 1
) -> torch.Tensor:
    """Mean pixel cross entropy; negated when targeted (the plain PGD/FGSM objective)."""
    ce, valid = _pixel_ce(logits, targets)
    value = ce.sum() / valid.sum().clamp(min=1)
    return -value if targeted else value


def class_balance(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-pixel weights ``(B, *S)`` making every class present in a sample weigh the same.

    A pixel of class ``k`` gets ``N / (K_present * N_k)`` (``N`` counted pixels of its
    sample, ``N_k`` of them of class ``k``), 0 where not counted; the weights average to 1
    over the counted pixels. Mean Dice averages over classes, not pixels: with plain pixel
    averaging the loss spends the budget on the majority class (Croce et al. 2024 use the
    same balancing for mIoU).
    """
    valid = targets >= 0
    t = targets.clamp(min=0)
    counts = F.one_hot(t, num_classes).mul(valid.unsqueeze(-1)).flatten(1, -2).sum(1)  # (B, K)
    present = (counts > 0).sum(1, keepdim=True).clamp(min=1)
    per_class = valid.flatten(1).sum(1, keepdim=True) / (present * counts.clamp(min=1))
    return per_class.gather(1, t.flatten(1)).view_as(t).to(torch.float32) * valid


def _fooled(
    logits: torch.Tensor, targets: torch.Tensor, targeted: bool, confident: float
) -> torch.Tensor:
    """Pixels fooled *with confidence* ``(B, *S)`` bool.

    Untargeted: misclassified and the reference class has probability below ``confident``;
    targeted: the target is predicted with probability at least ``1 - confident``.
    ``confident = 1`` is the plain argmax test.
    """
    pred = logits.argmax(1)
    hit = (pred == targets) if targeted else (pred != targets)
    if confident >= 1.0:
        return hit
    p_ref = torch.softmax(logits.float(), 1).gather(1, targets.clamp(min=0).unsqueeze(1))[:, 0]
    return hit & ((p_ref >= 1.0 - confident) if targeted else (p_ref < confident))


def segpgd(
    logits: torch.Tensor,
    targets: torch.Tensor,
    targeted: bool,
    step: int = 1,
    steps: int = 1,
    *,
    confident: float = 0.25,
    balanced: bool = True,
) -> torch.Tensor:
    """SegPGD objective (Gu et al., ECCV 2022), optionally class balanced.

    ``(1 - l) * CE`` over pixels not yet fooled plus ``l * CE`` over pixels already fooled,
    with ``l = (t - 1) / (2 T)`` rising from 0 to 1/2, summed and divided by the number of
    counted pixels: early steps spend the budget on the pixels that still resist, instead
    of piling up loss on pixels that are already wrong.

    confident: a pixel counts as fooled only once misclassified *and* its reference-class
        probability is below this (default 0.25; 1.0 = Gu et al.'s argmax test). With the
        argmax test a pixel that has just crossed the boundary loses (almost) all its
        weight and drifts back: at small eps, where every flip is marginal, Gu et al.'s
        SegPGD then does less damage than plain CE-PGD (measured on ISBI models).
    balanced: weight every pixel the model still gets right by :func:`class_balance` over
        the pixels still right (pixels already wrong keep weight 1). Flipping one more
        pixel of class ``k`` costs Dice_k about ``1 / N_k``, ``N_k`` the pixels of ``k``
        still right, and the score averages Dice over classes: the plain pixel average
        spends the budget on the majority class. Balancing over *all* pixels of the
        reference instead over-weights the model's own mistakes on a rare class when
        attacking against the truth (measured: weaker than CE-PGD at 1/255 there).
        ``False`` is Gu et al.'s plain pixel average.
    """
    ce, valid = _pixel_ce(logits, targets)
    fooled = _fooled(logits, targets, targeted, confident)
    lam = (step - 1) / (2.0 * max(steps, 1))
    weight = torch.where(fooled, lam, 1.0 - lam)
    if balanced and targeted:  # towards a class map: every target class weighs the same
        weight = weight * class_balance(targets, logits.shape[1])
    elif balanced:
        right = (logits.argmax(1) == targets) & valid
        per_class = class_balance(torch.where(right, targets, -1), logits.shape[1])
        weight = weight * torch.where(right, per_class, 1.0)
    value = (weight * ce).sum() / valid.sum().clamp(min=1)
    return -value if targeted else value


def margin(
    logits: torch.Tensor, targets: torch.Tensor, targeted: bool, kappa: float = 0.0
) -> torch.Tensor:
    """Carlini-Wagner margin per pixel ``(B, *S)``, >= -kappa; 0 where not counted.

    Untargeted: ``z_y - max_{j != y} z_j``; targeted: ``max_{j != t} z_j - z_t``. A pixel
    is fooled with confidence ``kappa`` once its value reaches ``-kappa``.
    """
    valid = targets >= 0
    t = targets.clamp(min=0)
    z = logits.float()
    z_t = z.gather(1, t.unsqueeze(1)).squeeze(1)
    others = z.masked_fill(F.one_hot(t, z.shape[1]).movedim(-1, 1).bool(), float("-inf"))
    z_other = others.amax(1)
    value = (z_other - z_t) if targeted else (z_t - z_other)
    return value.clamp(min=-kappa) * valid


def dag(
    logits: torch.Tensor, targets: torch.Tensor, targeted: bool, step: int = 1, steps: int = 1
) -> torch.Tensor:
    """Dense Adversary Generation objective (Xie et al., ICCV 2017).

    Sum, over the pixels *not yet fooled* only, of ``z_adv - z_true``: the adversarial
    label ``adv`` is the strongest other class (untargeted) or the target class
    (targeted). Pixels already fooled drop out, as in DAG's active set.
    """
    valid = targets >= 0
    pred = logits.argmax(1)
    fooled = (pred == targets) if targeted else (pred != targets)
    active = valid & ~fooled
    value = -margin(logits, targets, targeted, kappa=float("inf"))  # z_adv - z_true
    return (value * active).sum() / valid.sum().clamp(min=1)


OBJECTIVES: dict[str, Objective] = {"ce": cross_entropy, "segpgd": segpgd, "dag": dag}
