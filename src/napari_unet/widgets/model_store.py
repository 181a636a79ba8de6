"""The trained model of each viewer, shared by the Train, Segment and Adversarial widgets.

Holds no widgets and no Qt objects: a small evented holder keyed by viewer, so a model
trained in one widget is seen by the others, and closing a viewer drops its model.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

from napari_unet.core import TrainedModel


class ModelStore:
    """The current model of one viewer; callbacks run when it changes."""

    def __init__(self) -> None:
        self.model: TrainedModel | None = None
        self.path: Path | None = None  # file it was loaded from / saved to, if any
        self._listeners: list[Callable[[TrainedModel | None], None]] = []

    def set(self, model: TrainedModel | None, path: Path | None = None) -> None:
        self.model = model
        self.path = path
        for listener in list(self._listeners):
            listener(model)

    def connect(self, listener: Callable[[TrainedModel | None], None]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[[TrainedModel | None], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def store_for(viewer: object) -> ModelStore:
    """The :class:`ModelStore` of ``viewer`` (created on first use)."""
    store = _STORES.get(viewer)
    if store is None:
        store = ModelStore()
        _STORES[viewer] = store
    return store
