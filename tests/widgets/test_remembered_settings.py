"""Remembered settings: the demo and the screenshots script never touch the user's settings;
a choice that describes one image is not carried into the next session; remembered
result-changing choices are shown as non-defaults with a reset; and quick labels leave the
background class clear, as the other class results do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_unet.widgets import settings as settings_module

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """The settings folder of the test (the fixture in conftest points the variable there)."""
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    monkeypatch.setattr(settings_module, "_session_only", False, raising=False)  # restored after
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _script(name: str):
    monkey_path = str(SCRIPTS)
    if monkey_path not in sys.path:
        sys.path.insert(0, monkey_path)
    return __import__(name)


def test_demo_set_up_leaves_the_users_config_dir_untouched(make_napari_viewer, config_dir):
    (config_dir / "train.json").write_text(json.dumps({"max_time": 300, "preset": "tiny"}))
    before = _snapshot(config_dir)
    viewer = make_napari_viewer()
    demo = _script("demo")
    train, segment = demo.dock_widgets(viewer, train_seconds=20)
    assert train.control("Time budget").value == 20 and train.control("Max steps").value == 0
    # the demo starts from the defaults, not the user's
    assert train.control("New model size").value != "tiny"
    segment.control(
        "Uncertainty layer"
    ).value = True  # what a user does in the demo is not saved either
    assert _snapshot(config_dir) == before


def test_screenshots_set_up_leaves_the_users_config_dir_untouched(make_napari_viewer, config_dir):
    (config_dir / "quick_labels.json").write_text(json.dumps({"method": "li"}))
    before = _snapshot(config_dir)
    viewer = make_napari_viewer()
    (train, _), _segment, (quick, _) = _script("make_screenshots").dock_widgets(viewer)
    assert quick.control("Method").value == "otsu"
    train.control("Time budget").value = 0
    quick.control("Method").value = "yen"
    assert _snapshot(config_dir) == before


def test_objects_are_darker_is_not_carried_into_the_next_session(make_napari_viewer, config_dir):
    viewer = make_napari_viewer()
    _dock, first = viewer.window.add_plugin_dock_widget("napari-unet", "Quick labels (classical)")
    first.control("Objects are darker than the background").value = True
    first.control("Smoothing").value = 2.0
    again = make_napari_viewer()
    _dock, second = again.window.add_plugin_dock_widget("napari-unet", "Quick labels (classical)")
    # "Objects are darker" describes the last image, not the next one
    assert second.control("Objects are darker than the background").value is False
    assert second.control("Smoothing").value == 2.0  # a method setting is remembered...


def test_remembered_result_changing_settings_are_shown_with_a_reset(make_napari_viewer, config_dir):
    (config_dir / "quick_labels.json").write_text(
        json.dumps({"smoothing": 3.0, "margin": 2, "invert": True})
    )
    viewer = make_napari_viewer()
    _dock, quick = viewer.window.add_plugin_dock_widget("napari-unet", "Quick labels (classical)")
    note = quick._remembered_note.value
    assert "Remembered from last session" in note and "Smoothing" in note and "3" in note
    assert "Leave unpainted band" not in note  # at its default: nothing to say
    assert not quick._remembered_row.native.isHidden()
    quick.button("Reset to defaults").changed.emit(True)
    assert quick.control("Smoothing").value == 1.0 and quick._remembered_row.native.isHidden()
    assert json.loads((config_dir / "quick_labels.json").read_text())["smoothing"] == 1.0


def test_remembered_non_defaults_in_folded_sections_are_shown(make_napari_viewer, config_dir):
    (config_dir / "train.json").write_text(json.dumps({"robust_eps": 4.0, "device": "cpu"}))
    (config_dir / "segment.json").write_text(json.dumps({"tta": True, "uncertainty": True}))
    viewer = make_napari_viewer()
    _dock, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    assert "Robust eps" in train._remembered_note.value  # hidden under More options
    assert "device" not in train._remembered_note.value.lower()  # no effect on results
    _dock, segment = viewer.window.add_plugin_dock_widget("napari-unet", "Segment")
    assert "Test-time augmentation" in segment._remembered_note.value
    assert "Uncertainty" not in segment._remembered_note.value
    train.control("Robust eps").value = 2.0  # chosen anew in this session: no longer a leftover
    assert train._remembered_row.native.isHidden()


def test_fresh_settings_show_no_remembered_note(make_napari_viewer, config_dir):
    viewer = make_napari_viewer()
    for name in ("Train", "Segment", "Quick labels (classical)", "Adversarial attack"):
        _dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
        assert widget._remembered_row.native.isHidden(), name


def test_quick_labels_leave_the_background_class_clear(make_napari_viewer, isbi_crop, wait_for):
    image, _truth, _strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    _dock, quick = viewer.window.add_plugin_dock_widget("napari-unet", "Quick labels (classical)")
    wait_for(quick.run())
    layer = viewer.layers["em quick labels"]
    assert {1, 2} <= set(np.unique(layer.data))
    alpha = layer.colormap.map(np.array([0, 1, 2]))[:, 3]
    assert alpha[0] == 0 and alpha[1] == 0  # unpainted and background: the image shows
    assert alpha[2] > 0
