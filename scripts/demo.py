"""Open napari with a real image and a few painted strokes and the Train and Segment widgets
docked, and train a first model from the strokes right away (a short budget, live loss and
preview), so the loop is ready to go: segment, correct, retrain.

The image is the first of: the nuclei image of ``../shared/data/nuclei2d`` (BBBC038), the
ISBI 2012 EM sample when it is already cached (File > Open Sample downloads it once), else the
synthetic nuclei sample (generated, no download). Strokes are simulated from the image's
complete ground truth, and once the first model has segmented the image the demo prints the
Dice of the objects against that ground truth on the pixels that were *not* painted.

    python scripts/demo.py                       # interactive
    python scripts/demo.py --train-seconds 0     # no first model: press Start training
    python scripts/demo.py --screenshot demo.png # train, segment, save a screenshot, exit

Without a display (a server, CI), ``--screenshot`` re-runs itself under ``xvfb-run``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys


def _need_display(args: argparse.Namespace) -> int | None:
    """Re-run under Xvfb when there is no display; returns its exit code, or None."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform != "linux":
        return None
    if os.environ.get("NAPARI_UNET_DEMO_XVFB"):
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print(
            "No display found and xvfb-run is not installed: install it "
            "(apt-get install xvfb) or run on a machine with a screen.",
            file=sys.stderr,
        )
        return 2
    if not args.screenshot:
        print(
            "No display: opening napari under Xvfb makes sense only with --screenshot.",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ, NAPARI_UNET_DEMO_XVFB="1")
    return subprocess.call([xvfb, "-a", sys.executable, *sys.argv], env=env)


def _wait(job) -> None:
    """Process Qt events until a widget's background job has finished."""
    import time

    from qtpy.QtWidgets import QApplication

    while job is not None and not job.done:
        QApplication.processEvents()
        time.sleep(0.02)


def demo_data():
    """``(layers, truth, source)``: napari layer tuples (image, strokes), the complete true
    classes of the first image plane (1 = background, 2 = object) and a description."""
    from pathlib import Path

    import numpy as np

    from napari_unet import sample_data
    from napari_unet.core.data.simulated_strokes import simulate_strokes

    nuclei = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nuclei2d"
    if (nuclei / "img2d.tif").is_file() and (nuclei / "mask2d.tif").is_file():
        import tifffile

        image = tifffile.imread(nuclei / "img2d.tif")
        truth = np.where(tifffile.imread(nuclei / "mask2d.tif") > 0, 2, 1).astype(np.uint8)
        strokes = simulate_strokes(truth, strokes_per_class=5, stroke_length=40, seed=0)
        return (
            [
                (image, {"name": "nuclei"}, "image"),
                (strokes.astype(np.uint8), {"name": "nuclei strokes"}, "labels"),
            ],
            truth,
            "fluorescent nuclei, BBBC038 (../shared/data/nuclei2d)",
        )
    cache = sample_data.data_dir() / "isbi2012"
    if all((cache / name).is_file() for name in sample_data.ISBI_REGISTRY):
        layers = sample_data.isbi_sample()
        mask = sample_data.load_isbi(1)[1]
        return layers, np.where(mask > 127, 2, 1).astype(np.uint8), "ISBI 2012 EM (cached sample)"
    image, truth = sample_data.synthetic_image()
    return sample_data.synthetic_sample(), truth, "synthetic nuclei (generated)"


def report_validation(viewer, image_name: str, strokes_name: str, truth) -> float | None:
    """Print (and notify) the Dice of class 2 against the complete ground truth, on the
    unpainted pixels of the first plane: an honest figure, not the training strokes."""
    import numpy as np

    from napari_unet.core.metrics import dice_iou_per_class

    name = f"{image_name} segmentation"
    if name not in viewer.layers:
        return None
    pred = np.asarray(viewer.layers[name].data)
    strokes = np.asarray(viewer.layers[strokes_name].data)
    while pred.ndim > truth.ndim:
        pred, strokes = pred[0], strokes[0]
    unpainted = strokes == 0
    dice = dice_iou_per_class(pred[unpainted], truth[unpainted], classes=[2])[2]["dice"]
    message = (
        f"Dice of the objects against the complete ground truth, on the "
        f"{unpainted.mean():.1%} of pixels not painted: {dice:.3f}"
    )
    print(message)
    from napari.utils.notifications import show_info

    show_info(message)
    return dice


def _after(job, then) -> None:
    """Call ``then()`` in the Qt event loop once ``job`` is done (the window stays live)."""
    from qtpy.QtCore import QTimer

    def poll() -> None:
        if job.done:
            then()
        else:
            QTimer.singleShot(200, poll)

    QTimer.singleShot(200, poll)


def _segment_and_report(segment_widget, viewer, image_name, strokes_name, truth) -> None:
    from napari_unet.widgets.model_store import store_for

    if store_for(viewer).model is None:
        return
    job = segment_widget.segment()
    if job is not None:
        _after(job, lambda: report_validation(viewer, image_name, strokes_name, truth))


def dock_widgets(viewer, train_seconds: int):
    """``(train_widget, segment_widget)`` docked on the right, Train on top, with a first
    run's budget of ``train_seconds`` (0: the default budget, nothing started).

    The demo leaves the user's settings alone: the widgets start from their defaults, not
    from what the user's last session remembered, and the demo's short budget is never
    written to the user's settings (:func:`session_only_settings`)."""
    from napari_unet.widgets.settings import session_only_settings

    session_only_settings()
    # opened as from the Plugins menu: napari builds each widget with a proxy of the viewer
    _dock, segment_widget = viewer.window.add_plugin_dock_widget("napari-unet", "Segment")
    train, train_widget = viewer.window.add_plugin_dock_widget("napari-unet", "Train", tabify=True)
    train.raise_()  # Train on top: the loop starts there
    if train_seconds > 0:
        train_widget.control("Time budget").value = train_seconds
        train_widget.control("Max steps").value = 0
    return train_widget, segment_widget


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshot", metavar="PATH", help="train, segment, save a screenshot and exit"
    )
    parser.add_argument(
        "--train-seconds",
        type=int,
        default=20,
        help="train a first model for this long at start (0 = don't)",
    )
    args = parser.parse_args(argv)
    code = _need_display(args)
    if code is not None:
        return code
    try:
        import napari

        import napari_unet.widgets.train_widget  # noqa: F401 - the plugin and PyTorch
    except ImportError as err:
        print(
            f"Missing dependency ({err}). Install the plugin first:\n  bash scripts/setup_venv.sh",
            file=sys.stderr,
        )
        return 2
    layers, truth, source = demo_data()
    print(f"demo image: {source}")
    viewer = napari.Viewer(title=f"napari-unet demo: {source}", show=True)
    for data, meta, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **meta)
    image_name, strokes_name = layers[0][1]["name"], layers[1][1]["name"]
    if layers[0][0].ndim == 3:
        viewer.dims.set_current_step(0, 0)  # the plane with strokes and ground truth
    viewer.layers.selection.active = viewer.layers[strokes_name]
    train_widget, segment_widget = dock_widgets(viewer, args.train_seconds)
    job = None
    if args.train_seconds > 0:
        job = train_widget.start_training()  # in a thread worker: the window stays live
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1366, 768)  # a laptop screen
        _wait(job)
        from napari_unet.widgets.model_store import store_for

        if job is not None and store_for(viewer).model is not None:
            _wait(segment_widget.segment())
            report_validation(viewer, image_name, strokes_name, truth)
        for _ in range(20):
            QApplication.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=False)
        print(f"screenshot saved to {args.screenshot}")
        viewer.close()
        return 0
    if job is not None:
        _after(
            job,
            lambda: _segment_and_report(segment_widget, viewer, image_name, strokes_name, truth),
        )
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
