"""After a retraining round: which of the previous and the new model is current, why
(both scored on the same held-out pixels), and buttons to take the other one or keep
this one. Hidden until a run continued a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import Container, Label, PushButton

from napari_unet.core import TrainedModel
from napari_unet.core.training.held_out import ModelComparison


def choice_text(comparison: ModelComparison, kept_new: bool) -> str:
    """Which model is current and why, in one or two sentences."""
    if kept_new:
        return f"The retrained model is current. {comparison.summary()}"
    return (
        "The previous model is kept: the retrained model validates worse beyond the "
        f"noise. {comparison.summary()}"
    )


class ModelChoice:
    """``widgets``: a message and two buttons, ``use_other`` (make the other model
    current) and ``keep`` (keep the current one; the other is dropped).
    ``on_use(model)`` is called with the model the user takes."""

    def __init__(self, on_use: Callable[[TrainedModel], None]) -> None:
        self.message = Label(value="")
        self.use_other = PushButton(text="Use the new model anyway")
        self.keep = PushButton(text="Keep previous")
        self.buttons = Container(
            widgets=[self.use_other, self.keep], layout="horizontal", labels=False
        )
        self.widgets = [self.message, self.buttons]
        self.current: TrainedModel | None = None
        self.other: TrainedModel | None = None
        self.comparison: ModelComparison | None = None
        self._on_use = on_use
        self.use_other.changed.connect(self.take_other)
        self.keep.changed.connect(self.clear)
        self.clear()

    @property
    def offered(self) -> bool:
        return self.other is not None

    @property
    def shown(self) -> bool:
        """The message and buttons are shown (in a widget that is on screen)."""
        return not self.buttons.native.isHidden()

    def offer(
        self,
        comparison: ModelComparison,
        current: TrainedModel,
        other: TrainedModel,
        kept_new: bool,
    ) -> None:
        """Show the choice: ``current`` is the model now in use, ``other`` the alternative."""
        self.current, self.other, self.comparison = current, other, comparison
        self.message.value = choice_text(comparison, kept_new)
        self.use_other.text = (
            "Go back to the previous model" if kept_new else "Use the new model anyway"
        )
        self.keep.text = "Keep the new model" if kept_new else "Keep previous"
        self._show(True)

    def take_other(self, *_: Any) -> None:
        """Make the other model current; the choice is made."""
        other = self.other
        self.clear()
        if other is not None:
            self._on_use(other)

    def clear(self, *_: Any) -> None:
        """No choice to offer (made, or moot once another model became current)."""
        self.current = self.other = None
        self._show(False)

    def _show(self, visible: bool) -> None:
        for widget in self.widgets:
            widget.visible = visible
