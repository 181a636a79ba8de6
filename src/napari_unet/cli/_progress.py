"""A small terminal progress bar for long command-line runs (stderr, TTY only), and the
printer of a training run's events."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from napari_unet.core import TrainingStarted, TrainingStep, ValidationScores
from napari_unet.core.oom import TrainingOutOfMemory


class ProgressBar:
    """Redraws one line on stderr when it is a terminal; prints nothing otherwise."""

    def __init__(self, label: str, total: float | None = None, width: int = 30) -> None:
        self.label = label
        self.total = total
        self.width = width
        self.enabled = sys.stderr.isatty()
        self._last = 0.0

    def update(self, done: float, text: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (self.total is None or done < self.total):
            return
        self._last = now
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * self.width)
            line = f"{self.label} [{bar:<{self.width}}] {frac:4.0%} {text}"
        else:
            line = f"{self.label} {text}"
        sys.stderr.write("\r" + line[:120].ljust(120))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def training_printer(bar: ProgressBar) -> tuple[Callable[[object], None], dict[str, Any]]:
    """``(show, seen)``: ``show(event)`` prints a run's events (compute on stderr, a progress
    bar); ``seen`` holds the last ``progress``, ``step`` and the ``device`` trained on."""
    seen: dict[str, Any] = {"progress": 0.0, "step": 0, "device": ""}

    def show(event: object) -> None:
        if isinstance(event, TrainingStarted):
            seen["device"] = event.device
            print(event.compute, file=sys.stderr)
            if event.min_steps and event.max_time:
                print(
                    f"at least {event.min_steps} steps (past the time budget on a slow machine)",
                    file=sys.stderr,
                )
        elif isinstance(event, TrainingOutOfMemory):
            bar.close()
            print(event.message, file=sys.stderr)
        elif isinstance(event, TrainingStep):
            seen["progress"], seen["step"] = event.progress, event.step
            bar.update(event.progress, f"step {event.step} loss {event.loss:.3f}")
        elif isinstance(event, ValidationScores) and event.mean_dice is not None:
            bar.update(seen["progress"], f"validation Dice {event.mean_dice:.3f}")

    return show, seen
