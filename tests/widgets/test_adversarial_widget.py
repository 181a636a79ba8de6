"""The Adversarial widget in a real viewer, on a real ISBI crop with a briefly trained model."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion, save_model
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def isbi():
    image, classes = isbi_slice(0, crop=96)
    truth = np.where(classes == 2, 255, 0).astype(np.uint8)  # the ISBI 0/255 mask
    trainer = Trainer(
        [image],
        [truth],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None,
            max_steps=15,
            seed=0,
            batch_size=2,
            patch_size=(64, 64),
            validate_every_steps=15,
        ),
    )
    return image, run_to_completion(trainer.run()).model


@pytest.fixture
def widget(make_napari_viewer, dock_widget, isbi):
    viewer = make_napari_viewer()
    viewer.add_image(isbi[0], name="em")
    store_for(viewer).set(isbi[1])
    return viewer, dock_widget(viewer, "Adversarial attack")


def _wait(qtbot, job):
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=120_000)


def test_attack_adds_output_layers_with_centred_colormap(widget, qtbot):
    viewer, w = widget
    w.control("Attack").value = "pgd"
    w.control("eps").value = 8.0
    w.control("Steps").value = 3
    _wait(qtbot, w.run_attack())
    names = [lay.name for lay in viewer.layers]
    for role in ("perturbation", "adversarial", "adversarial prediction", "changed pixels"):
        assert f"em {role}" in names
    pert = viewer.layers["em perturbation"]
    lo, hi = pert.contrast_limits
    assert lo == -hi and hi == pytest.approx(np.abs(pert.data).max())
    assert pert.colormap.name == "PiYG"
    assert viewer.layers["em adversarial"].data.dtype == np.uint8
    assert "Dice clean" in w.status and "SNR" in w.status
    assert w.result.metrics.fraction_changed > 0
    # a re-run updates the plugin's layers instead of adding more
    _wait(qtbot, w.run_attack())
    assert len(viewer.layers) == 5


def test_curve_plotted_and_exported(widget, qtbot, tmp_path):
    _viewer, w = widget
    w.control("Attack").value = "fgsm"
    w.control("Curve levels").value = "2, 8"
    _wait(qtbot, w.run_curve())
    assert w.curve is not None and w.curve.levels == [0.0, 2 / 255, 8 / 255]
    assert len(w._plot.ax.lines) == 1
    csv = w.export_csv(tmp_path / "c.csv").read_text().splitlines()
    assert len(csv) == 4 and csv[0].startswith("perturbation,level,dice_vs_clean,")
    png = w.export_png(tmp_path / "c.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_stop_ends_the_run(widget, qtbot):
    viewer, w = widget
    viewer.add_image(np.stack([viewer.layers["em"].data] * 6), name="stack")
    w.control("Image").value = viewer.layers["stack"]
    w.control("Attack").value = "pgd"
    w.control("Steps").value = 50
    job = w.run_attack()
    qtbot.waitUntil(lambda: w.button("Stop").enabled, timeout=10_000)
    w.button("Stop").changed.emit(True)
    _wait(qtbot, job)
    assert w.result is not None and w.result.stopped
    assert not w.result.completed.all()
    assert w.button("Run attack").enabled


def test_errors_become_notifications(widget, qtbot, tmp_path, monkeypatch):
    viewer, w = widget
    shown = []
    monkeypatch.setattr("napari_unet.widgets._jobs.show_error", shown.append)
    w.control("Curve levels").value = "two"
    assert w.run_curve() is None
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    w.load_model_from(bad)
    store_for(viewer).set(None)
    assert w.run_attack() is None
    assert len(shown) == 3 and "Curve eps" in shown[0] and "No model" in shown[2]


def test_load_model_file_sets_current_model(widget, isbi, tmp_path):
    viewer, w = widget
    store_for(viewer).set(None)
    save_model(isbi[1], tmp_path / "m.pt")
    w.load_model_from(tmp_path / "m.pt")
    assert store_for(viewer).model is not None
    assert "U-Net" in w._model_info.value
    assert [c[1] if isinstance(c, tuple) else c for c in w.control("Target").choices][-1] == 2
