"""Training against natural perturbations: one strength for the training augmentation.

The augmentation of :mod:`.augment` (random rotation, zoom, blur, gamma, simulated low
resolution, Gaussian and Poisson noise, through :mod:`.transforms`, the functions the
robustness curves use) *is* training against natural perturbations. This module only
scales it: strength 0 is :data:`.augment.LEGACY_AUGMENT` (flips, 90-degree turns, mild
brightness/contrast: no natural perturbation), 1 is :data:`.augment.CONTRAST_AUGMENT`
(the default augmentation plus brightness/contrast and gamma), and values between interpolate every range (zoom geometrically). It is what
``TrainingConfig(natural_perturbations=s)`` and ``napari-unet train
--natural-perturbations S`` use.
"""

from __future__ import annotations

import dataclasses

from .augment import CONTRAST_AUGMENT, LEGACY_AUGMENT, AugmentConfig


def natural_augment(strength: float, full: AugmentConfig = CONTRAST_AUGMENT) -> AugmentConfig:
    """The augmentation at ``strength`` in [0, 1]: :data:`LEGACY_AUGMENT` at 0, ``full`` at 1.

    Numbers are interpolated linearly, the zoom range geometrically, switches (rotation,
    elastic, ...) taken from ``full`` as soon as ``strength > 0``.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"natural_perturbations is a strength in [0, 1], got {strength}.")
    if strength == 0:
        return LEGACY_AUGMENT
    values = {}
    for f in dataclasses.fields(AugmentConfig):
        low, high = getattr(LEGACY_AUGMENT, f.name), getattr(full, f.name)
        if isinstance(high, bool):
            values[f.name] = high
        elif isinstance(high, tuple):
            values[f.name] = tuple(a ** (1 - strength) * b ** strength for a, b in zip(low, high))
        else:
            values[f.name] = low + (high - low) * strength
    return AugmentConfig(**values)
