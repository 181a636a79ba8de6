"""Short tab titles for the docks napari puts the widgets in.

napari titles a plugin's dock ``"<display name> (<plugin name>)"`` (e.g. "Adversarial
attack (napari-unet)"). That stays the dock's name (its title bar, napari's
``viewer.window.dock_widgets`` key, its remembered position); but when docks are tabbed
the tab shows the dock's window title, and four such titles in a ~400 px dock area are
cut to "Train (n...". :class:`DockTabTitle` gives the dock a short window title instead.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QDockWidget


def enclosing_dock(widget: Any) -> QDockWidget | None:
    """The dock widget ``widget`` is in (directly or deeper), if any."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


class DockTabTitle(QObject):
    """Sets the window title (the tab text) of the dock holding ``widget`` to ``title``,
    now and whenever ``widget`` is moved into a dock (napari docks it after building it).

    Owned by ``widget`` (a Qt child), so it lives as long as the widget it watches.
    """

    def __init__(self, widget: Any, title: str) -> None:
        super().__init__(widget)
        self.title = title
        self._widget = widget
        widget.installEventFilter(self)
        self.apply()

    def apply(self) -> None:
        dock = enclosing_dock(self._widget)
        if dock is not None and dock.windowTitle() != self.title:
            dock.setWindowTitle(self.title)

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ParentChange:
            self.apply()
        return False
