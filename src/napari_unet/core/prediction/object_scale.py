"""Object scale: segment an image at the magnification the model was trained at.

A network trained from strokes on one image learns objects of that image's size; on an
image taken at another magnification its objects are too small to separate or too large
to see whole (cellpose faces the same and estimates a diameter). napari-unet measures the
median object diameter twice:

* after training, on the painted images: the predicted objects that the user's strokes
  of a non-background class touch (:func:`painted_object_diameter`), stored in the
  model file's summary as ``object_diameter`` (pixels);
* before segmenting: the objects of a first, ordinary prediction (:func:`median_diameter`).

When the two differ by more than ``TOLERANCE``, :func:`predict_at_model_scale` resizes the
image by their ratio (within ``LIMITS``), predicts again, and resizes the class
probabilities back, so labels and instances keep the image's shape. Diameters are
equivalent diameters: of a disc with the object's area in 2D, of a ball with its volume
in 3D.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from skimage.transform import resize

from ..data.images import channels_first
from ..data.patches import window_around
from ..model.trained_model import TrainedModel
from ..stopping import StopFlag, run_to_completion
from .engine import PredictionConfig, PredictionProgress, PredictionResult, predict
from .instances import DEFAULT_SPLIT_STRENGTH, instance_labels

TOLERANCE = 1.25  # no second pass when the sizes agree within this factor
LIMITS = (0.5, 2.0)  # the zoom range of the training augmentation (core.augment)
MIN_OBJECTS = 3  # fewer measured objects: no estimate
MEASURED_UNITS = 8  # slices (or volumes) of an image whose objects are measured
MAX_RESCALED_BYTES = 2 << 30  # rescaled image + probabilities held in memory, at most
SUMMARY_KEY = "object_diameter"


@dataclass(frozen=True)
class ObjectScale:
    """What :func:`predict_at_model_scale` decided.

    factor: zoom applied to the image (1 = none); image_diameter, model_diameter: pixels,
    None when unknown; reason: one line for the user.
    """

    factor: float
    image_diameter: float | None
    model_diameter: float | None
    reason: str


def equivalent_diameters(instances: np.ndarray) -> np.ndarray:
    """Equivalent diameter (pixels) of every object of ``instances`` (``(*S)``, 0 = none),
    in the order of their ids; 2D: of a disc, 3D: of a ball."""
    sizes = np.bincount(np.asarray(instances).ravel())[1:]
    sizes = sizes[sizes > 0].astype(np.float64)
    if instances.ndim >= 3:
        return np.cbrt(6.0 * sizes / math.pi)
    return np.sqrt(4.0 * sizes / math.pi)


def median_diameter(instances: Sequence[np.ndarray]) -> float | None:
    """Median equivalent diameter over the objects of all ``instances`` arrays; None
    with fewer than ``MIN_OBJECTS`` objects."""
    found = [equivalent_diameters(inst) for inst in instances]
    all_d = np.concatenate(found) if found else np.zeros(0)
    return float(np.median(all_d)) if all_d.size >= MIN_OBJECTS else None


def painted_objects(instances: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """``instances`` keeping only the objects that a painted object pixel touches.

    strokes: ``(*S)`` class indices, -1 where unpainted, 0 = background (never kept)."""
    touched = np.unique(instances[(strokes > 0) & (instances > 0)])
    return np.where(np.isin(instances, touched), instances, 0)


WINDOW = {2: 512, 3: 96}  # edge of the window measured per painted unit (pixels)
# Painted units measured after training: in 2D two 512-pixel windows (as long as two
# validations of a typical run; four doubled a short run's overrun), in 3D four 96^3 ones
MAX_UNITS = {2: 2, 3: 4}


def painted_object_diameter(
    model: TrainedModel, images: Sequence[np.ndarray], strokes: Sequence[np.ndarray]
) -> float | None:
    """Median diameter of the predicted objects that painted object pixels touch.

    images: normalized ``(C, *S)`` training units; strokes: ``(*S)`` class indices
    (-1 unpainted, 0 background). One window per unit (``MAX_UNITS`` units at most):
    the painted objects' bounding box plus ``patches.MARGIN``, at most ``WINDOW`` pixels per
    axis; objects cut by a window's edge are left out.
    """
    as_is = replace(model, normalization=None)  # the units are normalized already
    cfg = PredictionConfig(device="cpu", split_strength=DEFAULT_SPLIT_STRENGTH)
    edge = WINDOW[model.spatial_dims]
    found: list[np.ndarray] = []
    for image, painted in zip(images, strokes):
        points = np.argwhere(painted > 0)
        if not len(points) or len(found) >= MAX_UNITS[model.spatial_dims]:
            continue
        window = window_around(points.min(0), points.max(0), painted.shape, edge)
        result = run_to_completion(
            predict(as_is, image[(slice(None),) + window], config=cfg, channel_axis=0)
        )
        objects = instance_labels(result.labels)
        found.append(
            _off_the_edges(painted_objects(objects, painted[window]), painted.shape, window)
        )
    return median_diameter(found)


def _off_the_edges(
    instances: np.ndarray, shape: tuple[int, ...], window: tuple[slice, ...]
) -> np.ndarray:
    """``instances`` without the objects touching a window edge that is not the unit's."""
    edge = np.zeros(instances.shape, bool)
    for axis, (sl, n) in enumerate(zip(window, shape)):
        index = [slice(None)] * instances.ndim
        if sl.start > 0:
            index[axis] = 0
            edge[tuple(index)] = True
        if sl.stop < n:
            index[axis] = -1
            edge[tuple(index)] = True
    cut = np.unique(instances[edge & (instances > 0)])
    return np.where(np.isin(instances, cut), 0, instances)


def scale_factor(model_diameter: float | None, image_diameter: float | None) -> float:
    """Zoom that brings the image's objects to the model's size: ``model / image``
    clipped to ``LIMITS``; 1 when either is unknown or they agree within ``TOLERANCE``."""
    if not model_diameter or not image_diameter:
        return 1.0
    ratio = model_diameter / image_diameter
    if 1.0 / TOLERANCE <= ratio <= TOLERANCE:
        return 1.0
    return float(np.clip(ratio, *LIMITS))


def model_diameter(model: TrainedModel) -> float | None:
    """The object diameter stored with ``model`` (pixels), or None."""
    value = model.summary.get(SUMMARY_KEY)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _instances_of(
    result: PredictionResult, cfg: PredictionConfig, todo: Sequence[tuple[int, ...]]
) -> list[np.ndarray]:
    """The first pass's objects in up to ``MEASURED_UNITS`` evenly spaced units (computed
    from the labels if instances were not asked for)."""
    out = []
    for lead in todo[:: max(1, len(todo) // MEASURED_UNITS)][:MEASURED_UNITS]:
        if result.instances is not None:
            out.append(np.asarray(result.instances[lead]))
        else:
            out.append(
                instance_labels(np.asarray(result.labels[lead]), split_strength=cfg.split_strength)
            )
    return out


def _resize_spatial(array: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
    """Linear resize of the trailing axes of ``array`` to ``spatial`` (anti-aliased
    when shrinking), float32."""
    shape = array.shape[: array.ndim - len(spatial)] + tuple(spatial)
    shrink = any(new < old for new, old in zip(spatial, array.shape[-len(spatial) :]))
    return resize(
        array.astype(np.float32, copy=False),
        shape,
        order=1,
        mode="reflect",
        preserve_range=True,
        anti_aliasing=shrink,
    ).astype(np.float32)


def _rescaled_source(
    source: np.ndarray, dims: int, factor: float, todo: Sequence[tuple[int, ...]]
) -> np.ndarray:
    """``(C, *lead, *S)`` -> ``(C, *lead, *S*factor)``; only the ``todo`` units are filled."""
    spatial = source.shape[source.ndim - dims :]
    new = tuple(max(1, int(round(s * factor))) for s in spatial)
    out = np.zeros(source.shape[: source.ndim - dims] + new, np.float32)
    for lead in todo:
        index = (slice(None),) + tuple(lead)
        out[index] = _resize_spatial(np.asarray(source[index]), new)
    return out


def _results_at_image_scale(
    rescaled: PredictionResult,
    first: PredictionResult,
    cfg: PredictionConfig,
    dims: int,
    todo: Sequence[tuple[int, ...]],
) -> PredictionResult:
    """Probabilities of the rescaled pass resized back; labels (and instances) from them."""
    labels = np.array(first.labels, copy=True)
    spatial = labels.shape[labels.ndim - dims :]
    probabilities = (
        np.zeros((rescaled.probabilities.shape[0],) + labels.shape, np.float32)
        if cfg.probabilities
        else None
    )
    instances = np.zeros(labels.shape, np.uint32) if cfg.instances else None
    for lead in todo:
        prob = _resize_spatial(rescaled.probabilities[(slice(None),) + tuple(lead)], spatial)
        labels[lead] = (np.argmax(prob, axis=0) + 1).astype(labels.dtype)
        if probabilities is not None:
            probabilities[(slice(None),) + tuple(lead)] = prob
        if instances is not None:
            instances[lead] = instance_labels(
                labels[lead],
                min_size=cfg.min_object_size,
                split_touching=cfg.split_touching,
                method=cfg.instance_method,
                split_strength=cfg.split_strength,
                probabilities=prob,
            )
    return PredictionResult(labels, probabilities, instances, first.completed, False)


def predict_at_model_scale(
    model: TrainedModel,
    image: Any,
    *,
    config: PredictionConfig | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    indices: list[tuple[int, ...]] | None = None,
    stop: StopFlag | None = None,
) -> Generator[PredictionProgress | ObjectScale | Any, None, PredictionResult]:
    """:func:`.engine.predict`, then, if the image's objects are not the size the
    model was trained on, again on the image resized to that size.

    Yields the events of both passes and one :class:`ObjectScale`. The resized units
    and their probabilities are held in memory: an image that would need more than
    ``MAX_RESCALED_BYTES`` for them is predicted once, at its own scale.
    """
    cfg = config or PredictionConfig()
    stop = stop or StopFlag()
    first = yield from predict(
        model, image, config=cfg, channel_axis=channel_axis, rgb=rgb, indices=indices, stop=stop
    )
    known = model_diameter(model)
    if first.stopped or known is None:
        why = "stopped" if first.stopped else "the model has no object size (retrain it)"
        yield ObjectScale(1.0, None, known, f"Object size not matched: {why}.")
        return first
    source = channels_first(image, channel_axis, rgb)
    dims = model.spatial_dims
    lead_shape = source.shape[1 : source.ndim - dims]
    todo = [tuple(i) for i in (indices if indices is not None else np.ndindex(*lead_shape))]
    measured = median_diameter(_instances_of(first, cfg, todo))
    factor = scale_factor(known, measured)
    too_big = _rescaled_bytes(source, dims, factor, len(todo), model.num_classes)
    if too_big > MAX_RESCALED_BYTES:
        yield ObjectScale(
            1.0,
            measured,
            known,
            (
                f"Object size not matched: the resized image would need {too_big / 2**30:.1f} "
                "GiB; segment a region, or resize the image yourself."
            ),
        )
        return first
    yield ObjectScale(factor, measured, known, _describe(factor, measured, known))
    if factor == 1.0:
        return first
    rescaled = yield from predict(
        model,
        _rescaled_source(source, dims, factor, todo),
        config=replace(cfg, probabilities=True, instances=False),
        channel_axis=0,
        indices=todo,
        stop=stop,
    )
    if rescaled.stopped:
        return replace_stopped(first)
    return _results_at_image_scale(rescaled, first, cfg, dims, todo)


def _rescaled_bytes(source: Any, dims: int, factor: float, units: int, classes: int) -> int:
    """Memory of the resized units and of their class probabilities (float32)."""
    pixels = np.prod([s * factor for s in source.shape[source.ndim - dims :]])
    return int(4 * (source.shape[0] + classes) * units * pixels) if factor != 1.0 else 0


def replace_stopped(result: PredictionResult) -> PredictionResult:
    """``result`` marked as stopped (a Stop during the second pass keeps the first)."""
    return PredictionResult(
        result.labels, result.probabilities, result.instances, result.completed, True
    )


def _describe(factor: float, measured: float | None, known: float) -> str:
    if measured is None:
        return "Too few objects to measure their size; segmented at the image's scale."
    if factor == 1.0:
        return (
            f"Objects about {measured:.0f} px across, as in training ({known:.0f} px): "
            "no rescaling."
        )
    return (
        f"Objects about {measured:.0f} px across, the model learned {known:.0f} px: "
        f"segmented at {factor:.2f}x and resized back."
    )
