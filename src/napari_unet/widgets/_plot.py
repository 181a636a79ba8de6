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
        self.figure = Figure(figsize=(3.2, 1.8), dpi=90)
        self.figure.subplots_adjust(left=0.14, right=0.86, bottom=0.22, top=0.95)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(150)
        self.ax = self.figure.add_subplot(111)
        self.ax_dice = self.ax.twinx()
        (self._loss_line,) = self.ax.plot([], [], color="tab:blue", lw=1)
        (self._dice_line,) = self.ax_dice.plot([], [], "o-", color="tab:orange", ms=3, lw=1)
        self.ax.set_xlabel("training step", fontsize=7)
        self.ax.set_ylabel("loss", color="tab:blue", fontsize=7)
        self.ax_dice.set_ylim(0, 1)
        self.ax_dice.set_ylabel("validation Dice", color="tab:orange", fontsize=7)
        self.ax_dice.yaxis.set_label_position("right")
        for a in (self.ax, self.ax_dice):
            a.tick_params(labelsize=6)
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
        """Update the two lines in place (no re-layout: cheap on the GUI thread)."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._loss_line.set_data(self.steps, self.losses)
        self._dice_line.set_data(self.val_steps, self.dice)
        self.ax.relim()
        self.ax.autoscale_view()
        if self.steps:
            self.ax.set_xlim(0, max(self.steps[-1], 1))
        self.canvas.draw_idle()
