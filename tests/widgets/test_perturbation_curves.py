"""The Adversarial widget's natural-perturbation curves and EOT, in a real viewer."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.widgets.adversarial_widget import AdversarialWidget
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def isbi():
    """A 96x96 ISBI crop and a small model trained 15 steps on it."""
    image, classes = isbi_slice(0, crop=96)
    trainer = Trainer([image], [classes], dense=True,
                      model_config=UNetConfig(depth=2, base_channels=8),
                      config=TrainingConfig(max_time=None, max_steps=15, seed=0, batch_size=2,
                                            patch_size=(64, 64), validate_every_steps=15))
    return image, run_to_completion(trainer.run()).model


@pytest.fixture
def widget(make_napari_viewer, isbi):
    viewer = make_napari_viewer()
    viewer.add_image(isbi[0], name="em")
    store_for(viewer).set(isbi[1])
    w = AdversarialWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w


def _wait(qtbot, job):
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=120_000)


def test_blur_curve_plots_shows_the_perturbed_image_and_exports(widget, qtbot, tmp_path):
    viewer, w = widget
    w._curve_kind.value = "blur"
    assert w._curve_eps.value.startswith("0")  # the kind's default levels
    w._curve_eps.value = "0, 2"
    _wait(qtbot, w.run_curve())
    assert w.curve.perturbation == "blur" and w.curve.levels == [0.0, 2.0]
    assert w.curve.dice[0] == 1.0 > w.curve.dice[1]
    assert len(w._plot.ax.lines) == 1 and "pixels" in w._plot.ax.get_xlabel()
    perturbed = viewer.layers["em perturbed (blur 2)"].data
    assert perturbed.shape == viewer.layers["em"].data.shape
    assert not np.array_equal(perturbed, viewer.layers["em"].data)
    assert viewer.layers["em perturbed prediction"].data.shape == perturbed.shape
    rows = list(csv.DictReader(open(w.export_csv(tmp_path / "c.csv"))))
    assert [r["perturbation"] for r in rows] == ["blur", "blur"]
    assert w.export_png(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_level_is_refused_before_any_job(widget, qtbot, notifications):
    _viewer, w = widget
    w._curve_kind.value = "scale"
    w._curve_eps.value = "1, 0"
    assert w.run_curve() is None
    assert any("Zoom factor 0" in message for _, message in notifications)


def test_eot_is_in_the_attack_list_and_runs_with_its_samples(widget, qtbot):
    viewer, w = widget
    assert "eot" in w._attack.choices
    w._attack.value = "eot"
    w._eps.value = 8.0
    w._steps.value = 2
    w._eot_samples.value = 2
    assert w.settings().make().samples == 2
    _wait(qtbot, w.run_attack())
    assert "eot" in w.result.attack and w.result.metrics.fraction_changed > 0
    assert "em adversarial" in [layer.name for layer in viewer.layers]
