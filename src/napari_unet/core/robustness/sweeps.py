"""Sweeps that build a :class:`.curve.RobustnessCurve`, one level at a time.

:func:`perturbation_curve` perturbs every image at every level of one kind (natural or
attack, ``napari-unet robustness``) and scores the prediction with Dice (mean over the
classes present, as ``napari-unet evaluate`` reports them per class) against the clean
prediction and, when given, the truth. :func:`robustness_curve` attacks one image once
per eps with an attack the caller builds (the Adversarial widget's curve).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from ..attacks import Attack, attack_image
from ..data.images import channels_back
from ..model.trained_model import TrainedModel
from ..prediction.engine import PredictionConfig
from ..stopping import StopFlag
from .curve import RobustnessCurve, RobustnessProgress
from .perturbations import NATURAL, check_levels
from .scoring import (
    Scored,
    ScoredImage,
    clean_row,
    level_row,
    prepare_images,
    score_attack,
    score_natural,
    sweep_row,
)


def perturbation_curve(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    kind: str,
    levels: Sequence[float],
    *,
    truths: Sequence[np.ndarray] | None = None,
    seed: int = 0,
    attack_steps: int | None = None,
    attack_options: dict | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    device: str = "auto",
    keep_example: bool = False,
    stop: StopFlag | None = None,
) -> Generator[RobustnessProgress, None, RobustnessCurve]:
    """Dice against the clean prediction (and the truth) at every level of ``kind``.

    images: napari-style arrays (leading axes allowed, channels at ``channel_axis``).
    truths: class values 1..K (0 = not counted) shaped like each image without channels.
    seed: seed of the noise (the same pattern, scaled, at every level).
    attack_steps / attack_options: for the attack kinds (``steps``; constructor options
        such as ``samples`` for EOT). Attacks run on continuous float images.
    keep_example: keep the last perturbed image and its prediction (for the widget).
    Yields :class:`RobustnessProgress`; returns :class:`RobustnessCurve`, rows in the
    order of ``levels``.
    """
    stop = stop or StopFlag()
    values = check_levels(kind, levels)
    items = prepare_images(model, images, truths, channel_axis, rgb)
    curve = RobustnessCurve(kind, kept_float=kind not in NATURAL)
    settings = {
        "config": PredictionConfig(device=device),
        "options": {"steps": attack_steps, "extra": attack_options or {}},
        "seed": seed,
        "keep": keep_example,
        "stop": stop,
    }
    for li, level in enumerate(values):
        scored = []
        for ii, item in enumerate(items):
            result = yield from _score_image(model, item, kind, (li, values), (ii, items), settings)
            if result is None:
                curve.stopped = True
                return curve
            scored.append(result)
            if keep_example:
                layout = {"channel_axis": channel_axis, "rgb": rgb}
                curve.example = _example(result.example, np.ndim(images[ii]), layout)
                curve.example_prediction = result.prediction
        curve.rows.append(level_row(kind, level, scored))
    return curve


def _score_image(
    model: TrainedModel,
    item: ScoredImage,
    kind: str,
    level_at: tuple[int, list[float]],
    image_at: tuple[int, list[ScoredImage]],
    settings: dict[str, Any],
) -> Generator[RobustnessProgress, None, Scored | None]:
    """Perturb and score one image at one level; ``None`` when stopped. ``level_at`` /
    ``image_at``: the index and the list of levels / images (for the progress)."""
    (li, values), (ii, items) = level_at, image_at
    level, total, done = values[li], len(values) * len(items), li * len(items) + ii

    def progress(fraction: float) -> RobustnessProgress:
        return RobustnessProgress(li, len(values), level, ii, len(items), fraction / total)

    yield progress(done)
    if kind in NATURAL:
        return score_natural(
            model,
            item,
            kind,
            level,
            settings["seed"] + ii,
            settings["config"],
            settings["keep"],
            settings["stop"],
        )
    device = settings["config"].device
    work = score_attack(model, item, kind, level, settings["options"], device, settings["stop"])
    while True:
        try:
            fraction = next(work)
        except StopIteration as finished:
            return finished.value
        yield progress(done + fraction)


def _example(example_cf: np.ndarray | None, ndim: int, layout: dict) -> np.ndarray | None:
    """A channels-first example back in the layout (``channel_axis``, ``rgb``) of its
    ``ndim``-dimensional image."""
    return None if example_cf is None else channels_back(example_cf, ndim, **layout)


def robustness_curve(
    make: Callable[[float], Attack],
    model: Any,
    image: Any,
    eps_values: Sequence[float],
    *,
    stop: StopFlag | None = None,
    **kwargs: Any,
) -> Generator[RobustnessProgress, None, RobustnessCurve]:
    """Attack ``image`` once per eps (``make(eps)`` builds the attack); returns the curve,
    eps ascending, its first row eps = 0 (the clean prediction).

    ``kwargs`` go to :func:`..attacks.attack_image` (labels, masks, channel_axis, ...);
    Dice is against the ``labels`` when given, else against the clean prediction.
    """
    stop = stop or StopFlag()
    values = sorted(float(e) for e in eps_values)
    if not values:
        raise ValueError("Give at least one eps value.")
    curve = RobustnessCurve(make(values[-1]).name)
    truth = kwargs.get("labels") is not None
    for i, eps in enumerate(values):
        if stop.requested:
            curve.stopped = True
            break
        work = attack_image(make(eps), model, image, stop=stop, **kwargs)
        while True:
            try:
                ev = next(work)
            except StopIteration as finished:
                result = finished.value
                break
            yield RobustnessProgress(i, len(values), eps, 0, 1, (i + ev.progress) / len(values))
        if result.stopped:
            curve.stopped = True
            break
        if not curve.rows:
            curve.rows.append(clean_row(curve.perturbation, result, truth))
        curve.rows.append(sweep_row(curve.perturbation, eps, result, truth))
        curve.last = result
        curve.kept_float = result.adversarial.dtype.kind == "f"
    return curve
