"""Widgets opened from the Plugins menu, as users open them: napari hands each one a
``PublicOnlyProxy`` of the viewer, and the plugin still recognises the layers it made
(a re-run updates them in place), never the copies a user made of them; tabbed, the four
docks show their full titles."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from napari.layers._layer_actions import _duplicate_layer
from napari.utils._proxies import PublicOnlyProxy
from qtpy.QtWidgets import QApplication, QTabBar

from napari_unet.widgets._layers import OWNER_KEY, find_output, is_owned, write_output
from napari_unet.widgets.model_store import store_for
from napari_unet.widgets.train import preview as preview_module

WIDGET_NAMES = ["Train", "Segment", "Quick labels (classical)", "Adversarial attack"]
TAB_TITLES = ["Train", "Segment", "Quick labels", "Attack"]


def _names_with(viewer, word: str) -> list[str]:
    return [lay.name for lay in viewer.layers if word in lay.name]


def _role_count(viewer, role: str) -> int:
    return sum(
        1
        for lay in viewer.layers
        if isinstance(lay.metadata.get(OWNER_KEY), dict)
        and lay.metadata[OWNER_KEY].get("role") == role
    )


def _duplicate(viewer, layer) -> object:
    """Layer > Duplicate Layer on ``layer``, as the layer list's context menu does it."""
    viewer.layers.selection.active = layer
    _duplicate_layer(viewer.layers)
    return viewer.layers[f"{layer.name} copy"]


@pytest.mark.parametrize("name", WIDGET_NAMES)
def test_widget_opened_from_the_plugins_menu_gets_napari_viewer_proxy(
    make_napari_viewer, dock_widget, name
):
    viewer = make_napari_viewer()
    widget = dock_widget(viewer, name)
    assert isinstance(widget._viewer, PublicOnlyProxy)
    assert widget._viewer.__wrapped__ is viewer


def test_an_output_written_through_the_proxy_is_owned_and_updated_in_place(make_napari_viewer):
    viewer = make_napari_viewer()
    proxy = PublicOnlyProxy(viewer)
    em = proxy.add_image(np.zeros((8, 8), np.uint8), name="em")
    first = write_output(proxy, em, "segmentation", np.ones((8, 8), np.uint8))
    again = write_output(
        PublicOnlyProxy(viewer), viewer.layers["em"], "segmentation", np.full((8, 8), 2, np.uint8)
    )
    assert is_owned(first) and is_owned(viewer.layers["em segmentation"])
    assert again.unique_id == first.unique_id and len(viewer.layers) == 2
    assert np.all(viewer.layers["em segmentation"].data == 2)


def test_a_duplicate_of_an_output_is_not_owned(make_napari_viewer):
    viewer = make_napari_viewer()
    proxy = PublicOnlyProxy(viewer)
    em = proxy.add_image(np.zeros((8, 8), np.uint8), name="em")
    seg = write_output(proxy, em, "segmentation", np.ones((8, 8), np.uint8))
    copy = _duplicate(viewer, viewer.layers[seg.name])
    assert copy.metadata[OWNER_KEY]["role"] == "segmentation"  # the tag is copied...
    assert not is_owned(copy) and not is_owned(PublicOnlyProxy(copy))  # ...ownership is not


def test_model_store_outlives_the_proxy_of_the_widget_that_made_it(
    make_napari_viewer, tiny_isbi_model
):
    """Each docked widget gets its own proxy of the viewer; closing the widget that first
    asked for the viewer's store must not lose the model for the others."""
    viewer = make_napari_viewer()
    first = PublicOnlyProxy(viewer)
    store_for(first).set(tiny_isbi_model[1])
    del first
    gc.collect()
    assert store_for(PublicOnlyProxy(viewer)).model is tiny_isbi_model[1]
    assert store_for(viewer) is store_for(PublicOnlyProxy(viewer))


def test_live_preview_run_through_docked_train_widget_leaves_one_preview_layer(
    make_napari_viewer, dock_widget, isbi_crop, fast_training, wait_for, monkeypatch
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    previews: list = []
    real_write = preview_module.write_output

    def counted_write(*args, **kwargs):
        previews.append(args[2])
        return real_write(*args, **kwargs)

    monkeypatch.setattr(preview_module, "write_output", counted_write)
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Live preview of the slice in view").value = True
    train.control("Time budget").value = 20
    train.control("Max steps").value = 0
    train.training_overrides = dict(fast_training)
    wait_for(train.start_training())
    assert len(previews) >= 2, "the run should have refreshed its preview several times"
    assert _names_with(viewer, "preview") == ["em preview"]
    assert find_output(viewer, em, "preview") is not None


def test_two_segment_runs_through_docked_widget_leave_one_layer_per_output(
    make_napari_viewer, dock_widget, tiny_isbi_model, wait_for
):
    image, model = tiny_isbi_model
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    segment.control("Uncertainty layer").value = True
    wait_for(segment.segment())
    first = find_output(viewer, em, "segmentation")
    wait_for(segment.segment())
    assert _role_count(viewer, "segmentation") == 1 and _role_count(viewer, "uncertainty") == 1
    assert sorted(lay.name for lay in viewer.layers) == ["em", "em segmentation", "em uncertainty"]
    assert find_output(viewer, em, "segmentation").unique_id == first.unique_id


def test_segment_never_writes_into_a_users_duplicate_of_its_output(
    make_napari_viewer, dock_widget, tiny_isbi_model, wait_for
):
    image, model = tiny_isbi_model
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    wait_for(segment.segment())
    seg = viewer.layers["em segmentation"]
    copy = _duplicate(viewer, seg)
    copy.data[:] = 5  # the user's edits of the copy
    seg.data[:] = 0  # the plugin's layer: overwritten by the next run
    wait_for(segment.segment())
    assert np.all(copy.data == 5)
    assert set(np.unique(seg.data)) <= {1, 2} and 0 not in seg.data
    assert [lay.name for lay in viewer.layers] == ["em", "em segmentation", "em segmentation copy"]


def _dock_tab_bar(viewer) -> QTabBar:
    """The tab bar of the tabbed docks (the one whose tabs are the plugin's)."""
    bars = [
        bar
        for bar in viewer.window._qt_window.findChildren(QTabBar)
        if bar.count() == len(TAB_TITLES)
    ]
    assert len(bars) == 1, [[b.tabText(i) for i in range(b.count())] for b in bars]
    return bars[0]


def _cut_tab_titles(bar: QTabBar) -> list[str]:
    """Titles of tabs narrower than their text: Qt draws them cut, ending in '...'."""
    metrics = bar.fontMetrics()
    return [
        bar.tabText(i)
        for i in range(bar.count())
        if bar.tabRect(i).width() <= metrics.horizontalAdvance(bar.tabText(i))
    ]


def test_four_tabbed_docks_show_short_full_titles_even_at_their_narrowest(
    make_napari_viewer, dock_widget
):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)  # a laptop screen
    widgets = [dock_widget(viewer, name, tabify=True) for name in WIDGET_NAMES]
    QApplication.processEvents()
    bar = _dock_tab_bar(viewer)
    assert [bar.tabText(i) for i in range(bar.count())] == TAB_TITLES
    assert _cut_tab_titles(bar) == []
    # the full tabs fit even in a dock area as narrow as the narrowest widget allows
    full_width = sum(bar.tabRect(i).width() for i in range(bar.count()))
    assert full_width <= min(w.native.parent().minimumSizeHint().width() for w in widgets)
    # napari's names stay: the title bar, the Window menu, viewer.window.dock_widgets
    assert {f"{name} (napari-unet)" for name in WIDGET_NAMES} <= set(viewer.window.dock_widgets)
