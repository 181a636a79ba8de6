"""Live preview during training: from the first seconds, the newest model the run sent
(a :class:`~napari_unet.core.ModelSnapshot` of the current weights every few seconds, or
the best model after a validation) predicts the slice in view into the plugin's
``<image> preview`` layer, in its own worker."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image
from qtpy.QtCore import QTimer

from napari_unet.core import PredictionConfig, StopFlag, predict
from napari_unet.core.io.sinks import label_dtype

from .._jobs import Job
from .._layers import current_index, find_output, layer_source, spatial_shape, write_output

PREVIEW_INTERVAL_MS = 3000
SNAPSHOT_SECONDS = 2.0  # the trainer sends its current weights this often while previewing


class LivePreview:
    """Predicts with the newest model offered (a copy received as an event, never the
    trainer's own network): :meth:`offer` it, and the preview follows at once if idle,
    else at the next tick; ticks also follow the slice in view."""

    def __init__(self, viewer: Any, parent_native: Any) -> None:
        self._viewer = viewer
        self.image: Image | None = None
        self._device = "auto"
        self._model: Any = None
        self._version = 0  # how many models were offered in this run
        self._key: tuple | None = None
        self._job: Job | None = None
        self.closed = False
        self._timer = QTimer(parent_native)
        self._timer.setInterval(PREVIEW_INTERVAL_MS)
        self._timer.timeout.connect(self.tick)

    def prepare(self, image: Image, num_classes: int = 2) -> None:
        """Make ``image``'s preview layer now if missing (empty, ``spatial_shape(image)``):
        a new layer costs napari its controls and shaders on the GUI thread (0.2-0.7 s),
        better before the run starts (no training thread to share the CPU and the GIL
        with) than in its middle."""
        if find_output(self._viewer, image, "preview") is None:
            write_output(
                self._viewer,
                image,
                "preview",
                np.zeros(spatial_shape(image), label_dtype(num_classes)),
            )

    def start(self, image: Image, device: str = "auto") -> None:
        """Preview ``image`` on ``device`` (the training run's) until :meth:`stop`."""
        self.image, self._key, self._device = image, None, device
        self._model, self._version = None, 0
        self._timer.start()

    def offer(self, model: Any) -> None:
        """A newer model of the run (a snapshot or the new best): preview with it."""
        self._model = model
        self._version += 1
        self.tick()

    def stop(self) -> None:
        """The run ended: no more ticks, and models offered later are not previewed."""
        self.image = None
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
        """Predict the slice in view if the model or the slice changed."""
        model, layer = self._model, self.image
        if (
            self.closed
            or model is None
            or layer is None
            or self._busy()
            or layer not in self._viewer.layers
        ):
            return
        index = current_index(self._viewer, layer, len(spatial_shape(layer)) - model.spatial_dims)
        key = (self._version, index)
        if key == self._key:
            return
        self._key = key
        image, rgb = layer_source(layer), bool(layer.rgb)  # lazy: only the slice is read
        config = PredictionConfig(device=self._device)

        def work(stop: StopFlag):
            own = model.copy()  # here, in the worker: predict() may move it to a device
            return (
                yield from predict(own, image, config=config, rgb=rgb, indices=[index], stop=stop)
            )

        def show(result: Any) -> None:
            if not self.closed and layer in self._viewer.layers:
                write_output(self._viewer, layer, "preview", result.labels, where=index)

        self._job = Job(work, what="Live preview", on_done=show, show_progress=False).start()
