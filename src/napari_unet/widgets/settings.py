"""Widget settings kept between sessions, in a small JSON file per widget.

Folder: ``$NAPARI_UNET_CONFIG_DIR`` if set (tests), else the user config folder from
``platformdirs`` (``~/.config/napari-unet`` on Linux).

What is remembered, and how a user sees it:

* choices that describe one particular image or labels layer (e.g. Quick labels' *objects
  are darker*) are not remembered at all: the next image may differ;
* remembered choices that change results (a method, a budget, a size) are shown when they
  differ from the defaults, as "Remembered from last session: ..." at the top of the
  widget, with *Reset to defaults* (:class:`PersistentValues`, :meth:`remembered_text`);
* conveniences (device, extra output layers) are remembered silently.

Scripts that open the widgets for a demo or screenshots call :func:`session_only_settings`
first: the widgets then start from the defaults and nothing is read from or written to the
user's settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CONFIG_ENV = "NAPARI_UNET_CONFIG_DIR"
_session_only = False  # True: settings live in memory only (demo, screenshots)


def session_only_settings(enabled: bool = True) -> None:
    """Stop (or, with ``False``, resume) reading and writing the user's settings files:
    widgets made afterwards start from their defaults and forget changes at exit. For
    scripts (the demo, the screenshots) that must leave the user's settings alone."""
    global _session_only
    _session_only = enabled


def settings_persist() -> bool:
    """Whether settings are read from and written to files (see :func:`session_only_settings`)."""
    return not _session_only


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_config_dir
    except ImportError:
        return Path.home() / ".config" / "napari-unet"
    return Path(user_config_dir("napari-unet", appauthor=False))


def settings_path(widget: str) -> Path:
    return config_dir() / f"{widget}.json"


def load_settings(widget: str) -> dict[str, Any]:
    """Saved values of ``widget`` (empty when none or unreadable, or session-only)."""
    if _session_only:
        return {}
    try:
        data = json.loads(settings_path(widget).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(widget: str, values: dict[str, Any]) -> None:
    """Write ``values`` atomically; failures are ignored (settings are a convenience).
    Nothing is written while settings are session-only."""
    if _session_only:
        return
    path = settings_path(widget)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(values, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


class PersistentValues:
    """Restores sub-widget values at start and saves them whenever one changes.

    ``widgets``: ``{key: magicgui value widget}`` whose ``.value`` is JSON-serializable.
    ``result_changing``: the keys whose value changes what the widget computes; those
    restored with a value other than the default are listed by :meth:`remembered_text`
    until the user changes them or presses reset. Choices tied to one image or layer
    should not be passed at all (they are not remembered).
    """

    def __init__(
        self, name: str, widgets: dict[str, Any], *, result_changing: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.widgets = widgets
        self.defaults = {key: w.value for key, w in widgets.items()}
        self.remembered: dict[str, Any] = {}
        self._listeners: list[Callable[[], None]] = []
        unknown = set(result_changing) - set(widgets)
        if unknown:
            raise ValueError(f"result_changing keys not among the widgets: {sorted(unknown)}")
        saved = load_settings(name)
        for key, widget in widgets.items():
            if key in saved:
                try:
                    widget.value = saved[key]
                except (ValueError, TypeError, KeyError):
                    pass  # a choice that no longer exists: keep the default
            widget.changed.connect(lambda *_, key=key: self._on_change(key))
        self.remembered = {
            key: widgets[key].value
            for key in result_changing
            if widgets[key].value != self.defaults[key]
        }

    def values(self) -> dict[str, Any]:
        return {key: w.value for key, w in self.widgets.items()}

    def save(self, *_: Any) -> None:
        save_settings(self.name, self.values())

    def on_remembered_changed(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever :attr:`remembered` may have changed."""
        self._listeners.append(callback)

    def reset(self) -> None:
        """Every value back to its default (saved as such)."""
        for key, widget in self.widgets.items():
            widget.value = self.defaults[key]
        self.remembered.clear()
        self.save()
        self._notify()

    def remembered_text(self) -> str:
        """``"Remembered from last session: <setting> <value> (default <value>); ..."``, or
        ``""`` when every result-changing value restored is at its default."""
        parts = [
            f"{describe_setting(self.widgets[key])} {describe_value(self.widgets[key], value)}"
            f" (default {describe_value(self.widgets[key], self.defaults[key])})"
            for key, value in self.remembered.items()
        ]
        return "Remembered from last session: " + "; ".join(parts) if parts else ""

    def _on_change(self, key: str) -> None:
        self.save()
        if key in self.remembered and self.widgets[key].value != self.remembered[key]:
            del self.remembered[key]  # the user chose anew: no longer a leftover
            self._notify()

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()


def describe_setting(widget: Any) -> str:
    """The name a user sees next to ``widget``: a check box's text, else its label."""
    text = getattr(widget, "text", None)
    return str(text if isinstance(text, str) and text else widget.label).rstrip(":")


def describe_value(widget: Any, value: Any) -> str:
    """``value`` as shown: on/off for check boxes, a choice's text for drop-down lists."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if hasattr(widget, "current_choice"):  # a drop-down list: the text shown for value
        native = widget.native
        for index in range(native.count()):
            if native.itemData(index) == value:
                return str(native.itemText(index))
    return f"{value:g}" if isinstance(value, float) else str(value)
