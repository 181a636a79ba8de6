"""The Train widget's retrain section: which labels layers to learn from, the time
budget of a retraining round and its button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import Label, PushButton, Select, SpinBox


class RetrainSection:
    """``learn_from`` offers the layers of ``choices()``; ``retrain`` starts a round."""

    def __init__(self, choices: Callable[[Any], list]) -> None:
        self.header = Label(value="<b>Retrain</b> after correcting the segmentation:")
        self.learn_from = Select(
            label="Learn from", choices=choices,
            tooltip="Label layers to learn from: your strokes and the corrected "
                    "'segmentation' layer. Where both have a value, your strokes win.")
        self.time = SpinBox(label="Retrain time (s)", min=1, max=3600, value=20)
        self.retrain = PushButton(text="Retrain current model")
        self.widgets = [self.header, self.learn_from, self.time, self.retrain]
        self._choices = choices

    def offered(self) -> list:
        return [lay for _n, lay in self._choices(None)]

    def select_all_if_empty(self) -> None:
        self.learn_from.reset_choices()
        if not self.learn_from.value:
            self.learn_from.value = self.offered()

    def add_if_offered(self, layer: Any) -> None:
        """A new labels layer counts by default when it is offered."""
        if any(layer is lay for lay in self.offered()):
            self.learn_from.value = [*self.learn_from.value, layer]
