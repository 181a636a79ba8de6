"""Robustness curve: segmentation quality against the attack budget eps."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..stopping import StopFlag
from .base import Attack
from .image_attack import AttackProgress, AttackResult, attack_image

CSV_COLUMNS = (
    "eps",
    "eps_raw",
    "dice",
    "iou",
    "fraction_changed",
    "linf",
    "l2",
    "snr_db",
    "below_quantization",
)


@dataclass(frozen=True)
class CurveProgress:
    """Progress of a curve: point ``index`` of ``count`` (eps ``eps``), and its attack."""

    index: int
    count: int
    eps: float
    inner: AttackProgress
    progress: float


@dataclass
class RobustnessCurve:
    """One row per eps; the first row is eps = 0 (the clean prediction)."""

    attack: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    last: AttackResult | None = None  # the result at the largest eps reached
    kept_float: bool = False  # attacked images kept as float32 (``keep_float=True``)

    @property
    def eps(self) -> list[float]:
        return [r["eps"] for r in self.rows]

    @property
    def dice(self) -> list[float]:
        return [r["dice"] for r in self.rows]

    @property
    def below_quantization(self) -> list[float]:
        """The eps values below one grey level of the image's dtype: there the attacked
        image in that dtype equals the clean one, and Dice says nothing about robustness."""
        return [r["eps"] for r in self.rows if r.get("below_quantization")]

    def quantization_warning(self) -> str | None:
        """One line naming the eps values below one grey level, or None."""
        below = self.below_quantization
        if not below:
            return None
        values = ", ".join(f"{e * 255:.3g}" for e in below)
        if self.kept_float:
            return (
                f"eps {values} (x 1/255) below one grey level of the image's dtype: "
                "measured on float32 images; saved in the image's dtype these attacked "
                "images would equal the clean one (CSV column below_quantization)."
            )
        return (
            f"eps {values} (x 1/255) below one grey level of the image's dtype: the "
            "attacked image cannot differ from the clean one there, so Dice at these "
            "points does not show robustness (marked in the curve and in the CSV column "
            "below_quantization)."
        )

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the rows as CSV (columns :data:`CSV_COLUMNS`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        return path


def _row(eps: float, result: AttackResult, clean: bool = False) -> dict[str, Any]:
    m = result.metrics
    return {
        "eps": eps,
        "eps_raw": 0.0 if clean else (m.eps_raw[0] if m.eps_raw else None),
        "dice": m.dice_clean if clean else m.dice_adversarial,
        "iou": m.iou_clean if clean else m.iou_adversarial,
        "fraction_changed": 0.0 if clean else m.fraction_changed,
        "linf": 0.0 if clean else m.linf,
        "l2": 0.0 if clean else m.l2,
        "snr_db": float("inf") if clean else m.snr_db,
        "below_quantization": False if clean else m.below_quantization,
    }


def robustness_curve(
    make: Callable[[float], Attack],
    model: Any,
    image: Any,
    eps_values: Sequence[float],
    *,
    stop: StopFlag | None = None,
    **kwargs: Any,
) -> Generator[CurveProgress, None, RobustnessCurve]:
    """Attack ``image`` once per eps (``make(eps)`` builds the attack); returns the curve.

    ``kwargs`` go to :func:`attack_image` (labels, masks, channel_axis, ...).
    """
    stop = stop or StopFlag()
    values = sorted(float(e) for e in eps_values)
    if not values:
        raise ValueError("Give at least one eps value.")
    curve = RobustnessCurve(attack=make(values[-1]).name)
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
            yield CurveProgress(i, len(values), eps, ev, (i + ev.progress) / len(values))
        if result.stopped:
            curve.stopped = True
            break
        if not curve.rows:
            curve.rows.append(_row(0.0, result, clean=True))
        curve.rows.append(_row(eps, result))
        curve.last = result
        curve.kept_float = result.adversarial.dtype.kind == "f"
    return curve
