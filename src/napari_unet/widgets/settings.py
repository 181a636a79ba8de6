"""Widget settings kept between sessions, in a small JSON file per widget.

Folder: ``$NAPARI_UNET_CONFIG_DIR`` if set (tests), else the user config folder from
``platformdirs`` (``~/.config/napari-unet`` on Linux).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CONFIG_ENV = "NAPARI_UNET_CONFIG_DIR"


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
    """Saved values of ``widget`` (empty when none or unreadable)."""
    try:
        data = json.loads(settings_path(widget).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(widget: str, values: dict[str, Any]) -> None:
    """Write ``values`` atomically; failures are ignored (settings are a convenience)."""
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
    """

    def __init__(self, name: str, widgets: dict[str, Any]) -> None:
        self.name = name
        self.widgets = widgets
        saved = load_settings(name)
        for key, widget in widgets.items():
            if key in saved:
                try:
                    widget.value = saved[key]
                except (ValueError, TypeError, KeyError):
                    pass  # a choice that no longer exists: keep the default
            widget.changed.connect(self.save)

    def values(self) -> dict[str, Any]:
        return {key: w.value for key, w in self.widgets.items()}

    def save(self, *_: Any) -> None:
        save_settings(self.name, self.values())
