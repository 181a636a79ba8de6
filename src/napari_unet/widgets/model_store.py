"""The trained model of each viewer, shared by the Train, Segment and Adversarial widgets.

Holds no widgets and no Qt objects: a small evented holder keyed by viewer (the viewer
itself, not the proxy napari hands each widget), so a model trained in one widget is seen
by the others, and closing a viewer drops its model.
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


def _unproxied(viewer: object) -> object:
    """The viewer itself: widgets opened from the Plugins menu get a ``PublicOnlyProxy``
    of it (a wrapt proxy, a new one per widget), which must not be the key: it dies with
    its widget while the viewer and the other widgets live on."""
    return getattr(viewer, "__wrapped__", viewer)


def store_for(viewer: object) -> ModelStore:
    """The :class:`ModelStore` of ``viewer`` or of the viewer behind a proxy (created on
    first use, dropped with the viewer)."""
    key = _unproxied(viewer)
    store = _STORES.get(key)
    if store is None:
        store = ModelStore()
        _STORES[key] = store
    return store
