"""Background jobs: a generator run in a Qt thread worker, with a stop flag, a progress
bar, and every outcome reported to the widget's :class:`~._session.JobSession`.

Why not napari's ``create_worker`` as is: its generator worker turns a ``RuntimeError``
raised by the work (PyTorch's out-of-memory error, "inference tensors cannot be saved
for backward"...) into a warning and returns without emitting ``finished``, so the job
never ends; and a worker asked to quit leaves its generator suspended, so ``with``
blocks such as ``torch.inference_mode()`` never exit in the thread that entered them
and the pool thread stays in inference mode for the next job. :class:`_ReportingWorker`
fixes both: every exception reaches ``errored`` then ``finished``, and the generator is
closed in its own thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from superqt.utils import GeneratorWorker

from napari_unet.core import StopFlag, UserInputError
from napari_unet.core.oom import is_out_of_memory

from ._session import JobSession

# Work split over the event loop waits this long between its pieces: a 0 ms timer runs
# before pending timers and repaints (Qt handles posted events first), so the window
# would stay frozen across both pieces.
NEXT_TURN_MS = 30


def failure_message(err: BaseException, what: str, note: str = "") -> str:
    """What went wrong in ``what`` and what to do about it, for a notification."""
    if isinstance(err, (UserInputError, ValueError)):
        return f"{what}: {err}{note}"  # user errors name the fix themselves
    if is_out_of_memory(err):
        return (
            f"{what} ran out of memory ({type(err).__name__}: {err}).{note} Try a smaller "
            "model size, a smaller image or a single slice, or close other programs; "
            "then start again."
        )
    return (
        f"{what} failed ({type(err).__name__}: {err}).{note} You can start again; if it "
        "happens again, please report this message."
    )


def notify_error(err: BaseException, what: str, note: str = "") -> None:
    """Show ``err`` as a napari error notification (see :func:`failure_message`)."""
    show_error(failure_message(err, what, note))


def notify_info(message: str) -> None:
    show_info(message)


def notify_warning(message: str) -> None:
    show_warning(message)


class _ReportingWorker(GeneratorWorker):
    """superqt's generator worker with every end reported (see the module docstring)."""

    def work(self) -> Any:
        try:
            result = super().work()  # returns, not raises, a RuntimeError of the generator
        finally:
            self._gen.close()  # after quit(): exit the generator's `with` blocks here
        if isinstance(result, BaseException):
            raise result  # WorkerBase.run emits errored, then finished
        return result


class Job:
    """One background run of a generator function in a Qt thread worker.

    ``work(stop)`` is a generator function taking the job's :class:`StopFlag`; its
    yielded events go to ``on_event`` and its return value to ``on_done``, an exception
    it raises to ``on_error`` (all on the GUI thread). ``session`` goes to RUNNING on
    :meth:`start`, then DONE or FAILED whatever happens. The progress bar goes from 0 to
    ``total``; call :meth:`set_progress`. ``notify``: show errors as notifications.
    """

    def __init__(
        self,
        work: Callable[[StopFlag], Any],
        *,
        what: str,
        total: int = 100,
        session: JobSession | None = None,
        on_event: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        show_progress: bool = True,
        notify: bool = True,
    ) -> None:
        self.stop = StopFlag()
        self.what = what
        self.done = False
        self.session = session if session is not None else JobSession()
        self._total = total
        self._show_progress = show_progress
        self._progress: progress | None = None
        self._last_progress = 0.0
        self._on_done, self._on_finished, self._on_error = on_done, on_finished, on_error
        self._notify = notify
        self.worker = _ReportingWorker(work, self.stop)
        if on_event is not None:
            self.worker.yielded.connect(on_event)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)
        self.worker.finished.connect(self._finished)

    def start(self) -> Job:
        """Enter RUNNING (raises :class:`UserInputError` if the session is busy) and run.

        The progress bar opens on the event loop's next turn: napari builds its widget
        on the GUI thread (0.1-0.2 s on a busy machine), and whatever the caller does
        after starting (a preview layer, the plot) should not add to the same freeze."""
        self.session.start(self.what, self.stop)
        if self._show_progress:
            QTimer.singleShot(NEXT_TURN_MS, self._open_progress)
        self.worker.start()
        return self

    def _open_progress(self) -> None:
        if not self.done and self._progress is None:
            self._progress = progress(total=self._total, desc=self.what)

    def request_stop(self) -> None:
        self.session.request_stop()
        self.stop.request_stop()

    def set_total(self, total: int) -> None:
        """The number of steps the bar counts to, once the work knows it."""
        self._total = total
        if self._progress is not None:
            self._progress.total = total

    def set_progress(
        self, value: float, description: str | None = None, every: float = 0.0
    ) -> None:
        """Move the bar to ``value``; with ``every`` (seconds), skip updates that come
        sooner than that after the last one (each update repaints at once)."""
        bar = self._progress  # updating may process events that end the job meanwhile
        if bar is None:
            return
        now = time.perf_counter()
        if every and now - self._last_progress < every:
            return
        self._last_progress = now
        if description:
            bar.set_description(description)
        value = int(max(0, min(bar.total, value)))
        if value > bar.n:
            bar.update(value - bar.n)

    def _returned(self, result: Any) -> None:
        try:
            if self._on_done is not None:
                self._on_done(result)
        except Exception as err:  # noqa: BLE001 - showing the result failed: a failed job
            self._errored(err)
            return
        self.session.succeed()

    def _errored(self, err: BaseException) -> None:
        try:
            if self._on_error is not None:
                self._on_error(err)
        finally:
            if self._notify:
                notify_error(err, self.what)
            self.session.fail(err)

    def _finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self.session.succeed()  # no result and no error: quit by the app (no-op otherwise)
        self.done = True
        if self._on_finished is not None:
            self._on_finished()
