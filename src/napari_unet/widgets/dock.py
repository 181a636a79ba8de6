"""Docking the widgets without freezing the window.

The widgets import PyTorch (1.5-2 s of imports on 2 cores, far more on a busy machine)
and PyTorch's first optimizer loads ``torch._dynamo`` (about 1 s more). Done on the GUI
thread when a widget is docked, that froze the window for seconds. napari builds a dock
widget from the class named in ``napari.yaml``; these classes (``TrainDock``...) import
the widget's module and warm PyTorch up in a background thread while the GUI thread
keeps serving events (a local event loop), then build the real widget, which is what
``__new__`` returns: ``add_plugin_dock_widget("napari-unet", "Train")`` gives a
:class:`~.train.TrainWidget` as before. Where the module is already imported (a second
docking, scripts, tests) the widget is built at once.

This module imports neither PyTorch nor the widgets.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from types import ModuleType
from typing import Any

POLL_MS = 15  # how often the GUI thread looks whether the background import is done


class _BackgroundImport:
    """Imports ``name`` and runs PyTorch's warm-up in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.module: ModuleType | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"napari-unet import {name}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        try:
            module = importlib.import_module(self.name)
            warm_up_now()
            self.module = module
        except BaseException as err:  # noqa: BLE001 - re-raised on the GUI thread
            self.error = err
        finally:
            self.done.set()


_IMPORTS: dict[str, _BackgroundImport] = {}
_WARM_UP_LOCK = threading.Lock()
warm_up_threads: list[str] = []  # names of the threads that ran the warm-up (tests read it)


# Imported by the first round's autosave (zarr and its codecs: about 0.3 s of imports
# holding the GIL): done while docking, not in the thread that writes the round while
# the window repaints the end of a run.
LATER_IMPORTS = ("zarr",)


def warm_up_now() -> None:
    """PyTorch's first-use imports (:func:`napari_unet.core.training.trainer.warm_up`) and
    :data:`LATER_IMPORTS`, once; call it off the GUI thread."""
    from napari_unet.core.training.trainer import warm_up

    with _WARM_UP_LOCK:
        if not warm_up_threads:
            warm_up()
            for name in LATER_IMPORTS:
                importlib.import_module(name)
            # The objects alive now (napari's, PyTorch's, zarr's modules: long-lived) leave
            # the garbage collector's sight. Otherwise every full collection, which
            # training's allocations trigger now and then, walks them all holding the GIL:
            # a 350-420 ms freeze mid-run on 2 cores with two busy processes, 190-220 ms
            # with them frozen (benchmarks/bench_gui_gaps.py --load on).
            gc.freeze()
            warm_up_threads.append(threading.current_thread().name)


def warm_up_in_background() -> None:
    """Start :func:`warm_up_now` in a daemon thread unless it already ran."""
    if not warm_up_threads:
        threading.Thread(target=warm_up_now, name="napari-unet warm-up", daemon=True).start()


def import_without_freezing(name: str) -> ModuleType:
    """The module ``name``, imported in a background thread while the Qt event loop keeps
    running on this (the GUI) thread; at once if it is already imported."""
    pending = _IMPORTS.get(name)
    if pending is None and name in sys.modules:
        return sys.modules[name]
    if pending is None:
        pending = _IMPORTS[name] = _BackgroundImport(name)
    if not pending.done.is_set():
        _wait_serving_events(pending.done)
    if pending.error is not None:
        del _IMPORTS[name]  # the next docking tries again
        raise pending.error
    return pending.module


def _wait_serving_events(done: threading.Event) -> None:
    """Run a local Qt event loop until ``done`` is set (the window keeps answering)."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(lambda: done.is_set() and loop.quit())
    timer.start()
    if not done.is_set():
        loop.exec()
    timer.stop()


class _Dock:
    """Base of the classes napari instantiates: ``__new__`` returns the real widget."""

    module = ""
    widget = ""

    def __new__(cls, napari_viewer: Any) -> Any:
        return getattr(import_without_freezing(cls.module), cls.widget)(napari_viewer)

    def __init__(self, napari_viewer: Any) -> None:  # napari reads this signature
        """Never runs: ``__new__`` returns another class's instance."""


class TrainDock(_Dock):
    module, widget = "napari_unet.widgets.train.widget", "TrainWidget"


class SegmentDock(_Dock):
    module, widget = "napari_unet.widgets.segment_widget", "SegmentWidget"


class AdversarialDock(_Dock):
    module, widget = "napari_unet.widgets.adversarial_widget", "AdversarialWidget"


class QuickLabelsDock(_Dock):
    module, widget = "napari_unet.widgets.quick_labels_widget", "QuickLabelsWidget"
