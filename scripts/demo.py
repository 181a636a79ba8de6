"""Open napari with the synthetic sample (image + painted strokes) and the Train and
Segment widgets docked: the napari-unet loop, ready to go.

    python scripts/demo.py                       # interactive
    python scripts/demo.py --screenshot demo.png # save a screenshot and exit

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="PATH", help="save a screenshot and exit")
    args = parser.parse_args(argv)
    code = _need_display(args)
    if code is not None:
        return code
    try:
        import napari

        from napari_unet.sample_data import synthetic_sample
        from napari_unet.widgets.segment_widget import SegmentWidget
        from napari_unet.widgets.train_widget import TrainWidget
    except ImportError as err:
        print(f"Missing dependency ({err}). Install the plugin first:\n"
              "  python -m pip install -e '.[qt]'", file=sys.stderr)
        return 2
    viewer = napari.Viewer(title="napari-unet demo", show=True)
    for data, meta, kind in synthetic_sample():
        getattr(viewer, f"add_{kind}")(data, **meta)
    viewer.layers.selection.active = viewer.layers["synthetic nuclei strokes"]
    segment = viewer.window.add_dock_widget(SegmentWidget(viewer), name="Segment", area="right")
    train = viewer.window.add_dock_widget(TrainWidget(viewer), name="Train", area="right",
                                          tabify=True)
    train.raise_()  # Train on top: the loop starts there
    del segment
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1280, 860)
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
