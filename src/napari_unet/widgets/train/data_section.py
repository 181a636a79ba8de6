"""The Train widget's data section: the image, the strokes layer, the classes painted
(updated while painting), whether the labels are strokes or complete masks, and the
training set: the (image, strokes) pairs a run learns from when there are several."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import ComboBox, Container, Label, PushButton, Select
from napari.layers import Image, Labels
from qtpy.QtCore import QTimer

from napari_unet.core import UserInputError
from napari_unet.core.io.lazy_arrays import is_lazy

from .._layers import (
    BACKGROUND_CLASS,
    class_counts,
    colour_hex,
    image_layers,
    labels_array,
    labels_layers,
    layer_source,
    same_layer,
    spatial_shape,
)
from .._sections import Section

Pair = tuple[Image, Labels]
LIST_ROWS_HEIGHT = 64  # px: about three rows of the training-set list

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
        self.training_set = TrainingSet(viewer, self)
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


def image_layout(layer: Image) -> tuple[int, int]:
    """``(spatial dimensions, channels)`` of an image layer (RGB channels last)."""
    shape = spatial_shape(layer)
    channels = int(layer_source(layer).shape[-1]) if layer.rgb else 1
    return len(shape), channels


def painted(layer: Labels) -> bool:
    """The labels layer holds painted pixels (lazy layers count as painted)."""
    return is_lazy(layer_source(layer)) or bool(labels_array(layer).any())


def check_pair(pairs: list[Pair], image: Image, labels: Labels) -> None:
    """Refuse (UserInputError) a pair whose strokes are not shaped like its image, or
    whose image differs from those of ``pairs`` in spatial dimensions or channels."""
    if tuple(labels_array(labels).shape) != tuple(spatial_shape(image)):
        raise UserInputError(
            f"The labels '{labels.name}' are not shaped like the image '{image.name}': "
            "pick the strokes painted on that image."
        )
    if not pairs:
        return
    first = pairs[0][0]
    (dims, channels), (want_dims, want_channels) = image_layout(image), image_layout(first)
    if (dims, channels) != (want_dims, want_channels):
        raise UserInputError(
            f"'{image.name}' has {dims} axes and {channels} channel(s), but the training "
            f"set's images ('{first.name}') have {want_dims} axes and {want_channels} "
            "channel(s). A training set takes images of one kind: convert it (e.g. to "
            "one channel) or train a separate model."
        )


class TrainingSet:
    """The (image, strokes) pairs a run learns from: the image in view is added with
    "+ This image", every open image with painted strokes with "+ All painted", the
    selected entries removed with "Remove". Images may differ in size but not in their
    spatial dimensions or channels. Folds away under a header that counts the images."""

    def __init__(self, viewer: Any, data: DataSection) -> None:
        self._viewer, self._data = viewer, data
        self.pairs: list[Pair] = []
        self.add_current = PushButton(
            text="+ This image",
            tooltip="Add the image and strokes chosen above to the training set.",
        )
        self.add_painted = PushButton(
            text="+ All painted", tooltip="Add every open image whose labels layer holds strokes."
        )
        self.remove = PushButton(text="Remove", tooltip="Remove the selected entries.")
        self.buttons = Container(
            widgets=[self.add_current, self.add_painted, self.remove],
            layout="horizontal",
            labels=False,
        )
        self.buttons.margins = (0, 0, 0, 0)
        self.list = Select(
            choices=[],
            allow_multiple=True,
            tooltip="The images the next "
            "run learns from; empty: the image and strokes chosen above.",
        )
        self.list.native.setMaximumHeight(LIST_ROWS_HEIGHT)
        self.section = Section(
            "Training set",
            [self.buttons, self.list],
            expanded=False,
            tooltip="Learn from strokes on several images at once.",
        )
        self.add_current.changed.connect(lambda *_: self._guarded(self.add_in_view))
        self.add_painted.changed.connect(lambda *_: self._guarded(self.add_all_painted))
        self.remove.changed.connect(lambda *_: self.remove_selected())
        self._show()

    def training_pairs(self) -> list[Pair]:
        """The pairs the next run learns from: the training set, or the image and
        strokes chosen above when the set is empty (none when either is missing)."""
        self.prune()
        if self.pairs:
            return list(self.pairs)
        image, labels = self._data.image.value, self._data.labels.value
        return [] if image is None or labels is None else [(image, labels)]

    def add(self, image: Image, labels: Labels) -> None:
        """Add a pair (see :func:`check_pair`; a pair already there is not added twice)."""
        check_pair(self.pairs, image, labels)
        if any(same_layer(image, i) and same_layer(labels, lab) for i, lab in self.pairs):
            return
        self.pairs.append((image, labels))
        self._show()

    @staticmethod
    def check(pairs: list[Pair]) -> None:
        """Refuse (UserInputError) a set that :func:`check_pair` refuses a pair of."""
        for n, (image, labels) in enumerate(pairs):
            check_pair(pairs[:n], image, labels)

    def add_in_view(self) -> None:
        """Add the image and strokes chosen in the pickers."""
        image, labels = self._data.image.value, self._data.labels.value
        if image is None or labels is None:
            raise UserInputError("Choose an image and its strokes layer first.")
        self.add(image, labels)

    def add_all_painted(self) -> None:
        """Add every open image that has a labels layer of its shape with strokes (the
        first such layer not already paired with another image)."""
        taken = {lab.unique_id for _, lab in self.pairs}
        for _, image in image_layers(self._viewer):
            for _, labels in labels_layers(self._viewer, spatial_shape(image)):
                if labels.unique_id in taken or not painted(labels):
                    continue
                self.add(image, labels)
                taken.add(labels.unique_id)
                break

    def remove_selected(self) -> None:
        chosen = set(self.list.value)
        self.pairs = [p for i, p in enumerate(self.pairs) if i not in chosen]
        self._show()

    def prune(self) -> None:
        """Forget pairs whose image or labels layer left the viewer."""
        present = {lay.unique_id for lay in self._viewer.layers}
        kept = [p for p in self.pairs if p[0].unique_id in present and p[1].unique_id in present]
        if len(kept) != len(self.pairs):
            self.pairs = kept
            self._show()

    def _show(self) -> None:
        self.list.choices = [
            (f"{image.name} + {labels.name} ({'x'.join(map(str, spatial_shape(image)))})", i)
            for i, (image, labels) in enumerate(self.pairs)
        ]
        n = len(self.pairs)
        self.section.title = (
            f"Training set: {n} image{'s' if n != 1 else ''}"
            if n
            else ("Training set (several images)")
        )
        self.section.set_expanded(self.section.expanded)

    def _guarded(self, action: Any) -> None:
        from .._jobs import notify_error

        try:
            action()
        except UserInputError as err:
            notify_error(err, "Training set")
