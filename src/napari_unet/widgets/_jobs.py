"""Background jobs: napari thread workers with a stop flag, a progress bar and
errors turned into notifications. Keeps the widgets free of threading details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning

from napari_unet.core import StopFlag, UserInputError


def notify_error(err: BaseException, what: str) -> None:
    """Show ``err`` as a napari notification; user errors keep their message (it names the fix)."""
    if isinstance(err, (UserInputError, ValueError)):
        show_error(f"{what}: {err}")
    else:
        show_error(f"{what} failed unexpectedly ({type(err).__name__}: {err}). "
                   "The best model so far is kept; please report this.")


def notify_info(message: str) -> None:
    show_info(message)


def notify_warning(message: str) -> None:
    show_warning(message)


class Job:
    """One background run of a generator function in a napari thread worker.

    ``work(stop)`` is a generator function taking the job's :class:`StopFlag`; its
    yielded events go to ``on_event`` and its return value to ``on_done`` (GUI thread).
    The job's progress bar goes from 0 to ``total``; call :meth:`set_progress`.
    """

    def __init__(
        self, work: Callable[[StopFlag], Any], *, what: str, total: int = 100,
        on_event: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        show_progress: bool = True, notify: bool = True,
    ) -> None:
        self.stop = StopFlag()
        self.what = what
        self.done = False
        self._progress = progress(total=total, desc=what) if show_progress else None
        self._on_finished = on_finished
        self._on_error = on_error
        self._notify = notify
        self.worker = create_worker(work, self.stop, _ignore_errors=True, _start_thread=False)
        if on_event is not None and hasattr(self.worker, "yielded"):
            self.worker.yielded.connect(on_event)
        if on_done is not None:
            self.worker.returned.connect(on_done)
        self.worker.errored.connect(self._errored)
        self.worker.finished.connect(self._finished)

    def start(self) -> Job:
        self.worker.start()
        return self

    def request_stop(self) -> None:
        self.stop.request_stop()

    def set_progress(self, value: float, description: str | None = None) -> None:
        if self._progress is None:
            return
        value = int(max(0, min(self._progress.total, value)))
        if value > self._progress.n:
            self._progress.update(value - self._progress.n)
        if description:
            self._progress.set_description(description)

    def _errored(self, err: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(err)
        if self._notify:
            notify_error(err, self.what)

    def _finished(self) -> None:
        self.done = True
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._on_finished is not None:
            self._on_finished()
