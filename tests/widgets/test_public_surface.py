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
