"""Strokes painted on the training set's labels layers while a run goes, posted to the
trainer (:class:`napari_unet.core.training.live_labels.LiveLabels`) as they are painted.

Each napari ``paint`` event names the edited region (its undo atoms: a bounding box, or
the painted indices); only that region of the layer is copied and posted, once the
event loop is back (napari emits ``paint`` before it writes the pixels). Replacing a
layer's whole data (``layer.data = ...``) posts the whole layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Labels
from qtpy.QtCore import QTimer

from napari_unet.core.training.live_labels import LiveLabels

from .._layers import labels_array


def edited_regions(atoms: Any, ndim: int) -> list[tuple[slice, ...]]:
    """Bounding boxes of the undo atoms of a ``paint`` event: a mask atom's
    ``slice_key``, or the box around a ``(indices, old_values, new_value)`` atom's indices."""
    regions = []
    for atom in atoms or []:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            regions.append(tuple(key))
            continue
        indices = atom[0]
        if len(indices) != ndim or not all(np.size(i) for i in indices):
            continue
        regions.append(
            tuple(slice(int(np.min(i)), int(np.max(i)) + 1) for i in map(np.asarray, indices))
        )
    return regions


class LiveStrokes:
    """Follows painting on the labels layers of a run's training set (``layers[i]`` is
    the labels of training-set image ``i``) and posts each edit to ``live``."""

    def __init__(self, live: LiveLabels, layers: list[Labels]) -> None:
        self.live = live
        self._pending: list[tuple[int, Labels, tuple[slice, ...]]] = []
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._post_pending)
        self._connected: list[tuple[Any, Any]] = []
        for index, layer in enumerate(layers):
            for emitter, handler in (
                (layer.events.paint, self._on_paint(index, layer)),
                (layer.events.data, self._on_data(index, layer)),
            ):
                emitter.connect(handler)
                self._connected.append((emitter, handler))

    def _on_paint(self, index: int, layer: Labels) -> Any:
        def note(event: Any) -> None:
            ndim = labels_array_view(layer).ndim
            for region in edited_regions(getattr(event, "value", None), ndim):
                self._pending.append((index, layer, region))
            self._timer.start()

        return note

    def _post_pending(self) -> None:
        """Post the regions painted since the last call, as they are now."""
        pending, self._pending = self._pending, []
        for index, layer, region in pending:
            self.live.post(index, region, np.array(labels_array_view(layer)[region], copy=True))

    def _on_data(self, index: int, layer: Labels) -> Any:
        def post(_event: Any = None) -> None:
            data = labels_array_view(layer)
            self.live.post(index, (slice(None),) * data.ndim, labels_array(layer).copy())

        return post

    def close(self) -> None:
        """Stop following the layers."""
        for emitter, handler in self._connected:
            emitter.disconnect(handler)
        self._connected = []
        self._timer.stop()


def labels_array_view(layer: Labels) -> Any:
    """The layer's full-resolution labels, not read (NumPy as is, zarr lazy)."""
    return layer.data[0] if layer.multiscale else layer.data
