"""Strokes painted while a run goes, joining its training within a step.

A front end posts each edit of a training image's labels: the edited region and the
labels in it after the edit (a copy of that region only, never of the whole layer),
from any thread. The trainer takes the edits before each step (:func:`apply_edits`):
painted pixels join the training pixels of their unit (a new unit where a slice had no
strokes yet), erased ones leave it, and a held-out pixel that is painted over keeps
being held out with its new class. The validation pixels are otherwise those of the
run's start, so the run's Dice figures stay comparable.

>>> live = LiveLabels()
>>> trainer = Trainer(images, labels, live=live)   # in a worker thread: trainer.run()
>>> live.post(0, (slice(10, 20), slice(30, 40)), labels[10:20, 30:40].copy())  # GUI thread
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.labels import IGNORE, TargetEncoder
from ..errors import UserInputError
from .training_data import TrainingData, Unit, in_memory_unit


@dataclass(frozen=True)
class LabelEdit:
    """The labels of ``region`` (slices over the labels' axes, leading then spatial) of
    training-set image ``image`` after an edit; ``posted``: perf_counter seconds."""

    image: int
    region: tuple[slice, ...]
    values: np.ndarray
    posted: float


@dataclass(frozen=True)
class EditsApplied:
    """What :func:`apply_edits` changed: training pixels now painted (``added``) and no
    longer painted (``removed``), whether validation pixels changed, and the time the
    oldest of the edits was posted (perf_counter seconds)."""

    added: int
    removed: int
    validation_changed: bool
    oldest_posted: float


class LiveLabels:
    """A thread-safe mailbox of label edits, posted by a front end, taken by the trainer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._edits: list[LabelEdit] = []

    def post(self, image: int, region: Sequence[slice], values: np.ndarray) -> None:
        """Queue the labels ``values`` (shaped like ``region``) of ``image`` after an edit."""
        edit = LabelEdit(int(image), tuple(region), np.asarray(values), time.perf_counter())
        with self._lock:
            self._edits.append(edit)

    def take(self) -> list[LabelEdit]:
        """The edits posted since the last call, oldest first."""
        with self._lock:
            edits, self._edits = self._edits, []
        return edits


def apply_edits(
    data: TrainingData, edits: Sequence[LabelEdit], encoder: TargetEncoder, spatial_dims: int
) -> EditsApplied | None:
    """Write ``edits`` into the in-memory units of ``data`` (lazy units are left as they
    were at the start) and recount its pixels; None when nothing changed. Labels values
    that are not a class of the run are ignored."""
    added = removed = 0
    validation_changed = False
    index = {key: i for i, key in enumerate(data.keys)}
    for edit in edits:
        if not 0 <= edit.image < len(data.images):
            continue
        shape = data.images[edit.image].image_cf.shape[-spatial_dims:]
        spatial = tuple(
            slice(*r.indices(n)[:2]) for r, n in zip(edit.region[-spatial_dims:], shape)
        )
        planes = edit.values.reshape((-1, *edit.values.shape[-spatial_dims:]))
        for lead, values in zip(_leads(data, edit, spatial_dims), planes):
            targets = _encode(encoder, values)
            if targets is None:
                continue
            unit = _unit_for(data, index, edit.image, lead, targets, spatial)
            if unit is None:
                continue
            a, r, v = _write(unit, spatial, targets)
            added, removed, validation_changed = added + a, removed + r, validation_changed or v
    if not (added or removed or validation_changed):
        return None
    data.recount()
    return EditsApplied(added, removed, validation_changed, min(e.posted for e in edits))


def _leads(data: TrainingData, edit: LabelEdit, spatial_dims: int) -> list[tuple[int, ...]]:
    """The leading indices (slices of a stack) an edit's region covers, in C order."""
    shape = data.images[edit.image].image_cf.shape[1:]
    n_lead = len(shape) - spatial_dims
    ranges = [range(*s.indices(n)) for s, n in zip(edit.region[:n_lead], shape[:n_lead])]
    return [tuple(r[i] for r, i in zip(ranges, idx)) for idx in np.ndindex(*map(len, ranges))]


def _encode(encoder: TargetEncoder, values: np.ndarray) -> np.ndarray | None:
    try:
        return encoder.encode(values)
    except UserInputError:  # a value that is no class of this run: not learned from
        return None


def _unit_for(
    data: TrainingData,
    index: dict[tuple[int, tuple[int, ...]], int],
    image: int,
    lead: tuple[int, ...],
    targets: np.ndarray,
    spatial: tuple[slice, ...],
) -> Unit | None:
    """The in-memory unit of ``(image, lead)``; a new one when strokes reach a slice
    that had none; None for a lazy unit, or for erasing where nothing was painted."""
    at = index.get((image, lead))
    if at is not None:
        unit = data.units[at]
        return unit if isinstance(unit, Unit) else None
    if not (targets != IGNORE).any():
        return None
    source = data.images[image]
    shape = tuple(source.image_cf.shape[-len(spatial) :])
    empty = np.full(shape, IGNORE, np.int64)
    unit = in_memory_unit(source, lead, empty, data.patch_size)
    data.units.append(unit)
    data.keys.append((image, lead))
    index[(image, lead)] = len(data.units) - 1
    return unit


def _write(unit: Unit, spatial: tuple[slice, ...], targets: np.ndarray) -> tuple[int, int, bool]:
    """Write ``targets`` into ``unit`` at ``spatial``: (pixels added to training, removed
    from it, whether validation pixels changed)."""
    train, held = unit.targets[spatial], unit.validation[spatial]
    was_held = held != IGNORE
    new_held = np.where(was_held, targets, IGNORE)
    new_train = np.where(was_held, IGNORE, targets)
    added = int(((new_train != IGNORE) & (new_train != train)).sum())
    removed = int(((new_train == IGNORE) & (train != IGNORE)).sum())
    validation_changed = bool((new_held != held).any())
    unit.targets[spatial] = new_train
    unit.validation[spatial] = new_held
    return added, removed, validation_changed
