"""The robustness curve: Dice against the strength of one perturbation, as CSV and PNG.

One type for every curve: a natural perturbation (:func:`.sweeps.perturbation_curve`),
an attack kind of ``napari-unet robustness``, and the widget's sweep of an attack's eps
(:func:`.sweeps.robustness_curve`). One CSV layout, :data:`CSV_COLUMNS`, in that order;
a column is written when some row has it:

- ``perturbation``: the kind (noise, blur, ...) or the attack (fgsm, pgd, ...);
- ``level``: the strength in the kind's unit (:data:`.perturbations.UNITS`; attacks: eps
  in normalized intensity);
- ``dice_vs_clean`` / ``dice_vs_truth``: mean Dice (over classes) of the perturbed
  prediction against the clean prediction / the truth (with truth only);
- attacks only: ``fraction_changed`` (pixels whose class changed), ``linf`` and ``l2``
  (perturbation size, normalized units), ``snr_db`` (raw image to perturbation), and
  ``below_quantization`` (eps below one grey level of the image's dtype).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..attacks import AttackResult
from ..io.atomic_write import atomic_write
from .perturbations import UNITS

CSV_COLUMNS = (
    "perturbation",
    "level",
    "dice_vs_clean",
    "dice_vs_truth",
    "fraction_changed",
    "linf",
    "l2",
    "snr_db",
    "below_quantization",
)
QUANTIZATION_COLUMN = "below_quantization"  # attack kinds: eps below one grey level


@dataclass(frozen=True)
class RobustnessProgress:
    """Level ``level_index`` of ``levels`` (value ``level``) on image ``image`` of ``images``."""

    level_index: int
    levels: int
    level: float
    image: int
    images: int
    progress: float  # 0..1 over the whole curve


@dataclass
class RobustnessCurve:
    """One row per level (keys of :data:`CSV_COLUMNS`; Dice means over images).

    example / example_prediction: the last perturbed image (raw intensity units, float32,
        the image's layout) and its prediction, when asked for.
    last: the attack result at the largest eps reached (eps sweeps).
    kept_float: attacked images were float32 (their perturbation survives there, not in
        a file of the image's dtype).
    """

    perturbation: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    example: np.ndarray | None = None
    example_prediction: np.ndarray | None = None
    last: AttackResult | None = None
    kept_float: bool = False

    @property
    def levels(self) -> list[float]:
        return [r["level"] for r in self.rows]

    @property
    def dice(self) -> list[float]:
        """Dice against the clean prediction, one per row."""
        return [r["dice_vs_clean"] for r in self.rows]

    @property
    def has_truth(self) -> bool:
        return any("dice_vs_truth" in r for r in self.rows)

    @property
    def below_quantization(self) -> list[float]:
        """The eps values below one grey level of the image's dtype: there the attacked
        image in that dtype equals the clean one, and Dice says nothing about robustness."""
        return [r["level"] for r in self.rows if r.get(QUANTIZATION_COLUMN)]

    def quantization_warning(self) -> str | None:
        """One line naming the eps values below one grey level, or None."""
        below = self.below_quantization
        if not below:
            return None
        values = ", ".join(f"{e * 255:.3g}/255" for e in below)
        if self.kept_float:
            return (
                f"eps {values} below one grey level of the image's dtype: measured on "
                "float32 images; saved in the image's dtype these attacked images would "
                f"equal the clean ones (CSV column {QUANTIZATION_COLUMN})."
            )
        return (
            f"eps {values} below one grey level of the image's dtype: the attacked image "
            "cannot differ from the clean one there, so Dice at these points does not show "
            f"robustness (marked in the curve and in the CSV column {QUANTIZATION_COLUMN})."
        )

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the rows, columns :data:`CSV_COLUMNS` that some row has, atomically."""
        columns = [c for c in CSV_COLUMNS if any(c in row for row in self.rows)]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))

    def plot(self, path: str | os.PathLike) -> Path:
        """Save the curve as a PNG (matplotlib's Agg canvas, no GUI), atomically."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4.5, 3.2), dpi=110)
        FigureCanvasAgg(figure)
        draw_curve(figure.add_subplot(111), self)
        figure.tight_layout()
        return atomic_write(path, lambda handle: figure.savefig(handle, format="png"))


def draw_curve(ax: Any, curve: RobustnessCurve) -> None:
    """Draw Dice against level on a matplotlib axis (used by :meth:`RobustnessCurve.plot`
    and the Adversarial widget)."""
    ax.clear()
    ax.plot(curve.levels, curve.dice, "o-", ms=3, label="vs clean prediction")
    if curve.has_truth:
        ax.plot(
            curve.levels,
            [r.get("dice_vs_truth") for r in curve.rows],
            "s--",
            ms=3,
            label="vs truth",
        )
    ax.set_xlabel(UNITS.get(curve.perturbation, curve.perturbation), fontsize=8)
    ax.set_ylabel("Dice", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
