"""Export the current model as a bioimage.io package from a widget (in a thread worker).

The package's test tensors come from the image the widget trains on: a centred crop of the
slice in view, read lazily (only the crop is loaded, whatever the size of the layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image

from napari_unet.core import TrainedModel
from napari_unet.core.bioimageio_export import ExportOptions, crop_slices, export_bioimageio
from napari_unet.core.errors import UserInputError

from ._jobs import Job, notify_info
from ._layers import current_index, spatial_shape


def sample_from_layer(viewer: Any, layer: Image, model: TrainedModel) -> np.ndarray:
    """``(C, *spatial)`` centred crop of the slice in view of ``layer`` for the package."""
    data = layer.data[0] if layer.multiscale else layer.data
    shape = spatial_shape(layer)
    lead = len(shape) - model.spatial_dims
    if lead < 0:
        raise UserInputError(f"{layer.name} has {len(shape)} spatial axes; the model needs "
                             f"{model.spatial_dims}.")
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
                   "test input of this package is a crop of its slice in view.")

    def work(stop):  # a generator: Job runs it in a napari thread worker
        yield None
        return export_bioimageio(model, sample, path, options)

    def done(result: Path) -> None:
        notify_info(f"bioimage.io package written to {result}")

    return Job(work, what="Export for bioimage.io", total=1, on_done=done).start()
