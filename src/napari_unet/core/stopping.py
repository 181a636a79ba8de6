"""Cooperative stopping and a synchronous runner for event generators.

Long work in the core (training, prediction, attacks) is written as a generator that
yields typed events and *returns* its result. The GUI runs the generator in a napari
thread worker; tests and the command line run it with :func:`run_to_completion`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

R = TypeVar("R")


class StopFlag:
    """A thread-safe flag that long-running generators check at every step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request_stop(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self._event.clear()


def run_to_completion(
    work: Generator[Any, Any, R], on_event: Callable[[Any], None] | None = None
) -> R:
    """Drive ``work`` to its end, passing each yielded event to ``on_event``; return its result."""
    while True:
        try:
            event = next(work)
        except StopIteration as done:
            return done.value
        if on_event is not None:
            on_event(event)
