"""Label conventions: sparse strokes and dense masks, mapped to class indices.

* **sparse** (napari's painting convention): 0 = not painted, ignored by the loss;
  1..K are classes. For two classes 1 = background, 2 = object.
* **dense**: every value is a class (e.g. ISBI masks 0/255). The sorted distinct values
  become classes 1..K; the mapping is stored in the model.

Internally the loss works on *targets*: class indices 0..K-1, and -1 for "ignore".
Predictions are always class values 1..K, the same values sparse training labels use,
so a corrected prediction can be used directly as new training labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import UserInputError
from ..io.lazy_arrays import chunk_regions, read, readable

IGNORE = -1
MAX_CLASSES = 255


@dataclass(frozen=True)
class ClassInfo:
    """The classes a model predicts.

    Attributes
    ----------
    names: one name per class, for class values 1..K.
    source_values: the label value that meant each class in the training data
        (1..K for sparse labels; e.g. (0, 255) for a dense ISBI mask).
    dense: whether the training labels were dense masks.
    boundary_class: the class value (1..K) the user named as the membranes between cells
        (see :func:`~napari_unet.core.boundary_instances`), or None. Absent from older
        model files, which read as None.
    """

    names: tuple[str, ...]
    source_values: tuple[int, ...]
    dense: bool = False
    boundary_class: int | None = None

    def __post_init__(self) -> None:
        k = self.boundary_class
        if k is not None and (isinstance(k, bool) or not 1 <= k <= len(self.names)):
            raise ValueError(f"boundary_class must be a class value 1..{len(self.names)}, got {k}.")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        data = {
            "names": list(self.names),
            "source_values": list(self.source_values),
            "dense": self.dense,
        }
        if self.boundary_class is not None:  # older readers ignore the key
            data["boundary_class"] = self.boundary_class
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ClassInfo:
        boundary = data.get("boundary_class")
        return cls(
            tuple(data["names"]),
            tuple(int(v) for v in data["source_values"]),
            bool(data["dense"]),
            None if boundary is None else int(boundary),
        )

    def with_boundary_class(self, boundary_class: int | None) -> ClassInfo:
        """These classes with ``boundary_class`` named as the membranes (None: none);
        :class:`UserInputError` naming the classes when it is not one of them."""
        if boundary_class is not None and not 1 <= boundary_class <= self.num_classes:
            listed = ", ".join(f"{i + 1} = {n}" for i, n in enumerate(self.names))
            raise UserInputError(
                f"The boundary class {boundary_class} is not one of the {self.num_classes} "
                f"classes ({listed}); name the class value painted on the membranes."
            )
        return replace(self, boundary_class=boundary_class)


def default_class_names(k: int) -> tuple[str, ...]:
    if k == 2:
        return ("background", "object")
    return ("background",) + tuple(f"class {i}" for i in range(2, k + 1))


def distinct_values(labels: Any) -> np.ndarray:
    """The sorted distinct values of ``labels``; a lazy (dask, zarr) array is read chunk by
    chunk, never whole."""
    if isinstance(labels, np.ndarray):
        return np.unique(labels)
    arr = readable(labels)  # read directly: a dask graph per chunk costs ~ms
    found = [np.unique(read(arr, region)) for region in chunk_regions(arr)]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, arr.dtype)


def check_labels(labels: np.ndarray, spatial_shape: tuple[int, ...], name: str = "labels") -> None:
    """Labels must be integer (or bool), non-negative and shaped like the image."""
    if labels.dtype.kind not in "biu":
        raise UserInputError(
            f"The {name} must hold integers (a napari Labels layer), got dtype {labels.dtype}."
        )
    if tuple(labels.shape) != tuple(spatial_shape):
        raise UserInputError(
            f"The {name} have shape {labels.shape} but the image has shape {spatial_shape} "
            "(without channels). Use a Labels layer made for this image."
        )
    if labels.dtype.kind == "i" and _smallest(labels) < 0:
        raise UserInputError(f"The {name} contain negative values; classes are 1, 2, ...")


def _smallest(labels: Any) -> int:
    """The smallest value of ``labels`` (0 when empty); lazy arrays read chunk by chunk."""
    if not np.prod(labels.shape):
        return 0
    if isinstance(labels, np.ndarray):
        return int(labels.min())
    return int(distinct_values(labels)[0])


def class_info_from_labels(
    labels: Sequence[np.ndarray], dense: bool, num_classes: int | None = None
) -> ClassInfo:
    """Work out the classes from all label images, with clear errors for unusable labels."""
    values: set[int] = set()
    for lab in labels:
        values.update(int(v) for v in distinct_values(lab))
    if dense:
        present = sorted(values)
        if len(present) < 2:
            raise UserInputError(
                f"Dense labels need at least two different values; found only {present}."
            )
        if len(present) > MAX_CLASSES:
            raise UserInputError(
                f"Dense labels hold {len(present)} values; at most "
                f"{MAX_CLASSES} classes are supported. Are these instance "
                "labels? Convert them to classes first."
            )
        return ClassInfo(default_class_names(len(present)), tuple(present), dense=True)
    painted = sorted(v for v in values if v != 0)
    if not painted:
        raise UserInputError(
            "No strokes found: the labels layer is empty. Paint a few strokes of each class "
            "(1 = background, 2 = object) and train again."
        )
    if len(painted) < 2:
        raise UserInputError(
            f"Only class {painted[0]} is painted. Paint at least one stroke of another class "
            "(for two classes: 1 = background, 2 = object) so the model can tell them apart."
        )
    k = max(painted) if num_classes is None else num_classes
    if max(painted) > k:
        raise UserInputError(
            f"The labels contain class {max(painted)} but the model knows only {k} classes. "
            "Train a new model to add classes."
        )
    if k > MAX_CLASSES:
        raise UserInputError(f"Label value {k} is too large: at most {MAX_CLASSES} classes.")
    k = max(k, 2)
    return ClassInfo(default_class_names(k), tuple(range(1, k + 1)), dense=False)


@dataclass
class TargetEncoder:
    """Maps label images to targets (class index 0..K-1, or -1 = ignore).

    ``values[i]`` is the label value that means class index ``i`` (default: the classes'
    ``source_values``); ``dense`` says whether these labels are dense masks, where every
    value is a class, or sparse strokes, where 0 means unpainted (default: ``classes.dense``).
    The mapping is a sorted search over the K values, so memory does not depend on how
    large the label values are (a dense mask holding 5e8 costs nothing extra).
    """

    classes: ClassInfo
    values: tuple[int, ...] | None = None
    dense: bool | None = None
    _keys: np.ndarray = field(init=False, repr=False)
    _index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        values = self.classes.source_values if self.values is None else self.values
        if self.dense is None:
            self.dense = self.classes.dense
        pairs = sorted((int(v), i) for i, v in enumerate(values) if self.dense or int(v) != 0)
        self._keys = np.array([v for v, _ in pairs], np.int64)
        self._index = np.array([i for _, i in pairs], np.int64)

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (any int shape) -> int64 targets of the same shape."""
        lab = np.asarray(labels)
        pos = np.minimum(np.searchsorted(self._keys, lab), self._keys.size - 1)
        found = self._keys[pos] == lab
        unknown = ~found if self.dense else ~found & (lab != 0)
        if unknown.any():
            bad = int(lab[unknown].max())
            if self.dense:
                raise UserInputError(
                    f"Label value {bad} is not one of the dense label values this model knows "
                    f"({sorted(self._keys.tolist())})."
                )
            raise UserInputError(
                f"Label value {bad} is not a class of this model (classes 1..{self.classes.num_classes})."
            )
        return np.where(found, self._index[pos], IGNORE)


def finetuning_encoder(
    classes: ClassInfo, labels: Sequence[np.ndarray], dense: bool
) -> TargetEncoder:
    """Targets for fine-tuning a model of ``classes`` on ``labels``, with the semantics of
    *these* labels, whatever the model was first trained on.

    * sparse labels (``dense=False``): 0 = unpainted, value v = class v (the values the
      model predicts), for a model first trained on strokes or on dense masks alike;
    * dense labels: the model's own dense values if they cover the labels (e.g. 0/255
      for a model trained on 0/255 masks); else class values 1..K if they cover them
      (e.g. a corrected prediction); else the sorted distinct values as classes 1..n.
    """
    k = classes.num_classes
    class_values = tuple(range(1, k + 1))
    if not dense:
        class_info_from_labels(labels, dense=False, num_classes=k)
        return TargetEncoder(classes, class_values, dense=False)
    present: set[int] = set()
    for lab in labels:
        present.update(int(v) for v in distinct_values(lab))
    if classes.dense and present <= set(classes.source_values):
        return TargetEncoder(classes, classes.source_values, dense=True)
    if present <= set(class_values):
        return TargetEncoder(classes, class_values, dense=True)
    if len(present) > k:
        raise UserInputError(
            f"The dense labels hold {len(present)} different values but the "
            f"model has {k} classes; fine-tune with at most {k} values or "
            "train a new model."
        )
    return TargetEncoder(classes, tuple(sorted(present)), dense=True)


def integer_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """``labels`` as non-negative integers, or :class:`UserInputError` saying why not.

    Accepts bool, integer, and float arrays holding only finite whole numbers (as some
    tools save masks); refuses NaN, infinity, fractions, negative values, complex numbers.
    """
    kind = labels.dtype.kind
    if kind == "b":
        return labels.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(labels).all():
            raise UserInputError(
                f"{name} contains NaN or infinite values; labels must be whole numbers 0, 1, 2, ..."
            )
        if (labels != np.round(labels)).any():
            raise UserInputError(
                f"{name} contains fractional values; labels must be whole numbers 0, 1, 2, ..."
            )
        labels = labels.astype(np.int64)
    elif kind not in "iu":
        raise UserInputError(
            f"{name} has dtype {labels.dtype}; labels must be whole numbers 0, 1, 2, ..."
        )
    if labels.dtype.kind == "i" and _smallest(labels) < 0:
        raise UserInputError(f"{name} contains negative values; labels are 0, 1, 2, ...")
    return labels
