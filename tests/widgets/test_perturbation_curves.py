"""The Adversarial widget's natural-perturbation curves and the Train widget's natural
perturbation strength, in a real viewer on a real ISBI crop with a briefly trained model."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_unet.core import Trainer
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.natural_augment import natural_augment
from napari_unet.widgets._layers import is_owned
from napari_unet.widgets.model_store import store_for


@pytest.fixture
def adversarial(make_napari_viewer, dock_widget, tiny_isbi_model):
    """A viewer with a 128x128 ISBI crop 'em', the tiny model, and the Adversarial widget."""
    image, model = tiny_isbi_model
    viewer = make_napari_viewer()
    viewer.add_image(np.ascontiguousarray(image[:128, :128]), name="em")
    store_for(viewer).set(model)
    widget = dock_widget(viewer, "Adversarial attack")
    widget.control("Device").value = "cpu"
    return viewer, widget


def test_noise_curve_is_one_at_zero_sigma_and_lower_at_strong_noise(adversarial, wait_for):
    _viewer, widget = adversarial
    widget.control("Curve of").value = "noise"
    assert widget.control("Curve levels").value.startswith("0")  # the kind's default levels
    widget.control("Curve levels").value = "0, 0.5"
    wait_for(widget.run_curve())
    assert widget.curve.perturbation == "noise" and widget.curve.levels == [0.0, 0.5]
    assert widget.curve.dice[0] == 1.0 > widget.curve.dice[1]
    assert "normalized" in widget._plot.ax.get_xlabel() and widget._plot.ax.lines


def test_noise_curve_shows_the_perturbed_image_and_its_prediction_as_plugin_layers(
    adversarial, wait_for
):
    viewer, widget = adversarial
    widget.control("Curve of").value = "noise"
    widget.control("Curve levels").value = "0, 0.5"
    wait_for(widget.run_curve())
    clean = viewer.layers["em"].data
    perturbed = viewer.layers["em perturbed"]
    prediction = viewer.layers["em perturbed prediction"]
    assert is_owned(perturbed) and is_owned(prediction)
    assert perturbed.data.shape == clean.shape and not np.allclose(perturbed.data, clean)
    np.testing.assert_array_equal(prediction.data, widget.curve.example_prediction)


def test_curve_csv_export_writes_one_row_per_level(adversarial, wait_for, tmp_path):
    _viewer, widget = adversarial
    widget.control("Curve of").value = "blur"
    widget.control("Curve levels").value = "0, 1, 3"
    wait_for(widget.run_curve())
    with open(widget.export_csv(tmp_path / "blur.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["perturbation"], float(r["level"])) for r in rows] == [
        ("blur", 0.0),
        ("blur", 1.0),
        ("blur", 3.0),
    ]
    assert [float(r["dice_vs_clean"]) for r in rows] == pytest.approx(widget.curve.dice)
    assert widget.export_png(tmp_path / "blur.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_curve_level_is_refused_before_any_job(adversarial, notifications):
    _viewer, widget = adversarial
    widget.control("Curve of").value = "scale"
    widget.control("Curve levels").value = "1, 0"
    assert widget.run_curve() is None
    assert any("Zoom factor 0" in message for _, message in notifications)


def test_eot_is_offered_with_its_samples_per_step(adversarial):
    _viewer, widget = adversarial
    assert "eot" in widget.control("Attack").choices
    widget.control("Attack").value = "eot"
    widget.control("EOT samples").value = 3
    assert widget.settings().make().samples == 3


def test_train_widget_natural_perturbations_reach_the_training_config_and_persist(
    make_napari_viewer, dock_widget, monkeypatch, isbi_crop, wait_for, fast_training
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image[:128, :128], name="em")
    viewer.add_labels(strokes[:128, :128].copy(), name="strokes")
    configs = []
    real = Trainer.__init__

    def spy(self, *args, **kwargs):
        configs.append(kwargs["config"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", spy)
    train = dock_widget(viewer, "Train")
    # the spin box's default trains as napari-unet train and TrainingConfig() do
    assert natural_augment(train.control("Natural perturbations").value) == AugmentConfig()
    assert train.control("Natural perturbations").max == 2.0
    train.control("Natural perturbations").value = 0.4
    train.control("Device").value = "cpu"
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 1
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training
    wait_for(train.start_training())
    assert [c.natural_perturbations for c in configs] == [0.4]
    assert configs[0].augment == natural_augment(0.4)
    assert dock_widget(make_napari_viewer(), "Train").control("Natural perturbations").value == 0.4
