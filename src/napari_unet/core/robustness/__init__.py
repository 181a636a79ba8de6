"""Robustness curves: segmentation quality against natural perturbations and attacks.

- :mod:`.perturbations`: the kinds, their units and levels, the natural perturbations;
- :mod:`.curve`: :class:`RobustnessCurve`, one type and one CSV layout for every curve;
- :mod:`.scoring`: Dice of perturbed predictions, the curve's rows, :func:`dice_after_transform`;
- :mod:`.sweeps`: :func:`perturbation_curve` and :func:`robustness_curve` build curves.
"""

from .curve import CSV_COLUMNS, RobustnessCurve, RobustnessProgress, draw_curve
from .perturbations import ATTACK_KINDS, KINDS, NATURAL, NEUTRAL, UNITS, check_levels
from .scoring import dice_after_transform, mean_dice
from .sweeps import perturbation_curve, robustness_curve

__all__ = [
    "ATTACK_KINDS",
    "CSV_COLUMNS",
    "KINDS",
    "NATURAL",
    "NEUTRAL",
    "UNITS",
    "RobustnessCurve",
    "RobustnessProgress",
    "check_levels",
    "dice_after_transform",
    "draw_curve",
    "mean_dice",
    "perturbation_curve",
    "robustness_curve",
]
