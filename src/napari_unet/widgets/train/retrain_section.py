"""The Train widget's retrain section: which labels layers to learn from, the time
budget of a retraining round and its button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import CheckBox, Label, PushButton, Select, SpinBox

from .._layers import same_layer
from .learn_from import ticked_by_default


class RetrainSection:
    """``learn_from`` offers the layers of ``choices()``; ``retrain`` starts a round."""

    def __init__(self, choices: Callable[[Any], list]) -> None:
        self.header = Label(value="<b>Retrain</b> after correcting the segmentation:")
        self.learn_from = Select(
            label="Learn from",
            choices=choices,
            tooltip="Label layers to learn from: your strokes and the corrected "
            "'segmentation' layer (only the pixels you corrected count). Where "
            "both have a value, your strokes win.",
        )
        self.whole_layer = CheckBox(
            text="Use the whole segmentation layer",
            value=False,
            tooltip="Learn from every pixel of a ticked segmentation layer, not only the "
            "pixels you corrected (the model then also learns its own mistakes).",
        )
        self.time = SpinBox(label="Retrain time (s)", min=1, max=3600, value=20)
        self.retrain = PushButton(text="Retrain current model")
        self.widgets = [self.header, self.learn_from, self.whole_layer, self.time, self.retrain]
        self._choices = choices

    def offered(self) -> list:
        return [lay for _n, lay in self._choices(None)]

    def defaults(self) -> list:
        """The offered layers ticked by default: the user's and the segmentation."""
        return [lay for lay in self.offered() if ticked_by_default(lay)]

    def select_defaults_if_empty(self) -> None:
        self.learn_from.reset_choices()
        if not self.learn_from.value:
            self.learn_from.value = self.defaults()

    def add_if_default(self, layer: Any) -> None:
        """A new labels layer (from napari's event, maybe not the object the choices hold)
        is ticked when it would be ticked by default."""
        if any(same_layer(layer, lay) for lay in self.defaults()):
            self.learn_from.value = [*self.learn_from.value, layer]
