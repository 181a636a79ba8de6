"""Export the current model as a bioimage.io package from a widget (in a thread worker):
the Train widget's "Export for bioimage.io..." button, placed under its Save/Load buttons.

The package's test tensors come from the image the widget trains on: a centred crop of the
slice in view, read lazily (only the crop is loaded, whatever the size of the layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image

from napari_unet.core import TrainedModel
from napari_unet.core.errors import UserInputError
from napari_unet.core.model.bioimageio_export import ExportOptions, crop_slices, export_bioimageio

from ._jobs import Job, notify_error, notify_info
from ._layers import current_index, spatial_shape


def sample_from_layer(viewer: Any, layer: Image, model: TrainedModel) -> np.ndarray:
    """``(C, *spatial)`` centred crop of the slice in view of ``layer`` for the package."""
    data = layer.data[0] if layer.multiscale else layer.data
    shape = spatial_shape(layer)
    lead = len(shape) - model.spatial_dims
    if lead < 0:
        raise UserInputError(
            f"{layer.name} has {len(shape)} spatial axes; the model needs {model.spatial_dims}."
        )
    index = current_index(viewer, layer, lead)
    slices = index + crop_slices(shape[lead:], model)
    crop = np.asarray(data[slices + ((slice(None),) if layer.rgb else ())])
    return np.moveaxis(crop, -1, 0) if layer.rgb else crop[np.newaxis]


def export_job(viewer: Any, layer: Image, model: TrainedModel, path: str | Path) -> Job:
    """A started :class:`Job` writing the package for ``model`` to ``path``."""
    sample = sample_from_layer(viewer, layer, model)
    options = ExportOptions(
        name=f"napari-unet {Path(path).stem}"[:120],
        trained_on=f"Sparse strokes painted in napari-unet on the image `{layer.name}`; the "
        "test input of this package is a crop of its slice in view.",
    )

    def work(stop):  # a generator: Job runs it in a napari thread worker
        yield None
        return export_bioimageio(model, sample, path, options)

    def done(result: Path) -> None:
        notify_info(f"bioimage.io package written to {result}")

    return Job(work, what="Export for bioimage.io", total=1, on_done=done).start()


EXPORT_TOOLTIP = (
    "Write the current model as a bioimage.io model package (.zip) that "
    "napari, ilastik, deepImageJ, Fiji and bioimageio.core can run; its test "
    "image is a crop of the slice in view of the chosen image."
)


def add_export_button(widget: Any) -> Any:
    """An "Export for bioimage.io..." button on the line under ``widget._save`` (the Save
    model... button), connected to :func:`ask_export`."""
    from magicgui.widgets import PushButton
    from qtpy.QtWidgets import QSizePolicy, QVBoxLayout

    button = PushButton(text="Export for bioimage.io…", tooltip=EXPORT_TOOLTIP)
    # takes the width it is given: never makes the dock wider (1366x768 screens)
    button.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    row = widget._save.native.parentWidget()
    # a line of its own: the first enclosing vertical layout, not the Save/Load row
    while row.parentWidget() is not None and not isinstance(
        row.parentWidget().layout(), QVBoxLayout
    ):
        row = row.parentWidget()
    layout = row.parentWidget().layout()
    layout.insertWidget(layout.indexOf(row) + 1, button.native)
    button.changed.connect(lambda *_: ask_export(widget))
    return button


def ask_export(widget: Any) -> Job | None:
    """Ask where to write the package, then :func:`export_from_widget`."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(
        widget.native,
        "Export for bioimage.io",
        "unet_model.zip",
        "bioimage.io model package (*.zip)",
    )
    return export_from_widget(widget, path) if path else None


def export_from_widget(widget: Any, path: str | Path) -> Job | None:
    """Export ``widget``'s current model with its chosen image; problems become notifications."""
    try:
        model, layer = widget._store.model, widget._image.value
        if model is None:
            raise UserInputError("No model yet: train one (or load a file) first.")
        if not isinstance(layer, Image):
            raise UserInputError(
                "Pick the image the model was trained on: a crop of its slice "
                "in view becomes the package's test image."
            )
        return export_job(widget._viewer, layer, model, path)
    except (UserInputError, OSError) as err:
        notify_error(err, "Export for bioimage.io")
        return None
