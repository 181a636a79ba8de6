"""The lifecycle of a widget's background jobs, free of Qt: explicit states that every
outcome of a job reaches, and a signal the views listen to.

::

    IDLE --start--> RUNNING --request_stop--> STOPPING
                      |                          |
                      +------> DONE <------------+   (result, or stopped)
                      +------> FAILED <----------+   (any exception, RuntimeError included)

DONE and FAILED accept a new start. The views (buttons, status lines) follow
:attr:`JobSession.state_changed`; nothing else decides whether a job is running.
"""

from __future__ import annotations

from enum import Enum

from psygnal import Signal

from napari_unet.core import StopFlag, UserInputError


class JobState(Enum):
    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """A job is under way (a new one may not start)."""
        return self in (JobState.RUNNING, JobState.STOPPING)


class JobSession:
    """The state of one widget's jobs (one at a time).

    ``state_changed`` is emitted with the new :class:`JobState` on every transition;
    ``error`` holds the exception of the last failed job, ``what`` names the job
    ("Training", "Segmentation"...) for messages.
    """

    state_changed = Signal(object)

    def __init__(self) -> None:
        self._state = JobState.IDLE
        self.what = ""
        self.error: BaseException | None = None
        self._stop: StopFlag | None = None

    @property
    def state(self) -> JobState:
        return self._state

    @property
    def active(self) -> bool:
        return self._state.active

    def start(self, what: str, stop: StopFlag) -> None:
        """Enter RUNNING for the job called ``what``, stopped through ``stop``.

        Raises :class:`UserInputError` while another job is active.
        """
        if self.active:
            raise UserInputError(
                f"{self.what or 'A run'} is already going: wait for it or press Stop."
            )
        self.what, self.error, self._stop = what, None, stop
        self._set(JobState.RUNNING)

    def request_stop(self) -> None:
        """Ask the running job to stop at its next step (RUNNING -> STOPPING)."""
        if self._stop is not None and self.active:
            self._stop.request_stop()
            self._set(JobState.STOPPING)

    def succeed(self) -> None:
        """The job returned (its result possibly partial after a stop)."""
        if self.active:
            self._set(JobState.DONE)

    def fail(self, error: BaseException) -> None:
        """The job raised ``error``."""
        if self.active:
            self.error = error
            self._set(JobState.FAILED)

    def _set(self, state: JobState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state)
