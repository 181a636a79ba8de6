"""Every widget, docked in napari, fits a 1366x768 laptop screen and stays whole:
tall widgets scroll instead of making the window taller, and nothing is cut sideways."""

from __future__ import annotations

from qtpy.QtCore import QPoint
from qtpy.QtWidgets import QScrollArea

SCREEN = (1366, 768)
WIDGETS = ["Train", "Segment", "Quick labels (classical)", "Adversarial attack"]


def _dock_all(make_napari_viewer, dock_widget, qtbot, isbi_crop):
    """A viewer at 1366x768 with an image, strokes and all four widgets docked as tabs from
    the Plugins menu; returns the viewer and ``{widget name: (widget, dock)}``."""
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer(show=True)
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    docks = {}
    for name in WIDGETS:
        widget = dock_widget(viewer, name, tabify=True)
        docks[name] = (widget, widget.native.parent())
    viewer.window._qt_window.resize(*SCREEN)
    qtbot.wait(200)
    return viewer, docks


def test_window_with_all_widgets_docked_fits_a_1366x768_screen(
    make_napari_viewer, dock_widget, qtbot, isbi_crop
):
    viewer, _docks = _dock_all(make_napari_viewer, dock_widget, qtbot, isbi_crop)
    window = viewer.window._qt_window
    hint = window.minimumSizeHint()
    assert hint.height() <= SCREEN[1] and hint.width() <= SCREEN[0]
    assert (window.width(), window.height()) == SCREEN


def test_each_widget_is_docked_in_a_scroll_area_and_is_not_cut_sideways(
    make_napari_viewer, dock_widget, qtbot, isbi_crop
):
    viewer, docks = _dock_all(make_napari_viewer, dock_widget, qtbot, isbi_crop)
    for name, (_widget, dock) in docks.items():
        dock.raise_()
        qtbot.wait(100)
        area = dock.widget()
        assert isinstance(area, QScrollArea), name
        content = area.widget()
        assert area.viewport().width() >= content.minimumSizeHint().width(), name
        # everything the widget holds is reachable: in the viewport or by scrolling down
        hidden = content.minimumSizeHint().height() - area.viewport().height()
        assert area.verticalScrollBar().maximum() >= hidden, name
    # and the image keeps most of the window
    assert viewer.window._qt_viewer.canvas.native.width() >= 0.38 * SCREEN[0]


def test_train_widget_main_controls_are_in_view_without_scrolling(
    make_napari_viewer, dock_widget, qtbot, isbi_crop
):
    viewer, docks = _dock_all(make_napari_viewer, dock_widget, qtbot, isbi_crop)
    widget, dock = docks["Train"]
    dock.raise_()
    qtbot.wait(100)
    area = dock.widget()
    for part in (
        widget.control("Image").native,
        widget.button("Start training").native,
        widget._plot.canvas,
    ):
        bottom = part.mapTo(area.widget(), QPoint(0, part.height())).y()
        assert part.isVisible() and bottom <= area.viewport().height()


def test_training_rounds_table_shows_every_column_whole(
    make_napari_viewer, dock_widget, qtbot, tiny_isbi_model
):
    from napari_unet.widgets.model_store import store_for

    image, model = tiny_isbi_model
    viewer = make_napari_viewer(show=True)
    viewer.add_image(image, name="em")
    store_for(viewer).set(model)
    widget = dock_widget(viewer, "Train")
    viewer.window._qt_window.resize(*SCREEN)
    qtbot.wait(200)
    table = widget.history.table.native
    header = table.horizontalHeader()
    assert table.rowCount() == 1 and table.isVisible()
    for column in range(header.count()):
        needed = max(header.sectionSizeHint(column), table.sizeHintForColumn(column))
        assert header.sectionSize(column) >= needed, table.horizontalHeaderItem(column).text()
    assert table.horizontalScrollBar().maximum() == 0  # all columns in view
