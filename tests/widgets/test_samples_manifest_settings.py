"""Sample data (offline), the npe2 manifest, quick labels and persisted settings."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_unet import sample_data
from napari_unet.core.data.classical import METHODS, quick_labels, threshold_max_entropy
from napari_unet.widgets._layers import find_output
from tests.conftest import require_shared_data

MANIFEST = Path(__file__).resolve().parents[2] / "napari.yaml"


def test_manifest_is_valid_and_complete():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    widgets = {w.display_name: w.command for w in manifest.contributions.widgets}
    assert {"Train", "Segment", "Adversarial attack", "Quick labels (classical)"} <= set(widgets)
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands["napari-unet.adversarial_widget"] == (  # imports off the GUI thread
        "napari_unet.widgets.dock:AdversarialDock"
    )
    for python_name in commands.values():
        module, attr = python_name.split(":")
        assert callable(getattr(importlib.import_module(module), attr))
    assert {s.key for s in manifest.contributions.sample_data} == {"synthetic", "isbi2012"}
    # The interpreter running the tests, not whatever `npe2` is on PATH (CI does not activate .venv).
    done = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-unet"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


def test_synthetic_sample_is_deterministic_and_trainable():
    first, second = sample_data.synthetic_sample(), sample_data.synthetic_sample()
    (image, meta, kind), (strokes, smeta, skind) = first
    assert kind == "image" and skind == "labels" and image.shape == strokes.shape == (256, 256)
    assert np.array_equal(image, second[0][0]) and np.array_equal(strokes, second[1][0])
    assert set(np.unique(strokes)) == {0, 1, 2}
    assert 0 < np.count_nonzero(strokes) < 0.02 * strokes.size


def test_isbi_sample_loads_offline_from_seeded_cache(make_napari_viewer, monkeypatch):
    isbi = require_shared_data("isbi2012")  # the sample's full 512x512 slices, SHA-256 checked
    sample_data.seed_isbi_cache(isbi)
    import pooch

    def no_network(*args, **kwargs):
        raise AssertionError("the sample tried to download although the cache is seeded")

    monkeypatch.setattr(pooch.core, "stream_download", no_network, raising=False)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "isbi2012")
    em, strokes = viewer.layers["ISBI 2012 EM"], viewer.layers["ISBI 2012 EM strokes"]
    assert em.data.shape == (5, 512, 512) and em.data.dtype == np.uint8
    assert strokes.data.shape == em.data.shape and set(np.unique(strokes.data[0])) == {0, 1, 2}
    viewer.open_sample("napari-unet", "synthetic")
    assert viewer.layers["synthetic nuclei strokes"].data.max() == 2


def test_corrupt_cached_sample_is_rejected(tmp_path, monkeypatch):
    target = sample_data.data_dir() / "isbi2012" / "label"
    target.mkdir(parents=True)
    (target / "0.png").write_bytes(b"not the ISBI file")
    monkeypatch.setattr(sample_data, "ISBI_BASE_URL", "http://127.0.0.1:9/")  # no network
    with pytest.raises(Exception):  # noqa: B017 - whatever pooch raises for a bad hash
        sample_data.isbi_fetcher().fetch("label/0.png")


@pytest.mark.parametrize("method", list(METHODS))
def test_classical_methods_give_classes(method):
    image, classes = sample_data.synthetic_image((96, 96), seed=3)
    labels = quick_labels(image, method, margin=1)
    assert labels.dtype == np.uint8 and labels.shape == image.shape
    assert set(np.unique(labels)) <= {0, 1, 2} and {1, 2} <= set(np.unique(labels))
    agree = (labels == classes)[labels > 0].mean()
    assert agree > 0.8, f"{method}: only {agree:.2f} of the labelled pixels are right"


def test_max_entropy_threshold_splits_two_populations():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(50, 5, 5000), rng.normal(200, 5, 5000)])
    assert 60 < threshold_max_entropy(values) < 190


def test_quick_labels_widget_writes_its_own_layer(
    make_napari_viewer, dock_widget, qtbot, isbi_crop, wait_for
):
    image, truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    painted = viewer.add_labels(strokes.copy(), name="strokes")
    widget = dock_widget(viewer, "Quick labels (classical)")
    widget.control("Method").value = "max_entropy"
    wait_for(widget.run())
    quick = find_output(viewer, em, "quick labels")
    assert quick.name == "em quick labels" and set(np.unique(quick.data)) <= {0, 1, 2}
    assert np.array_equal(painted.data, strokes)
    train = dock_widget(viewer, "Train")  # the quick labels are offered as training labels
    assert any(lay == quick for lay in train.control("Strokes").choices)  # it or a proxy of it


def test_settings_survive_a_new_session(make_napari_viewer, dock_widget):
    viewer = make_napari_viewer()
    train = dock_widget(viewer, "Train")
    train.control("Time budget").value = 33
    train.control("New model size").value = "tiny"
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "slice"
    segment.control("Uncertainty layer").value = True
    other = make_napari_viewer()
    train_again = dock_widget(other, "Train")
    assert (
        train_again.control("Time budget").value == 33
        and train_again.control("New model size").value == "tiny"
    )
    again = dock_widget(other, "Segment")
    assert (
        again.control("Segment").value == "slice"
        and again.control("Uncertainty layer").value is True
    )
