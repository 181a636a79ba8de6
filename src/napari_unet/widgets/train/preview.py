"""Live preview during training: every few seconds, the best model so far predicts the
slice in view into the plugin's ``<image> preview`` layer, in its own worker."""

from __future__ import annotations

from typing import Any

from napari.layers import Image
from qtpy.QtCore import QTimer

from napari_unet.core import PredictionConfig, StopFlag, predict

from .._jobs import Job
from .._layers import current_index, image_array, spatial_shape, write_output
from .session import TrainSession

PREVIEW_INTERVAL_MS = 3000


class LivePreview:
    """Predicts with ``session.best`` (a snapshot received as an event, never the trainer)."""

    def __init__(self, viewer: Any, session: TrainSession, parent_native: Any) -> None:
        self._viewer = viewer
        self._session = session
        self.image: Image | None = None
        self._device = "auto"
        self._key: tuple | None = None
        self._job: Job | None = None
        self.closed = False
        self._timer = QTimer(parent_native)
        self._timer.setInterval(PREVIEW_INTERVAL_MS)
        self._timer.timeout.connect(self.tick)

    def start(self, image: Image, device: str = "auto") -> None:
        """Preview ``image`` on ``device`` (the training run's) until :meth:`stop`."""
        self.image, self._key, self._device = image, None, device
        self._timer.start()

    def stop(self) -> None:
        if not self.closed:
            self._timer.stop()

    def close(self) -> None:
        self.closed = True
        self._timer.stop()
        if self._job is not None:
            self._job.request_stop()

    def _busy(self) -> bool:
        return self._job is not None and not self._job.done

    def tick(self) -> None:
        """Predict the slice in view if the best model or the slice changed."""
        best, layer = self._session.best, self.image
        if (self.closed or best is None or layer is None or self._busy()
                or layer not in self._viewer.layers):
            return
        model = best.model
        index = current_index(self._viewer, layer, len(spatial_shape(layer)) - model.spatial_dims)
        key = (self._session.best_version, index)
        if key == self._key:
            return
        self._key = key
        model = model.copy()  # predict() may move it to a device; the store may share it
        image, rgb = image_array(layer), bool(layer.rgb)
        config = PredictionConfig(device=self._device)

        def work(stop: StopFlag):
            return (yield from predict(model, image, config=config, rgb=rgb, indices=[index],
                                       stop=stop))

        def show(result: Any) -> None:
            if not self.closed and layer in self._viewer.layers:
                write_output(self._viewer, layer, "preview", result.labels, where=index,
                             opacity=0.5)

        self._job = Job(work, what="Live preview", on_done=show, show_progress=False).start()
