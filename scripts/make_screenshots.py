"""Make the README screenshots: each widget in use during the loop, on the synthetic
sample. Run under Xvfb on a machine with no display:

    xvfb-run -a python scripts/make_screenshots.py docs/screenshots

Trains the default ("fast") model for a short time (about a minute in all on 2 CPU cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main(out: str = "docs/screenshots") -> int:
    import napari
    from qtpy.QtWidgets import QApplication
    from skimage.transform import resize
    from skimage.io import imsave

    from napari_unet.sample_data import synthetic_image, synthetic_sample
    from napari_unet.widgets._layers import find_output
    from napari_unet.widgets.quick_labels_widget import QuickLabelsWidget
    from napari_unet.widgets.segment_widget import SegmentWidget
    from napari_unet.widgets.train_widget import TrainWidget

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-unet")
    viewer.window._qt_window.resize(1300, 900)
    for data, meta, kind in synthetic_sample():
        getattr(viewer, f"add_{kind}")(data, **meta)
    image = viewer.layers["synthetic nuclei"]
    strokes = viewer.layers["synthetic nuclei strokes"]

    def pump(seconds: float = 0.3) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    def wait(job) -> None:
        while job is not None and not job.done:
            pump(0.05)
        pump(1.2)

    def show(name: str, visible: bool = True, opacity: float | None = None) -> None:
        layer = f"synthetic nuclei {name}"
        if layer in viewer.layers:
            viewer.layers[layer].visible = visible
            if opacity is not None:
                viewer.layers[layer].opacity = opacity

    def shot(name: str) -> None:
        pump(0.5)
        img = viewer.screenshot(canvas_only=False, flash=False)
        h, w = img.shape[:2]
        small = resize(img, (int(h * 900 / w), 900), anti_aliasing=True, preserve_range=True)
        imsave(folder / name, small.astype(np.uint8)[..., :3], check_contrast=False)
        print("saved", folder / name)

    train = TrainWidget(viewer)
    segment = SegmentWidget(viewer)
    quick = QuickLabelsWidget(viewer)
    dock_t = viewer.window.add_dock_widget(train, name="Train", area="right")
    dock_s = viewer.window.add_dock_widget(segment, name="Segment", area="right", tabify=True)
    dock_q = viewer.window.add_dock_widget(quick, name="Quick labels", area="right", tabify=True)
    from qtpy.QtCore import Qt

    viewer.window._qt_window.resizeDocks([dock_t], [470], Qt.Horizontal)
    pump(0.5)

    # 1. train from the painted strokes
    dock_t.raise_()
    train._preset.value = "fast"
    train._max_time.value, train._max_steps.value = 25, 0
    train.training_overrides = {"validate_every_steps": 5}  # frequent live previews
    wait(train.start_training())
    show("preview", True, opacity=0.35)
    shot("1_train.png")

    # 2. segment the image, with the uncertainty layer
    dock_s.raise_()
    segment._uncertainty.value = True
    wait(segment.segment())
    show("preview", False)
    show("uncertainty", False)
    shot("2_segment_result.png")
    show("uncertainty", True)
    show("segmentation", False)
    shot("2_segment_uncertainty.png")
    show("segmentation", True)
    show("uncertainty", False)

    # 3. correct part of the segmentation (as with the brush), retrain
    seg = find_output(viewer, image, "segmentation")
    _img, truth = synthetic_image()
    seg.data[:128, :128] = truth[:128, :128]
    seg.refresh()
    viewer.layers.selection.active = seg
    dock_t.raise_()
    train._retrain_time.value = 15
    train._retrain_from.value = [strokes, seg]
    wait(train.start_retraining())
    shot("3_retrain.png")

    # 4. quick labels from a classical threshold, to seed labels on new data
    dock_q.raise_()
    quick._method.value = "otsu"
    wait(quick.run())
    for name in ("segmentation", "preview"):
        show(name, False)
    viewer.layers.selection.active = find_output(viewer, image, "quick labels")
    shot("4_quick_labels.png")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
