"""Every widget, docked in napari, fits a 1366x768 laptop screen and stays whole:
tall widgets scroll instead of making the window taller, and nothing is cut sideways."""

from __future__ import annotations

from qtpy.QtWidgets import QScrollArea

from napari_unet.widgets.adversarial_widget import AdversarialWidget
from napari_unet.widgets.quick_labels_widget import QuickLabelsWidget
from napari_unet.widgets.segment_widget import SegmentWidget
from napari_unet.widgets.train_widget import TrainWidget

SCREEN = (1366, 768)
WIDGETS = [TrainWidget, SegmentWidget, QuickLabelsWidget, AdversarialWidget]


def _dock_all(make_napari_viewer, qtbot, isbi_crop):
    """A viewer at 1366x768 with an image, strokes and all four widgets docked as tabs;
    returns the viewer and ``{widget class: dock}``."""
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer(show=True)
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    docks = {cls: viewer.window.add_dock_widget(cls(viewer), name=cls.__name__, area="right",
                                                tabify=True)
             for cls in WIDGETS}
    viewer.window._qt_window.resize(*SCREEN)
    qtbot.wait(200)
    return viewer, docks


def test_window_with_all_widgets_docked_fits_a_1366x768_screen(make_napari_viewer, qtbot,
                                                               isbi_crop):
    viewer, _docks = _dock_all(make_napari_viewer, qtbot, isbi_crop)
    window = viewer.window._qt_window
    hint = window.minimumSizeHint()
    assert hint.height() <= SCREEN[1] and hint.width() <= SCREEN[0]
    assert (window.width(), window.height()) == SCREEN


def test_each_widget_is_docked_in_a_scroll_area_and_is_not_cut_sideways(make_napari_viewer,
                                                                        qtbot, isbi_crop):
    viewer, docks = _dock_all(make_napari_viewer, qtbot, isbi_crop)
    for cls, dock in docks.items():
        dock.raise_()
        qtbot.wait(100)
        area = dock.widget()
        assert isinstance(area, QScrollArea), cls.__name__
        content = area.widget()
        assert area.viewport().width() >= content.minimumSizeHint().width(), cls.__name__
        # everything the widget holds is reachable: in the viewport or by scrolling down
        hidden = content.minimumSizeHint().height() - area.viewport().height()
        assert area.verticalScrollBar().maximum() >= hidden, cls.__name__
    # and the image keeps most of the window
    assert viewer.window._qt_viewer.canvas.native.width() >= 0.38 * SCREEN[0]
