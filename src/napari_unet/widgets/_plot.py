"""A small live plot of training loss and validation Dice, drawn with matplotlib."""

from __future__ import annotations

import time

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


class TrainingPlot:
    """Loss per step (left axis) and validation Dice (right axis, 0..1).

    Redraws at most every ``min_interval`` seconds so the GUI thread stays free.
    ``canvas`` is the Qt widget to put in a layout.
    """

    def __init__(self, min_interval: float = 1.0) -> None:
        self.figure = Figure(figsize=(3.2, 1.8), dpi=90, tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(150)
        self.ax = self.figure.add_subplot(111)
        self.ax_dice = self.ax.twinx()
        self.min_interval = min_interval
        self._last_draw = 0.0
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.dice: list[float] = []
        self._offset = 0
        self.redraw(force=True)

    def new_round(self) -> None:
        """Continue the step axis after the previous run (retraining rounds)."""
        self._offset = self.steps[-1] if self.steps else 0

    def add_loss(self, step: int, loss: float) -> None:
        self.steps.append(step + self._offset)
        self.losses.append(loss)
        self.redraw()

    def add_dice(self, step: int, dice: float | None) -> None:
        if dice is not None:
            self.val_steps.append(step + self._offset)
            self.dice.append(dice)
        self.redraw()

    def redraw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        ax, ax2 = self.ax, self.ax_dice
        ax.clear()
        ax2.clear()
        ax.plot(self.steps, self.losses, color="tab:blue", lw=1)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel("loss", color="tab:blue", fontsize=7)
        ax2.plot(self.val_steps, self.dice, "o-", color="tab:orange", ms=3, lw=1)
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("validation Dice", color="tab:orange", fontsize=7)
        ax2.yaxis.set_label_position("right")
        for a in (ax, ax2):
            a.tick_params(labelsize=6)
        self.canvas.draw_idle()
