"""Collapsible sections of a widget: a header button that folds a group of sub-widgets
away or opens it, so a long widget fits a small screen with its main controls in view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicgui.widgets import PushButton

OPEN, CLOSED = "▾", "▸"
HEADER_STYLE = "QPushButton { text-align: left; font-weight: bold; padding: 4px 2px; }"


class Section:
    """A titled group of magicgui widgets that the user opens or folds away.

    Put ``section.all`` (the header, then the widgets) into a container; hidden widgets
    take no room. The widgets stay in the container, so choices and settings keep working.
    """

    def __init__(
        self,
        title: str,
        widgets: Sequence[Any],
        *,
        expanded: bool = True,
        tooltip: str | None = None,
    ) -> None:
        self.title = title
        self.widgets = list(widgets)
        self.header = PushButton(text=title, tooltip=tooltip)
        self.header.native.setStyleSheet(HEADER_STYLE)
        self.header.changed.connect(lambda *_: self.set_expanded(not self.expanded))
        self.expanded = expanded
        self.set_expanded(expanded)

    @property
    def all(self) -> list[Any]:
        return [self.header, *self.widgets]

    def set_expanded(self, expanded: bool) -> None:
        """Show (True) or fold away (False) the section's widgets."""
        self.expanded = expanded
        self.header.text = f"{OPEN if expanded else CLOSED} {self.title}"
        for widget in self.widgets:
            widget.visible = expanded
