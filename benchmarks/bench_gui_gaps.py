"""GUI responsiveness: how long the napari window stops answering while the Train widget
is docked and while it trains, with and without two busy processes loading the CPU.

Run from the repository root (a display or ``xvfb-run``; the README figures on 2 cores)::

    nice -n 15 xvfb-run -a -s '-screen 0 1280x1024x24' python benchmarks/bench_gui_gaps.py \
        [--runs 3] [--seconds 20] [--load both|on|off]

Each run is a fresh process (so docking pays PyTorch's import and first-use warm-up as a
user's first docking does): a shown viewer with an ISBI slice and simulated strokes; a
10 ms ``QTimer`` records its ticks while ``add_plugin_dock_widget("napari-unet",
"Train")`` docks the widget, and while the widget trains the default ("fast") model for
``--seconds`` with the live preview on, until the round is written to its project. Figures: the dock call's wall time, the longest
timer gap during docking (the time the window was frozen), and during training the
longest gap (also leaving out the first and last 2 s: "mid-run", without the preview
layer's creation at Start and the end-of-run updates) and the 99th percentile of the
gaps. With load, two ``while True: pass`` processes (at the niceness of this script) run
from before the viewer opens until the run ends. The load average before each run is
printed: on a shared machine other users' processes load it too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"
STEADY_MARGIN = 2.0  # s: "mid-run" leaves out the start (preview layer made) and the end


class GapMeter:
    """Timestamps of a 10 ms Qt timer; gaps between them in ms."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> list[float]:
        self.ticks.append(time.perf_counter())  # a freeze at the very end counts too
        self.timer.stop()
        return [1000 * (b - a) for a, b in zip(self.ticks, self.ticks[1:])]

    def steady(self, margin: float) -> list[float]:
        """Gaps (ms) that start more than ``margin`` s after the start and end more than
        ``margin`` s before the end (the run without its start and end)."""
        t0, t1 = self.ticks[0] + margin, self.ticks[-1] - margin
        return [1000 * (b - a) for a, b in zip(self.ticks, self.ticks[1:]) if a > t0 and b < t1]


class FreezeSampler:
    """What the GUI thread was running while frozen: a thread that, every 5 ms, looks at
    the GapMeter's last tick and, when it is over ``threshold_ms`` old, records the GUI
    thread's innermost frames of this project or napari (the call that holds the thread,
    or waits for the GIL there)."""

    def __init__(self, meter: GapMeter, threshold_ms: float = 60.0) -> None:
        import threading

        self.meter, self.threshold = meter, threshold_ms / 1000
        self.gui_thread = threading.get_ident()
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, int]:
        """Milliseconds frozen per place, in the three longest gaps (``gap N ms: place``)."""
        self._stop.set()
        self._thread.join()
        ticks = self.meter.ticks
        gaps = sorted(zip(ticks, ticks[1:]), key=lambda ab: ab[0] - ab[1])[:3]
        report: dict[str, int] = {}
        for a, b in gaps:
            for t, key in self.samples:
                if a <= t <= b:
                    name = f"gap {1000 * (b - a):.0f} ms: {key}"
                    report[name] = report.get(name, 0) + 5  # ms frozen there
        return report

    def _watch(self) -> None:
        import traceback

        while not self._stop.wait(0.005):
            ticks = self.meter.ticks
            if not ticks or time.perf_counter() - ticks[-1] < self.threshold:
                continue
            frame = sys._current_frames().get(self.gui_thread)
            if frame is None:
                continue
            ours = [
                f
                for f in traceback.extract_stack(frame)
                if "napari" in f.filename or "vispy" in f.filename
            ]
            key = (
                " < ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(ours[-4:])
                )
                or "(outside napari)"
            )
            self.samples.append((time.perf_counter(), key))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _simulate_strokes():
    """``core.simulated_strokes.simulate_strokes`` loaded from its file (NumPy and SciPy
    only): importing it through ``napari_unet.core`` would import PyTorch before docking."""
    import importlib.util

    path = REPO / "src" / "napari_unet" / "core" / "data" / "simulated_strokes.py"
    spec = importlib.util.spec_from_file_location("_bench_strokes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.simulate_strokes


def one_run(seconds: float, why: bool = False) -> dict:
    """Dock Train and train in this process; the figures as a dict (ms). The widget's
    settings and projects go to a temporary folder: the run starts from the defaults and
    leaves the user's settings and data folder alone."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-gui-gaps-"))
    os.environ["NAPARI_UNET_CONFIG_DIR"] = str(scratch / "config")
    os.environ["NAPARI_UNET_DATA_DIR"] = str(scratch / "data")
    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    sys.path.insert(0, str(REPO))
    from tests.conftest import isbi_slice  # noqa: E402 - real data, read in place

    image, truth = isbi_slice(0)
    strokes = _simulate_strokes()(truth, seed=0).astype(np.uint8)
    assert "torch" not in sys.modules, "docking must pay PyTorch's import, as a user's does"
    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    app = QApplication.instance()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    meter = GapMeter()
    meter.start()
    t0 = time.perf_counter()
    _dock, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    dock_s = time.perf_counter() - t0
    end = time.perf_counter() + 1.0  # the window's first second with the widget
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
    dock_gaps = meter.stop()
    train.control("Time budget").value = seconds
    train.control("Max steps").value = 0
    train.control("Live preview of the slice in view").value = True
    meter.start()
    sampler = FreezeSampler(meter) if why else None
    if sampler is not None:
        sampler.start()
    job = train.start_training()
    while not job.done or (train.projects.saving and not train.projects.saving.done):
        app.processEvents()  # until the run's round is written to its project too
        time.sleep(0.002)
    gaps = meter.stop()
    frozen_in = sampler.stop() if sampler is not None else {}
    steady = meter.steady(STEADY_MARGIN) or [float("nan")]
    from napari_unet.widgets.model_store import store_for

    model = store_for(viewer).model
    steps = model.rounds[-1]["steps"] if model else 0
    viewer.close()
    return {
        "dock_ms": 1000 * dock_s,
        "dock_gap_ms": max(dock_gaps),
        "train_gap_ms": max(gaps),
        "train_p99_ms": percentile(gaps, 0.99),
        "steady_gap_ms": max(steady),
        "steps": steps,
        "frozen_in": frozen_in,
    }


def child(load: bool, seconds: float, why: bool = False) -> dict | None:
    """One run in a fresh interpreter (cold imports), under load if asked."""
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2 if load else 0)]
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--seconds",
                str(seconds),
                *(["--why"] if why else []),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
    finally:
        for proc in busy:  # only the processes this script started
            proc.kill()
            proc.wait()
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:  # e.g. a crash closing the viewer: say so, go on
        print(f"run failed (exit {out.returncode}): {out.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--load", choices=("both", "on", "off"), default="both")
    parser.add_argument(
        "--why",
        action="store_true",
        help="also print where the GUI thread was while frozen (ms per place)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.seconds, args.why)), flush=True)
        return
    loads = {"both": (False, True), "on": (True,), "off": (False,)}[args.load]
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, niceness "
        f"{os.nice(0)}, training {args.seconds:.0f} s per run (fast preset, live preview)"
    )
    header = (
        f"{'extra load':<14}{'run':>4}{'loadavg':>9}{'dock (ms)':>11}{'dock freeze':>13}"
        f"{'train longest':>15}{'mid-run longest':>17}{'train p99':>11}{'steps':>7}"
    )
    print(header)
    for load in loads:
        for run in range(1, args.runs + 1):
            before = os.getloadavg()[0]  # other users' load too, on a shared machine
            r = child(load, args.seconds, args.why)
            name = "2 busy procs" if load else "none"
            if r is None:
                print(f"{name:<14}{run:>4}{before:>9.1f}  (failed, see above)", flush=True)
                continue
            print(
                f"{name:<14}{run:>4}{before:>9.1f}{r['dock_ms']:>11.0f}{r['dock_gap_ms']:>13.0f}"
                f"{r['train_gap_ms']:>15.0f}{r['steady_gap_ms']:>17.0f}"
                f"{r['train_p99_ms']:>11.0f}{r['steps']:>7}",
                flush=True,
            )
            for place, ms in r["frozen_in"].items():
                print(f"      {place} ({ms} ms)", flush=True)


if __name__ == "__main__":
    main()
