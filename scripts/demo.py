"""Open napari with a real fluorescence nuclei image (``../shared/data/nuclei2d``, else
the synthetic sample) and strokes painted on its left half, the Train and Segment widgets
docked, and train a first model from the strokes right away (a short budget, live loss
and preview), so the loop is ready to go: segment, correct, retrain. With
``--screenshot`` it also prints the Dice of the nuclei on the right half, never painted.

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
        print("No display found and xvfb-run is not installed: install it "
              "(apt-get install xvfb) or run on a machine with a screen.", file=sys.stderr)
        return 2
    if not args.screenshot:
        print("No display: opening napari under Xvfb makes sense only with --screenshot.",
              file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="PATH",
                        help="train, segment, save a screenshot and exit")
    parser.add_argument("--train-seconds", type=int, default=20,
                        help="train a first model for this long at start (0 = don't)")
    args = parser.parse_args(argv)
    code = _need_display(args)
    if code is not None:
        return code
    try:
        import napari

        from _real_sample import load_sample, unseen_half_dice
        from napari_unet.widgets._layers import find_output
        from napari_unet.widgets.segment_widget import SegmentWidget
        from napari_unet.widgets.train_widget import TrainWidget
    except ImportError as err:
        print(f"Missing dependency ({err}). Install the plugin first:\n"
              "  bash scripts/setup_venv.sh", file=sys.stderr)
        return 2
    viewer = napari.Viewer(title="napari-unet demo", show=True)
    name, image, strokes, truth = load_sample()
    image_layer = viewer.add_image(image, name=name)
    viewer.layers.selection.active = viewer.add_labels(strokes, name=f"{name} strokes")
    train_widget, segment_widget = TrainWidget(viewer), SegmentWidget(viewer)
    viewer.window.add_dock_widget(segment_widget, name="Segment", area="right")
    train = viewer.window.add_dock_widget(train_widget, name="Train", area="right", tabify=True)
    train.raise_()  # Train on top: the loop starts there
    job = None
    if args.train_seconds > 0:
        train_widget._max_time.value, train_widget._max_steps.value = args.train_seconds, 0
        job = train_widget.start_training()  # in a thread worker: the window stays live
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1366, 768)
        _wait(job)
        if job is not None and train_widget._store.model is not None:
            _wait(segment_widget.segment())
            segmentation = find_output(viewer, image_layer, "segmentation")
            print(f"Dice of the nuclei on the unpainted right half: "
                  f"{unseen_half_dice(segmentation.data, truth):.3f}")
        for _ in range(20):
            QApplication.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=False)
        print(f"screenshot saved to {args.screenshot}")
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
