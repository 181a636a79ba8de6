"""Training against natural perturbations: one strength for the training augmentation.

The augmentation of :mod:`.augment` (random rotation, zoom, blur, simulated low resolution,
Gaussian and Poisson noise, through :mod:`.transforms`, the functions the robustness curves
use) *is* training against natural perturbations. This module only scales it, on a scale
whose middle is the package default, so that the Train widget, ``napari-unet train`` and
``TrainingConfig()`` train alike unless the user moves it:

- 0: :data:`.augment.LEGACY_AUGMENT` (flips, 90-degree turns, mild brightness/contrast:
  no natural perturbation);
- 1: ``AugmentConfig()``, the default augmentation (no intensity jitter: it was measured to
  cost generalization, see :mod:`.augment`);
- 2: :data:`.augment.CONTRAST_AUGMENT` (the default plus brightness/contrast and gamma).

Values between interpolate every range (zoom geometrically). It is what
``TrainingConfig(natural_perturbations=s)`` and ``napari-unet train
--natural-perturbations S`` use.
"""

from __future__ import annotations

import dataclasses

from .augment import CONTRAST_AUGMENT, LEGACY_AUGMENT, AugmentConfig

MAX_STRENGTH = 2.0
DEFAULT_STRENGTH = 1.0


def natural_augment(strength: float) -> AugmentConfig:
    """The augmentation at ``strength`` in [0, 2]: legacy at 0, default at 1, contrast at 2."""
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(
            f"natural_perturbations is a strength in [0, {MAX_STRENGTH:g}] "
            f"(0 = none, 1 = the default augmentation, 2 = plus contrast), "
            f"got {strength}."
        )
    if strength == 0:
        return LEGACY_AUGMENT
    if strength <= DEFAULT_STRENGTH:
        return _interpolate(LEGACY_AUGMENT, AugmentConfig(), strength)
    return _interpolate(AugmentConfig(), CONTRAST_AUGMENT, strength - DEFAULT_STRENGTH)


def _interpolate(low_cfg: AugmentConfig, high_cfg: AugmentConfig, t: float) -> AugmentConfig:
    """``low_cfg`` at ``t = 0``, ``high_cfg`` at 1: numbers linearly, ranges geometrically,
    switches (rotation, elastic, ...) from ``high_cfg`` as soon as ``t > 0``."""
    if t == 0:
        return low_cfg
    values = {}
    for f in dataclasses.fields(AugmentConfig):
        low, high = getattr(low_cfg, f.name), getattr(high_cfg, f.name)
        if isinstance(high, bool):
            values[f.name] = high
        elif isinstance(high, tuple):
            values[f.name] = tuple(a if a == b else a ** (1 - t) * b**t for a, b in zip(low, high))
        else:
            values[f.name] = low if low == high else low + (high - low) * t
    return AugmentConfig(**values)
