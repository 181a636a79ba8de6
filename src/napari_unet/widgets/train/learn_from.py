"""Which labels layers Retrain learns from, and how each counts (see
:mod:`napari_unet.core.data.label_sources`): the user's layers are strokes; a segmentation
the plugin wrote counts only where the user corrected it, unless "use the whole layer"
is ticked; quick labels are offered but never ticked by default; other plugin outputs
(preview, instances, adversarial prediction, changed pixels) are not offered."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels

from napari_unet.core import UserInputError
from napari_unet.core.data.label_sources import LabelSource, SourceKind, merge_label_sources

from .._layers import role_of, written_prediction

TICKED_ROLES = {None, "segmentation"}  # the user's own layers and the segmentation


def ticked_by_default(layer: Labels) -> bool:
    return role_of(layer) in TICKED_ROLES


def label_source(layer: Labels, whole_layer: bool = False) -> LabelSource:
    """How ``layer`` counts as training labels (its data is not read here)."""
    data = layer.data[0] if layer.multiscale else layer.data
    role = role_of(layer)
    if role is None:
        return LabelSource(layer.name, data, SourceKind.STROKES)
    if role != "segmentation" or whole_layer:
        return LabelSource(layer.name, data, SourceKind.SEED)
    reference = written_prediction(layer)
    if reference is None:
        raise UserInputError(
            f"There is no record of the segmentation written into "
            f"'{layer.name}' (made in another session?), so its corrections "
            "cannot be told apart: tick 'use the whole layer' to learn from "
            "all its pixels, or untick it."
        )
    return LabelSource(layer.name, data, SourceKind.CORRECTIONS, reference)


def merge_training_labels(layers: list[Labels], whole_layers: bool = False) -> np.ndarray:
    """One training array from ``layers``: strokes win over corrections, which win over
    whole layers; a segmentation counts only where corrected unless ``whole_layers``."""
    return merge_label_sources([label_source(lay, whole_layers) for lay in layers])
