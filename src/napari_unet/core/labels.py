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
from dataclasses import dataclass, field

import numpy as np

from .errors import UserInputError

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
    """

    names: tuple[str, ...]
    source_values: tuple[int, ...]
    dense: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "source_values": list(self.source_values),
                "dense": self.dense}

    @classmethod
    def from_dict(cls, data: dict) -> ClassInfo:
        return cls(tuple(data["names"]), tuple(int(v) for v in data["source_values"]),
                   bool(data["dense"]))


def default_class_names(k: int) -> tuple[str, ...]:
    if k == 2:
        return ("background", "object")
    return ("background",) + tuple(f"class {i}" for i in range(2, k + 1))


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
    if labels.dtype.kind == "i" and labels.size and labels.min() < 0:
        raise UserInputError(f"The {name} contain negative values; classes are 1, 2, ...")


def class_info_from_labels(
    labels: Sequence[np.ndarray], dense: bool, num_classes: int | None = None
) -> ClassInfo:
    """Work out the classes from all label images, with clear errors for unusable labels."""
    values: set[int] = set()
    for lab in labels:
        values.update(int(v) for v in np.unique(lab))
    if dense:
        present = sorted(values)
        if len(present) < 2:
            raise UserInputError(
                f"Dense labels need at least two different values; found only {present}."
            )
        if len(present) > MAX_CLASSES:
            raise UserInputError(f"Dense labels hold {len(present)} values; at most "
                                 f"{MAX_CLASSES} classes are supported. Are these instance "
                                 "labels? Convert them to classes first.")
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
    """Maps label images to targets (class index 0..K-1, or -1 = ignore)."""

    classes: ClassInfo
    _lut: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        size = max(self.classes.source_values) + 1
        lut = np.full(size, IGNORE, np.int64)
        for index, value in enumerate(self.classes.source_values):
            lut[value] = index
        if not self.classes.dense:
            lut[0] = IGNORE
        self._lut = lut

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (any int shape) -> int64 targets of the same shape."""
        lab = labels.astype(np.int64, copy=False)
        too_big = lab >= self._lut.size
        if too_big.any():
            bad = int(lab[too_big].max())
            if self.classes.dense:
                raise UserInputError(
                    f"Label value {bad} was not in the dense labels the model was trained on "
                    f"({list(self.classes.source_values)})."
                )
            raise UserInputError(
                f"Label value {bad} is not a class of this model (classes 1..{self.classes.num_classes})."
            )
        return self._lut[lab]
