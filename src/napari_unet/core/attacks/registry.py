"""Attacks by name, for the command line and the widget."""

from __future__ import annotations

from typing import Any

from .base import Attack
from .carlini_wagner import CarliniWagnerL2
from .eot import EOT
from .gradient import DAG, FGSM, PGD, SegPGD

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "pgd": PGD,
    "segpgd": SegPGD,
    "dag": DAG,
    "cw": CarliniWagnerL2,
    "eot": EOT,
}
DEFAULT_STEPS = {"fgsm": 1, "pgd": 10, "segpgd": 10, "dag": 20, "cw": 100, "eot": 10}


def make_attack(
    name: str,
    eps: float | None,
    steps: int | None = None,
    target: int | None = None,
    **options: Any,
) -> Attack:
    """Build the attack ``name`` (``fgsm``, ``pgd``, ``segpgd``, ``dag``, ``cw``,
    ``eot``).

    ``eps`` is the L-inf budget in normalized units (for ``cw`` an optional cap);
    ``steps`` defaults to :data:`DEFAULT_STEPS` and is ignored by ``fgsm``; other
    ``options`` go to the attack's constructor (e.g. ``restarts``, ``c``, ``kappa``,
    ``samples`` for ``eot``).
    """
    key = name.lower()
    if key not in ATTACKS:
        raise ValueError(f"Unknown attack {name!r}; choose one of {', '.join(ATTACKS)}.")
    if eps is not None and eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}.")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    n = steps or DEFAULT_STEPS[key]
    if key == "fgsm":
        return FGSM(eps, target=target, **options)
    if key == "cw":
        return CarliniWagnerL2(eps, steps=n, target=target, **options)
    return ATTACKS[key](eps, n, target=target, **options)
