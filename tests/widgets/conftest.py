"""Fixtures of the widget tests: real ISBI data (``../shared/data`` or the crops in
``tests/data``, see ``tests/conftest.py``), settings and sample caches in temporary folders,
small fast training settings, and widgets docked as users dock them.

Widgets are opened through napari's plugin machinery (:func:`dock_widget`), as the Plugins
menu opens them: napari finds napari-unet through its ``napari.manifest`` entry point
(the package is installed, editable in development) when ``make_napari_viewer`` starts
the plugins, and hands each widget a ``PublicOnlyProxy`` of the viewer, not the viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_unet.core.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice

# small patches and batches: a training step takes a fraction of a second on 2 cores
PLUGIN = "napari-unet"
PACKAGED_MANIFEST = Path(__file__).resolve().parents[2] / "src" / "napari_unet" / "napari.yaml"
FAST_TRAINING = {"batch_size": 2, "patch_size": (64, 64), "validate_every_steps": 10}
JOB_TIMEOUT_MS = 180_000


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_UNET_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NAPARI_UNET_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def isbi_crop() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 256x256 crop of ISBI slice 0: image uint8, true classes (1 membrane, 2 cell), strokes."""
    image, truth = isbi_slice(0, crop=256)
    strokes = simulate_strokes(truth, seed=0).astype(np.uint8)
    return image, truth, strokes


@pytest.fixture
def notifications():
    """Messages of the napari notifications shown during the test."""
    from napari.utils.notifications import notification_manager

    seen: list = []

    def record(event):
        notification = getattr(event, "notification", event)
        seen.append((str(getattr(notification, "severity", "")), str(notification.message)))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def fast_training() -> dict:
    """TrainingConfig overrides that keep a test's training to seconds."""
    return dict(FAST_TRAINING)


@pytest.fixture
def wait_for(qtbot):
    """``wait_for(job)``: process Qt events until a widget's job has finished."""

    def wait(job, timeout: int = JOB_TIMEOUT_MS) -> None:
        assert job is not None, "the widget refused to start the job"
        qtbot.waitUntil(lambda: job.done, timeout=timeout)

    return wait


@pytest.fixture(scope="session")
def tiny_isbi_model():
    """(image, model): the tiny preset trained for 10 steps on strokes of a real 256x256
    ISBI crop (a real, if weak, model: enough to fill result layers and tables)."""
    from napari_unet.core import PRESETS, Trainer, TrainingConfig, UNetConfig, run_to_completion

    image, truth = isbi_slice(0, crop=256)
    strokes = simulate_strokes(truth, seed=0).astype(np.uint8)
    trainer = Trainer([image], [strokes], model_config=UNetConfig(**PRESETS["tiny"]),
                      config=TrainingConfig(max_time=None, max_steps=10, seed=0, batch_size=2,
                                            patch_size=(64, 64)))
    return image, run_to_completion(trainer.run()).model


def ensure_plugin_registered() -> None:
    """Make sure napari's plugin manager knows this checkout's napari-unet manifest.

    napari discovers the installed plugin by its entry point; npe2's ``npe2pm`` fixture
    (a test plugin manager that refuses discovery) or an uninstalled checkout would not
    see it, so the manifest file is registered then, as npe2 recommends for tests.
    """
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance()
    here = PluginManifest.from_file(PACKAGED_MANIFEST)
    if PLUGIN not in pm:
        pm.register(here)
    registered = pm.get_manifest(PLUGIN)
    names = [w.display_name for w in registered.contributions.widgets]
    assert names == [w.display_name for w in here.contributions.widgets], (
        f"napari sees another napari-unet manifest than {PACKAGED_MANIFEST}: {names}")


def dock_plugin_widget(viewer: Any, name: str, tabify: bool = False) -> Any:
    """Open the widget ``name`` (its display name in napari.yaml) as the Plugins menu does:
    ``viewer.window.add_plugin_dock_widget`` (``tabify``: in a tab of the docks already
    there, as ``napari -w napari-unet`` does). Returns the widget, which napari built with
    a ``PublicOnlyProxy`` of the viewer; a widget already docked under that name is
    returned as it is (napari docks each plugin widget once per window)."""
    ensure_plugin_registered()
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=tabify)
    return widget


def undock(viewer: Any, widget: Any) -> None:
    """Close ``widget``'s dock as its close button does (the next open builds a new one)."""
    viewer.window.remove_dock_widget(widget.native)


@pytest.fixture
def dock_widget():
    """``dock_widget(viewer, "Train")``: the widget opened from the Plugins menu (see
    :func:`dock_plugin_widget`)."""
    return dock_plugin_widget
