"""Adversarial attacks on segmentation models.

>>> attack = PGD(eps=4 / 255, steps=10)
>>> result = attack(model, image)          # or: run_to_completion(attack.run(model, image), print)
>>> result.metrics.dice_adversarial, result.adversarial.dtype

Attacks work in the model's normalized intensity units (see :mod:`.image_attack`);
the adversarial image comes back in the image's dtype and value range. Imports neither
napari nor Qt. Curves of Dice against eps are in :mod:`napari_unet.core.robustness`.
Adversarial training batches (``AdversarialBatch``) are in
:mod:`napari_unet.core.training.adversarial_training`.
"""

from .base import Attack, AttackStep, eval_mode
from .carlini_wagner import CarliniWagnerL2
from .eot import EOT
from .gradient import DAG, FGSM, PGD, IterativeLinf, SegPGD
from .image_attack import AttackProgress, AttackResult, attack_image, valid_range
from .metrics import AttackMetrics
from .registry import ATTACKS, DEFAULT_STEPS, make_attack

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackMetrics",
    "AttackProgress",
    "AttackResult",
    "AttackStep",
    "CarliniWagnerL2",
    "DAG",
    "DEFAULT_STEPS",
    "EOT",
    "FGSM",
    "IterativeLinf",
    "PGD",
    "SegPGD",
    "attack_image",
    "eval_mode",
    "make_attack",
    "valid_range",
]
