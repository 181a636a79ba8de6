"""How much a validation Dice can be trusted: the held-out pixels it rests on.

Pure arithmetic (no torch): shared by :mod:`.trainer` (which validation counts as
better), :mod:`.held_out` (is a retrained model worse than the previous one) and
:meth:`.TrainedModel.describe` (the model line of the widgets and the command line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MIN_RELIABLE_PIXELS = 500  # held-out pixels per class for a validation Dice to mean much
MIN_NOISE = 0.02  # smallest Dice difference taken as real, however many pixels


def scored_pixels(pixels: Sequence[int], dice: Sequence[float | None]) -> list[int]:
    """Held-out pixels of the classes that were scored (a class with a Dice)."""
    return [int(n) for n, d in zip(pixels, dice) if d is not None]


def is_reliable(pixels: Sequence[int]) -> bool:
    """Every scored class rests on at least :data:`MIN_RELIABLE_PIXELS` held-out pixels;
    below that a Dice of 1.000 says little (a few dozen pixels of one stroke).
    ``pixels``: per scored class."""
    return bool(pixels) and min(pixels) >= MIN_RELIABLE_PIXELS


def noise_margin(pixels: Sequence[int]) -> float:
    """The Dice difference within which two validations on these held-out pixels (per
    scored class) are a tie: ``max(0.02, 1 / sqrt(fewest pixels of a class))``."""
    counted = [n for n in pixels if n > 0]
    return max(MIN_NOISE, 1.0 / math.sqrt(min(counted))) if counted else MIN_NOISE


def validation_text(dice: float, pixels: Sequence[int] | None) -> str:
    """``"validation Dice 0.956 on 2,310 held-out pixels"``, with the caveat when too few
    to trust; ``pixels`` per scored class, None when not recorded (older model files)."""
    text = f"validation Dice {dice:.3f}"
    if pixels is None:
        return text + " (held-out pixel count not recorded)"
    text += f" on {sum(pixels):,} held-out pixels"
    if is_reliable(pixels):
        return text
    fewest = min(pixels) if pixels else 0
    return (
        text + f" (too few to trust: {fewest:,} in one class, under "
        f"{MIN_RELIABLE_PIXELS} per class)"
    )


def round_validation_text(round_: Mapping[str, Any]) -> str:
    """:func:`validation_text` of one training round of a model summary, or "" when the
    round has no validation Dice."""
    dice = round_.get("validation_dice")
    if not isinstance(dice, (int, float)):
        return ""
    pixels = round_.get("validation_pixels")
    text = validation_text(float(dice), None if pixels is None else [int(n) for n in pixels])
    per_image = round_.get("validation_dice_per_image")
    if per_image:
        text += f" (per image: {per_image_text(per_image)})"
    return text


def per_image_text(dice: Sequence[float | None]) -> str:
    """``"1: 0.812, 2: 0.655, 3: -"``: a Dice per training-set image (- where none)."""
    return ", ".join(f"{i}: {'-' if d is None else f'{d:.3f}'}" for i, d in enumerate(dice, 1))
