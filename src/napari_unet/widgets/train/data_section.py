"""The Train widget's data section: the image, the strokes layer, the classes painted
(updated while painting) and whether the labels are strokes or complete masks."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import ComboBox, Label
from napari.layers import Labels
from qtpy.QtCore import QTimer

from napari_unet.core.io.lazy_arrays import is_lazy

from .._layers import (
    BACKGROUND_CLASS,
    class_counts,
    colour_hex,
    labels_array,
    labels_layers,
    layer_source,
    same_layer,
    spatial_shape,
)

CLASS_NAMES = {1: "background", 2: "object"}


def swatch(layer: Labels, value: int) -> str:
    """A square in the colour ``layer`` draws ``value`` in; hollow where it is transparent."""
    colour = colour_hex(layer, value)
    return "&#9633;" if colour is None else f"<span style='color:{colour}'>&#9632;</span>"


def classes_text(layer: Labels | None) -> str:
    """The "Classes painted" lines: per class its swatch (the colour of the strokes, which
    the segmentation and preview layers also use), value, name and pixel count."""
    if layer is None:
        return "no labels layer: add one (Labels button) and paint"
    if is_lazy(layer_source(layer)):  # counting would read the whole stack
        return "painted pixels are counted when training starts (labels stored on disk)"
    counts = class_counts(labels_array(layer))
    if not counts:
        return "nothing painted yet"
    lines = []
    for value, n in counts.items():
        note = ", clear in results" if value == BACKGROUND_CLASS else ""
        lines.append(
            f"{swatch(layer, value)} {value} {CLASS_NAMES.get(value, 'class')} ({n} px{note})"
        )
    return "<br>".join(lines)


class DataSection:
    """``image`` (the picker given), ``labels`` (the strokes), ``classes`` and ``label_kind``."""

    def __init__(self, viewer: Any, image: ComboBox, parent_native: Any) -> None:
        self._viewer = viewer
        self.image = image
        self.labels = ComboBox(
            label="Strokes",
            choices=self.labels_choices,
            tooltip="The Labels layer you painted: 1 = background, 2 = object, 3.. = more "
            "classes; 0 (unpainted) is ignored. Only layers shaped like the image.",
        )
        self.classes = Label(label="Classes painted", value="")
        self.label_kind = ComboBox(
            label="Labels are",
            choices=[
                ("strokes (0 = not painted)", "sparse"),
                ("complete masks (every pixel)", "dense"),
            ],
            value="sparse",
            tooltip="Strokes: only painted pixels teach the model. Complete "
            "masks: every value, including 0, is a class.",
        )
        self.widgets = [self.image, self.labels, self.classes, self.label_kind]
        self.closed = False
        self._watched: Labels | None = None
        self._timer = QTimer(parent_native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.update_classes)
        self.labels.changed.connect(self.watch_labels)

    def labels_choices(self, _w: Any = None) -> list:
        """Labels layers shaped like the chosen image."""
        image = self.image.value if hasattr(self, "image") else None
        if image is None:
            return []
        return labels_layers(self._viewer, spatial_shape(image))

    def watch_labels(self, *_: Any) -> None:
        """Follow painting in the chosen strokes layer to keep the class counts current."""
        layer = self.labels.value
        changed = not same_layer(self._watched, layer)  # it or napari's proxy of it
        if self._watched is not None and changed:
            for ev in (self._watched.events.paint, self._watched.events.data):
                ev.disconnect(self._schedule)
        if layer is not None and changed:
            layer.events.paint.connect(self._schedule)
            layer.events.data.connect(self._schedule)
        self._watched = layer
        self.update_classes()

    def _schedule(self, *_: Any) -> None:
        if not self.closed:
            self._timer.start()

    def update_classes(self) -> None:
        if not self.closed:
            self.classes.value = classes_text(self.labels.value)
