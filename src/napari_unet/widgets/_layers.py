"""Layer helpers shared by the widgets: picking layers, reading data, plugin-owned outputs.

Layers the plugin creates carry ``layer.metadata["napari_unet"] = {"role", "source"}``
(``source`` = the unique id of the image they belong to; a segmentation also keeps
``"prediction"``, the labels as written, to tell the user's corrections apart). That tag
says where a layer came from, and napari's Duplicate Layer copies it. Which layers the
plugin may write into is decided by the layer's ``unique_id`` instead: the layers it
created in this session (:func:`is_owned`). A re-run updates the plugin's own layer in
place; a user's layer, tagged copy or not, is never written (a duplicate is a new layer
with a new ``unique_id``), and a new output whose name is taken gets a new name.

Never compare layers by Python identity (``is``, ``id()``, weak references): a widget
opened from the Plugins menu gets a ``PublicOnlyProxy`` of the viewer, and a layer it gets
back from it (``viewer.add_labels(...)``, ``viewer.layers[name]``, the selection) is a new
proxy object each time, while iterating ``viewer.layers`` and napari's events give the
layers themselves. :func:`same_layer` compares by ``unique_id``, which both share.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer
from napari.utils.colormaps import DirectLabelColormap, label_colormap

OWNER_KEY = "napari_unet"
# plugin outputs offered as training labels (meant to be corrected and trained on);
# the others (preview, instances, adversarial prediction, changed pixels...) never are
TRAINING_ROLES = {"segmentation", "quick labels"}
# outputs whose written labels are kept, so only the user's corrections count
REFERENCE_ROLES = {"segmentation"}
_OWNED: set[Hashable] = set()  # unique_id of each layer made here (never a layer object)


# ------------------------------------------------------------------ reading layers
def image_array(layer: Image) -> np.ndarray:
    """The full-resolution data of an image layer as a numpy array (channels kept)."""
    data = layer.data[0] if layer.multiscale else layer.data
    return np.asarray(data)


def layer_source(layer: Layer) -> Any:
    """The full-resolution data of an image or labels layer, never loaded: a NumPy array
    as it is, lazy (zarr, dask) data left lazy for the core to read region by region."""
    return layer.data[0] if layer.multiscale else layer.data


def labels_snapshot(layer: Labels) -> Any:
    """Labels to train on while painting goes on: a private copy of NumPy data; lazy
    (zarr-backed) data as it is, since a copy would load the whole stack."""
    data = layer_source(layer)
    return np.array(data, copy=True) if isinstance(data, np.ndarray) else data


def spatial_shape(layer: Image) -> tuple[int, ...]:
    """Shape of the image without its RGB channel axis: the shape labels must have."""
    data = layer.data[0] if layer.multiscale else layer.data
    shape = tuple(data.shape)
    return shape[:-1] if layer.rgb else shape


def labels_array(layer: Labels) -> np.ndarray:
    data = layer.data[0] if layer.multiscale else layer.data
    return np.asarray(data)


def image_layers(viewer: Any) -> list[tuple[str, Image]]:
    return [
        (lay.name, lay)
        for lay in viewer.layers
        if isinstance(lay, Image) and not is_plugin_layer(lay)
    ]


def labels_layers(
    viewer: Any, shape: tuple[int, ...] | None = None, include_outputs: bool = False
) -> list[tuple[str, Labels]]:
    """Labels layers (optionally only those shaped ``shape``), user layers first."""
    out = []
    for lay in viewer.layers:
        if not isinstance(lay, Labels):
            continue
        if shape is not None and tuple(labels_array_shape(lay)) != tuple(shape):
            continue
        if not include_outputs and role_of(lay) not in (None, *TRAINING_ROLES):
            continue
        out.append((lay.name, lay))
    return out


def labels_array_shape(layer: Labels) -> tuple[int, ...]:
    data = layer.data[0] if layer.multiscale else layer.data
    return tuple(data.shape)


def class_counts(labels: np.ndarray) -> dict[int, int]:
    """``{value: pixel count}`` of the non-zero values of ``labels``."""
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if v != 0}


def colour_hex(layer: Labels, value: int) -> str | None:
    """The napari display colour of label ``value`` as ``#rrggbb``; None where it is
    drawn transparent (the background class of a result layer)."""
    try:
        rgba = np.asarray(layer.get_color(value), dtype=float).ravel()
    except Exception:  # noqa: BLE001 - colour is cosmetic, never fail on it
        return "#888888"
    if rgba.size < 3:
        return "#888888"
    if rgba.size > 3 and rgba[3] == 0:
        return None
    r, g, b = (int(round(255 * c)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


# ------------------------------------------------------------------ result colours
BACKGROUND_CLASS = 1
TRANSPARENT = (0.0, 0.0, 0.0, 0.0)
_COLOURED_VALUES = 256  # explicit colours for 0..255; larger values share one
NAPARI_DEFAULT_LABEL_CYCLE = (49, 0.5)  # colours and seed of a new napari Labels layer


# class-valued results: background class clear, other classes in their strokes' colours
CLASS_COLOURED_ROLES = {
    "segmentation",
    "preview",
    "adversarial prediction",
    "perturbed prediction",
    "quick labels",
}


def output_style(role: str) -> dict[str, Any]:
    """Display settings a new plugin layer of ``role`` gets (the caller's override them)."""
    if role in CLASS_COLOURED_ROLES:
        return {"colormap": class_colormap(), "opacity": 0.7}
    return {}


def class_colormap() -> DirectLabelColormap:
    """Colours of the class values in result layers (:data:`CLASS_COLOURED_ROLES`).

    0 (no class) and 1 (background) are transparent, so the image stays visible under
    the segmentation while its values stay 1..K (a corrected segmentation still trains).
    Every other value has the colour napari gives it in a new Labels layer, i.e. the
    colour the same class has in the user's strokes: class 2 is cyan in both.
    """
    cycle = label_colormap(*NAPARI_DEFAULT_LABEL_CYCLE, background_value=0)
    values = np.arange(_COLOURED_VALUES)
    colours = cycle.map(values)
    colour_dict: dict[int | None, Any] = {int(v): tuple(c) for v, c in zip(values, colours)}
    colour_dict[0] = colour_dict[BACKGROUND_CLASS] = TRANSPARENT
    colour_dict[None] = tuple(cycle.map(np.array([_COLOURED_VALUES]))[0])
    return DirectLabelColormap(color_dict=colour_dict, name="napari-unet classes")


def current_index(viewer: Any, layer: Layer, lead_dims: int) -> tuple[int, ...]:
    """Index of the slice in view along the first ``lead_dims`` data axes of ``layer``."""
    if lead_dims <= 0:
        return ()
    pos = np.asarray(layer.world_to_data(viewer.dims.point))
    shape = spatial_shape(layer) if isinstance(layer, Image) else labels_array_shape(layer)
    return tuple(int(np.clip(round(float(p)), 0, n - 1)) for p, n in zip(pos[:lead_dims], shape))


# ------------------------------------------------------------------ plugin-owned outputs
def is_plugin_layer(layer: Layer) -> bool:
    """The layer came from the plugin (or is a copy of such a layer): it has the tag."""
    return isinstance(layer.metadata.get(OWNER_KEY), dict)


def is_owned(layer: Layer) -> bool:
    """The plugin created this very layer in this session (copies are not owned).

    ``layer`` may be the layer or napari's ``PublicOnlyProxy`` of it: ownership is
    recorded by ``unique_id``, which a proxy shows and Duplicate Layer does not copy."""
    return layer.unique_id in _OWNED


def same_layer(a: Layer | None, b: Layer | None) -> bool:
    """``a`` and ``b`` are the same napari layer, each the layer or a proxy of it."""
    return a is not None and b is not None and a.unique_id == b.unique_id


def role_of(layer: Layer) -> str | None:
    tag = layer.metadata.get(OWNER_KEY)
    return tag.get("role") if isinstance(tag, dict) else None


def written_prediction(layer: Layer) -> Any | None:
    """The labels the plugin wrote into ``layer`` (or into the layer it was copied from),
    an array shaped like its data; None if there is no record (e.g. an older session)."""
    tag = layer.metadata.get(OWNER_KEY)
    return tag.get("prediction") if isinstance(tag, dict) else None


def source_id(image: Layer) -> str:
    return str(image.unique_id)


def find_output(viewer: Any, image: Layer, role: str) -> Layer | None:
    """The plugin-owned layer of ``role`` made for ``image``, if it still exists."""
    for lay in viewer.layers:
        tag = lay.metadata.get(OWNER_KEY)
        if (
            is_owned(lay)
            and isinstance(tag, dict)
            and tag.get("role") == role
            and tag.get("source") == source_id(image)
        ):
            return lay
    return None


def _tag(image: Layer, role: str, prediction: Any | None) -> dict[str, Any]:
    tag: dict[str, Any] = {"role": role, "source": source_id(image)}
    if prediction is not None:
        tag["prediction"] = prediction
    return tag


def _retag(layer: Layer, image: Layer, role: str, prediction: Any | None) -> None:
    """Set the tag as a new dict: a duplicate may share the old one and keeps it."""
    layer.metadata = {**layer.metadata, OWNER_KEY: _tag(image, role, prediction)}


def _new_prediction(layer: Layer | None, data: np.ndarray, where: Any) -> np.ndarray | None:
    """The labels as written after this write: the previous record outside ``where``.

    None for lazy (zarr/dask) data: a copy would load the whole stack into memory; such a
    layer is learned from only with "use the whole segmentation layer"."""
    if not isinstance(data, np.ndarray):
        return None
    old = written_prediction(layer) if layer is not None else None
    if where is None or old is None or old.shape != data.shape:
        return np.array(data, copy=True)
    new = np.array(old, copy=True)
    new[where] = data[where]
    return new


def write_output(
    viewer: Any,
    image: Image,
    role: str,
    data: np.ndarray,
    *,
    kind: str = "labels",
    where: np.ndarray | tuple | None = None,
    extra_leading: int = 0,
    **kwargs: Any,
) -> Layer:
    """Create or update the plugin-owned ``<image> <role>`` layer.

    data: the full output array. ``where`` (a boolean mask over the leading axes, or an
    index tuple) limits the update of an existing layer to those slices, keeping the
    rest (e.g. slices done before a stop). ``extra_leading``: axes in front of the
    image's axes (e.g. the class axis of probabilities) get scale 1, translate 0.
    Scale and translate follow the image layer. Only a layer this session created is
    updated (:func:`is_owned`); otherwise a new layer is added, renamed by napari if a
    user's layer has the name.
    """
    layer = find_output(viewer, image, role)
    scale = (1.0,) * extra_leading + tuple(image.scale)
    translate = (0.0,) * extra_leading + tuple(image.translate)
    lead = (slice(None),) * extra_leading
    index = None if where is None else lead + (where if isinstance(where, tuple) else (where,))
    prediction = _new_prediction(layer, data, index) if role in REFERENCE_ROLES else None
    if layer is not None and layer.data.shape == data.shape and layer.data.dtype == data.dtype:
        if index is None:
            layer.data[...] = data
        else:
            layer.data[index] = data[index]
        layer.scale, layer.translate = scale, translate
        _retag(layer, image, role, prediction)
        layer.refresh()
        return layer
    if layer is not None:
        layer.data = data
        layer.scale, layer.translate = scale, translate
        _retag(layer, image, role, prediction)
        return layer
    add = viewer.add_labels if kind == "labels" else viewer.add_image
    layer = add(
        data,
        name=f"{image.name} {role}",
        scale=scale,
        translate=translate,
        metadata={OWNER_KEY: _tag(image, role, prediction)},
        **{**output_style(role), **kwargs},
    )
    _OWNED.add(layer.unique_id)
    return layer


def layer_voxel_size(layer: Any) -> tuple[float, ...] | None:
    """The voxel size of an image layer's spatial axes (its ``scale``, the last three
    values at most); None without a layer or when every axis has the same size."""
    if layer is None:
        return None
    scale = tuple(float(s) for s in layer.scale[-3:])
    return None if len(set(scale)) <= 1 else scale
