"""Widgets opened as users open them: from the Plugins menu, through napari's plugin
machinery (``viewer.window.add_plugin_dock_widget``), not built by the test.

napari finds napari-unet through its ``napari.manifest`` entry point (the package is
installed, editable in development) when ``make_napari_viewer`` starts the plugins, and
hands each widget a ``PublicOnlyProxy`` of the viewer, not the viewer. The ``dock_widget``
fixture of ``tests/widgets/conftest.py`` is :func:`dock_plugin_widget`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLUGIN = "napari-unet"
PACKAGED_MANIFEST = Path(__file__).resolve().parents[1] / "src" / "napari_unet" / "napari.yaml"


def ensure_plugin_registered() -> None:
    """Make sure napari's plugin manager knows this checkout's napari-unet manifest.

    napari discovers the installed plugin by its ``napari.manifest`` entry point when
    ``make_napari_viewer`` starts the plugins. Under npe2's ``npe2pm`` fixture (a test
    plugin manager that refuses discovery) or from a checkout that is not installed it
    would not be found: the manifest file is then registered explicitly, which is what
    npe2's test plugin manager expects. Either way the manifest napari uses must be this
    checkout's.
    """
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance()
    here = PluginManifest.from_file(PACKAGED_MANIFEST)
    if PLUGIN not in pm:
        pm.register(here)
    registered = pm.get_manifest(PLUGIN)
    names = [w.display_name for w in registered.contributions.widgets]
    assert names == [w.display_name for w in here.contributions.widgets], (
        f"napari sees another napari-unet manifest than {PACKAGED_MANIFEST}: {names}"
    )


def dock_plugin_widget(viewer: Any, name: str, tabify: bool = False, reopen: bool = False) -> Any:
    """Open the widget ``name`` (its display name in napari.yaml) as the Plugins menu does:
    ``viewer.window.add_plugin_dock_widget`` (``tabify``: in a tab of the docks already
    there, as ``napari -w napari-unet`` does). Returns the widget, which napari built with
    a ``PublicOnlyProxy`` of the viewer. napari docks each plugin widget once per window:
    a widget already docked under that name is returned as it is, unless ``reopen``, which
    closes its dock first (as its close button does) so a new widget is built."""
    ensure_plugin_registered()
    if reopen:
        docked = viewer.window.dock_widgets.get(f"{name} ({PLUGIN})")
        if docked is not None:
            viewer.window.remove_dock_widget(docked.native)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=tabify)
    return widget
