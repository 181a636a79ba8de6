"""Widgets are driven by what the user reads: ``control(name)`` finds a setting by its
label or check-box text, ``button(name)`` a button by its text, ``status`` is the status
line; an unknown name is an error naming it, never another control."""

from __future__ import annotations

import pytest
from magicgui.widgets import CheckBox, ComboBox, PushButton


def test_controls_and_buttons_are_found_by_what_the_user_reads(make_napari_viewer, dock_widget):
    segment = dock_widget(make_napari_viewer(), "Segment")
    assert isinstance(segment.control("Separate objects"), CheckBox)  # "... (instances layer)"
    assert isinstance(segment.control("Segment"), ComboBox)  # the slice in view / whole stack
    assert isinstance(segment.button("Segment"), PushButton)
    assert segment.button("Load model file").text == "Load model file…"
    segment.control("Separate objects").value = True
    assert segment.control("Min. object size").enabled  # what the user sees follows
    assert segment.status == ""


def test_an_unknown_name_is_an_error_naming_it(make_napari_viewer, dock_widget):
    segment = dock_widget(make_napari_viewer(), "Segment")
    with pytest.raises(KeyError, match="'Separate'"):
        segment.control("Separate")  # a prefix is not a name
    with pytest.raises(KeyError, match="'Stop now'"):
        segment.button("Stop now")


def test_every_setting_of_train_attack_and_quick_labels_has_a_name_of_its_own(
    make_napari_viewer, dock_widget
):
    viewer = make_napari_viewer()
    train = dock_widget(viewer, "Train")
    for name in ("Image", "Strokes", "New model size", "Time budget", "Max steps", "Robust eps"):
        assert train.control(name) is not None
    assert train.control("Live preview of the slice in view").value in (True, False)
    assert "Start training" in train.status  # the hint before any run
    assert train.button("Start training").enabled and not train.button("Stop").enabled
    attack = dock_widget(viewer, "Adversarial attack")
    attack.control("Attack").value = "fgsm"
    assert attack.control("Steps").value == 1  # the attack's default steps follow it
    assert attack.control("eps").label == "eps (x 1/255)"
    assert attack.status == ""  # the results line, empty before a run
    quick = dock_widget(viewer, "Quick labels (classical)")
    assert quick.control("Smoothing").label == "Smoothing (px)"
    assert quick.button("Create quick labels").enabled
