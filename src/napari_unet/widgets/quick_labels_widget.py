"""Quick labels: seed a Labels layer with a classical method (thresholds, edges,
watershed), to correct with the brush and train on. Writes its own layer
``<image> quick labels``; never touches the user's strokes."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, PushButton, SpinBox

from napari_unet.core import StopFlag, UserInputError
from napari_unet.core.data.classical import METHODS, quick_labels

from ._base import ViewerWidget
from ._jobs import Job, notify_error, notify_info
from ._layers import image_array, spatial_shape, write_output
from ._session import JobState


class QuickLabelsWidget(ViewerWidget):
    """Make class labels (1 = background, 2 = object) with a classical method."""

    TAB_TITLE = "Quick labels"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self._image = self._image_picker()
        self._method = ComboBox(
            label="Method", choices=[(v, k) for k, v in METHODS.items()], value="otsu"
        )
        self._invert = CheckBox(text="Objects are darker than the background", value=False)
        self._smoothing = FloatSpinBox(
            label="Smoothing (px)",
            min=0.0,
            max=20.0,
            step=0.5,
            value=1.0,
            tooltip="Gaussian blur before thresholding.",
        )
        self._margin = SpinBox(
            label="Leave unpainted band (px)",
            min=0,
            max=20,
            value=2,
            tooltip="Pixels this close to a boundary stay 0 (unpainted), so "
            "training learns only from confident pixels.",
        )
        self._run = PushButton(text="Create quick labels")
        self._status = Label(value="The result is a new Labels layer to correct and train on.")
        self.extend(
            [
                self._image,
                self._method,
                self._invert,
                self._smoothing,
                self._margin,
                self._run,
                self._status,
            ]
        )
        self._run.changed.connect(lambda *_: self.run())
        # "objects are darker" describes one image: never carried into the next session
        self._remember(
            "quick_labels",
            {"method": self._method, "smoothing": self._smoothing, "margin": self._margin},
            result_changing=("method", "smoothing", "margin"),
        )
        self._finish_setup()

    def run(self) -> Job | None:
        image_layer = self._image.value
        try:
            if self.running:
                raise UserInputError("Quick labels are already being computed.")
            if image_layer is None:
                raise UserInputError("Open an image first.")
            if image_layer.rgb:
                raise UserInputError(
                    "Quick labels work on one-channel images; split the RGB "
                    "channels first (right-click the layer > Split RGB)."
                )
        except ValueError as err:
            notify_error(err, "Quick labels")
            return None
        image = image_array(image_layer)
        method, invert = self._method.value, self._invert.value
        smoothing, margin = self._smoothing.value, self._margin.value

        def work(stop: StopFlag):
            yield None
            return quick_labels(image, method, invert=invert, smoothing=smoothing, margin=margin)

        def show(labels: Any) -> None:
            if self._closed or image_layer not in self._viewer.layers:
                return
            assert labels.shape == spatial_shape(image_layer)
            write_output(self._viewer, image_layer, "quick labels", labels)
            message = f"Quick labels ({METHODS[method]}) ready: correct them, then train."
            self._status.value = message
            notify_info(message)

        return self._start_job(work, what="Quick labels", layers=[image_layer], on_done=show)

    def _on_state(self, state: JobState) -> None:
        self._run.enabled = not state.active
        if state is JobState.FAILED:
            self._status.value = f"Failed: {self.session.error}"
