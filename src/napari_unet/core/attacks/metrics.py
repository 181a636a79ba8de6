"""How much an attack hurt, and how big the perturbation was."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..metrics import dice_iou_per_class


@dataclass(frozen=True)
class AttackMetrics:
    """Scores of one attacked image.

    dice_clean / dice_adversarial, iou_*: mean over classes of the clean and adversarial
        predictions against the reference (the truth when given, else the clean prediction,
        which then scores 1). Per-class values in ``per_class`` as
        ``{class: {"dice_clean", "dice_adversarial", "iou_clean", "iou_adversarial"}}``.
    fraction_changed: fraction of evaluated pixels whose predicted class changed.
    linf, l2: size of the perturbation in normalized units; ``*_raw`` in raw intensities.
    snr_db: ``10 log10(sum image^2 / sum perturbation^2)`` over attacked pixels (raw units;
        infinite when nothing changed).
    eps, eps_raw: the budget in normalized units and per channel in raw units.
    pixels: number of evaluated pixels.
    eps_grey_levels: the largest channel's ``eps_raw`` in grey levels of the image's integer
        dtype (None for float images and unbounded attacks).
    below_quantization: ``eps_grey_levels < 1``: an image of that dtype cannot hold any
        of the perturbation (it rounds to the clean value), see :func:`quantization_warning`.
    """

    dice_clean: float
    dice_adversarial: float
    iou_clean: float
    iou_adversarial: float
    fraction_changed: float
    linf: float
    l2: float
    linf_raw: float
    l2_raw: float
    snr_db: float
    eps: float | None
    eps_raw: tuple[float, ...] | None
    pixels: int
    per_class: dict
    eps_grey_levels: float | None = None
    below_quantization: bool = False

    def to_dict(self) -> dict:
        out = asdict(self)
        out["eps_raw"] = list(self.eps_raw) if self.eps_raw is not None else None
        out["per_class"] = {str(k): v for k, v in self.per_class.items()}
        for key, value in out.items():  # JSON has no infinity
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return out


def attack_metrics(
    clean_pred: np.ndarray,
    adv_pred: np.ndarray,
    reference: np.ndarray,
    eval_mask: np.ndarray,
    image_cf: np.ndarray,
    perturbation_cf: np.ndarray,
    low: np.ndarray,
    span: np.ndarray,
    eps: float | None,
    attacked: np.ndarray,
    num_classes: int | None,
) -> AttackMetrics:
    """Compute :class:`AttackMetrics`.

    Shapes: predictions, ``reference``, ``eval_mask`` and ``attacked`` are ``(*S)``;
    ``image_cf`` and ``perturbation_cf`` are ``(C, *S)``; ``low``, ``span`` are ``(C,)``.
    """
    ref = reference[eval_mask]
    cp, ap = clean_pred[eval_mask], adv_pred[eval_mask]
    per_class = _per_class_scores(cp, ap, ref, num_classes)

    def mean(key: str) -> float:
        return float(np.mean([v[key] for v in per_class.values()])) if per_class else math.nan

    sizes = _perturbation_sizes(image_cf, perturbation_cf, span, attacked)
    return AttackMetrics(
        dice_clean=mean("dice_clean"),
        dice_adversarial=mean("dice_adversarial"),
        iou_clean=mean("iou_clean"),
        iou_adversarial=mean("iou_adversarial"),
        fraction_changed=float((cp != ap).mean()) if cp.size else 0.0,
        **sizes,
        eps=eps,
        eps_raw=None if eps is None else tuple(float(eps * s) for s in span),
        pixels=int(eval_mask.sum()),
        per_class=per_class,
        **quantization(image_cf.dtype, eps, span),
    )


def _per_class_scores(
    clean: np.ndarray, adversarial: np.ndarray, reference: np.ndarray, num_classes: int | None
) -> dict[int, dict[str, float]]:
    """Dice and IoU of the clean and adversarial predictions against the reference, per
    class (the model's 1..K, else the classes present), over evaluated pixels ``(N,)``."""
    if not reference.size:
        return {}
    if num_classes:
        classes = list(range(1, num_classes + 1))
    else:
        present = (np.unique(a).tolist() for a in (reference, clean, adversarial))
        classes = sorted(set().union(*present))
    clean_scores = dice_iou_per_class(clean, reference, classes)
    adv_scores = dice_iou_per_class(adversarial, reference, classes)
    return {
        c: {
            "dice_clean": clean_scores[c]["dice"],
            "dice_adversarial": adv_scores[c]["dice"],
            "iou_clean": clean_scores[c]["iou"],
            "iou_adversarial": adv_scores[c]["iou"],
        }
        for c in classes
    }


def _perturbation_sizes(
    image_cf: np.ndarray, perturbation_cf: np.ndarray, span: np.ndarray, attacked: np.ndarray
) -> dict[str, float]:
    """L-inf and L2 of the perturbation over the attacked pixels (normalized and raw) and
    the SNR in dB. Shapes: ``(C, *S)`` arrays, ``span`` ``(C,)``, ``attacked`` ``(*S)``."""
    if not attacked.any():
        return {"linf": 0.0, "l2": 0.0, "linf_raw": 0.0, "l2_raw": 0.0, "snr_db": math.inf}
    sel = (slice(None),) + (attacked,)
    p_raw = perturbation_cf[sel].astype(np.float64)  # (C, N)
    p_norm = p_raw / span[:, None]
    signal = float(np.square(image_cf[sel].astype(np.float64)).sum())
    noise = float(np.square(p_raw).sum())
    return {
        "linf": float(np.abs(p_norm).max(initial=0)),
        "l2": float(np.sqrt(np.square(p_norm).sum())),
        "linf_raw": float(np.abs(p_raw).max(initial=0)),
        "l2_raw": float(math.sqrt(noise)),
        "snr_db": _snr_db(signal, noise),
    }


def _snr_db(signal: float, noise: float) -> float:
    """``10 log10(signal / noise)``; infinite without noise, -inf without signal."""
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def grey_level(dtype: np.dtype) -> float | None:
    """One quantization step of ``dtype`` in raw units: 1 for integers and bools, None for
    floats (no step worth naming)."""
    return 1.0 if np.dtype(dtype).kind in "biu" else None


def quantization(dtype: np.dtype, eps: float | None, span: np.ndarray) -> dict:
    """``{"eps_grey_levels", "below_quantization"}`` of an L-inf budget ``eps``
    (normalized units) on an image of ``dtype`` whose normalization spans ``span`` raw
    units per channel."""
    step = grey_level(dtype)
    if step is None or eps is None or eps <= 0:
        return {"eps_grey_levels": None, "below_quantization": False}
    levels = float(eps * np.max(span) / step)
    return {"eps_grey_levels": levels, "below_quantization": levels < 1.0}


def quantization_warning(
    metrics: AttackMetrics, dtype: np.dtype, kept_float: bool, float_hint: str
) -> str | None:
    """One line when the budget is below one grey level of the image's dtype, else None.

    kept_float: the attacked image was kept as float32 (the perturbation survives there,
    not in a file of the image's dtype). float_hint: how the caller keeps float output
    (e.g. ``"--output-dtype float32"``)."""
    if not metrics.below_quantization or metrics.eps_grey_levels is None:
        return None
    dtype = np.dtype(dtype)
    levels = metrics.eps_grey_levels
    needed = metrics.eps / levels * 255 if metrics.eps else float("nan")
    budget = f"eps {metrics.eps * 255:.3g}/255 is {levels:.2g} grey levels of this {dtype} image"
    if kept_float:
        return (
            f"{budget}: kept as float32 here, but written as {dtype} the attacked image "
            f"would equal the clean one (eps >= {needed:.3g}/255 reaches one grey level)."
        )
    return (
        f"{budget}, below one grey level: written as {dtype} the perturbation rounds "
        f"away ({100 * metrics.fraction_changed:.2f}% pixels changed), so an unchanged "
        f"Dice does not show robustness. Use eps >= {needed:.3g}/255, or float output "
        f"({float_hint})."
    )
