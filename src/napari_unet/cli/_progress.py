"""A small terminal progress bar for long command-line runs (stderr, TTY only)."""

from __future__ import annotations

import sys
import time


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
