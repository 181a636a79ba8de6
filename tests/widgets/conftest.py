"""Fixtures of the widget tests: real ISBI data (``../shared/data`` or the crops in
``tests/data``, see ``tests/conftest.py``), settings and sample caches in temporary folders,
small fast training settings, and widgets docked as users dock them.

Widgets are opened through napari's plugin machinery, as the Plugins menu opens them
(:func:`dock_widget`, see ``tests/docking.py``): each gets a ``PublicOnlyProxy`` of the
viewer, as in real use.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice
from tests.docking import dock_plugin_widget

# small patches and batches: a training step takes a fraction of a second on 2 cores
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
    trainer = Trainer(
        [image],
        [strokes],
        model_config=UNetConfig(**PRESETS["tiny"]),
        config=TrainingConfig(
            max_time=None, max_steps=10, seed=0, batch_size=2, patch_size=(64, 64)
        ),
    )
    return image, run_to_completion(trainer.run()).model


@pytest.fixture
def dock_widget():
    """``dock_widget(viewer, "Train")``: the widget opened from the Plugins menu (see
    :func:`tests.docking.dock_plugin_widget`)."""
    return dock_plugin_widget
