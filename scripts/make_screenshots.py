"""Make the README screenshots: napari at 1366x768 (a laptop screen) with the widgets
docked, each widget in use during the loop, on the demo's real image (the nuclei of
``../shared/data/nuclei2d`` when it is there; see ``demo.demo_data``). Run under Xvfb on a
machine with no display:

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py docs/screenshots

Prints the Dice of the objects on the pixels that were not painted, as the demo does.
Trains the default ("fast") model for 150 steps (about a minute in all on 2 idle CPU cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from demo import demo_data, report_validation

WINDOW = (1366, 768)
TRAIN_STEPS = 150  # steps rather than seconds: the same model on a busy or an idle machine


class Shooter:
    """Process Qt events, wait for widget jobs, save window screenshots."""

    def __init__(self, viewer, folder: Path) -> None:
        self.viewer, self.folder = viewer, folder

    def pump(self, seconds: float = 0.3) -> None:
        from qtpy.QtWidgets import QApplication

        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    def wait(self, job) -> None:
        while job is not None and not job.done:
            self.pump(0.05)
        self.pump(1.2)

    def close_notifications(self) -> None:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in self.viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.close()

    def shot(self, name: str, width: int | None = None) -> None:
        """Save the whole window, scaled to ``width`` px (None: full size)."""
        from skimage.io import imsave
        from skimage.transform import resize

        self.close_notifications()
        self.viewer.reset_view()  # the whole image in the canvas the docks leave
        self.pump(0.5)
        img = self.viewer.screenshot(canvas_only=False, flash=False)[..., :3]
        if width is not None and img.shape[1] > width:
            h, w = img.shape[:2]
            img = resize(
                img, (round(h * width / w), width), anti_aliasing=True, preserve_range=True
            ).astype(np.uint8)
        imsave(self.folder / name, img, check_contrast=False)
        print("saved", self.folder / name, f"{img.shape[1]}x{img.shape[0]}")


def dock_widgets(viewer) -> list[tuple]:
    """``[(widget, dock)]`` of Train, Segment and Quick labels, tabbed on the right, from
    their defaults: the user's remembered settings are neither read nor written
    (:func:`session_only_settings`), so the screenshots show the defaults and the steps
    below leave the user's settings as they were."""
    from napari_unet.widgets.settings import session_only_settings

    session_only_settings()
    docked = []
    # opened as from the Plugins menu: napari builds each widget with a proxy of the viewer
    for i, name in enumerate(("Train", "Segment", "Quick labels (classical)")):
        dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", name, tabify=i > 0)
        docked.append((widget, dock))
    return docked


def main(out: str = "docs/screenshots") -> int:
    import napari

    from napari_unet.widgets._layers import find_output

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    layers, truth, source = demo_data()
    print(f"image: {source}")
    viewer = napari.Viewer(title="napari-unet")
    viewer.window._qt_window.resize(*WINDOW)
    image = viewer.add_image(layers[0][0], **layers[0][1])
    strokes = viewer.add_labels(layers[1][0], **layers[1][1])
    s = Shooter(viewer, folder)

    def show(role: str, visible: bool = True) -> None:
        layer = find_output(viewer, image, role)
        if layer is not None:
            layer.visible = visible

    (train, dock_t), (segment, dock_s), (quick, dock_q) = dock_widgets(viewer)
    s.pump(0.5)

    # 1. train from the painted strokes, with the live preview
    dock_t.raise_()
    viewer.layers.selection.active = strokes
    train.control("New model size").value = "fast"
    train.control("Time budget").value = 0
    train.control("Max steps").value = TRAIN_STEPS
    s.wait(train.start_training())
    s.shot("1_train.png", width=1000)

    # 2. segment the image, with the uncertainty layer
    dock_s.raise_()
    segment.control("Uncertainty layer").value = True
    s.wait(segment.segment())
    seg = find_output(viewer, image, "segmentation")
    report_validation(viewer, image.name, strokes.name, truth)
    show("preview", False)
    show("uncertainty", False)
    viewer.layers.selection.active = seg
    s.shot("2_segment_result.png", width=1000)
    show("uncertainty", True)
    show("segmentation", False)
    s.shot("2_segment_uncertainty.png", width=1000)
    show("segmentation", True)
    show("uncertainty", False)

    # the whole window on a laptop screen: Train docked, the result over the image
    dock_t.raise_()
    s.shot("0_window_1366x768.png")

    # 3. correct part of the segmentation (as with the brush), retrain
    corner = (0,) * (seg.data.ndim - 2) + (slice(None, 128), slice(None, 128))
    seg.data[corner] = truth[:128, :128]
    seg.refresh()
    train.control("Retrain time").value = 20
    train.control("Learn from").value = [strokes, seg]
    s.wait(train.start_retraining())
    s.shot("3_retrain.png", width=1000)

    # 4. quick labels from a classical threshold, to seed labels on new data
    dock_q.raise_()
    quick.control("Method").value = "otsu"
    s.wait(quick.run())
    for role in ("segmentation", "preview"):
        show(role, False)
    viewer.layers.selection.active = find_output(viewer, image, "quick labels")
    s.shot("4_quick_labels.png", width=1000)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
