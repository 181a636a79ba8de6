"""Small matplotlib plots in the widgets, drawn in napari's theme colours: the live plot
of training loss and validation Dice, and a base class for the others."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

# colour-blind-safe (Okabe-Ito) line colours, readable on napari's dark and light themes
BLUE = "#56b4e9"
ORANGE = "#e69f00"
LOSS_COLOUR = BLUE
DICE_COLOUR = ORANGE


@dataclass(frozen=True)
class PlotColours:
    """Colours of a plot's parts as ``#rrggbb``."""

    background: str
    text: str
    grid: str

    @classmethod
    def from_theme(cls, name: str) -> PlotColours:
        """The colours of napari's theme ``name`` ("dark", "light", "system", ...)."""
        from napari.utils.theme import get_theme

        theme = get_theme(name)
        return cls(theme.background.as_hex(), theme.text.as_hex(), theme.highlight.as_hex())


class ThemedPlot:
    """A matplotlib figure in a Qt canvas whose colours follow napari's theme.

    Subclasses draw into ``self.figure`` and call :meth:`_apply_colours` after they
    re-create axes text (e.g. after ``ax.clear()``).
    """

    def __init__(self, figsize: tuple[float, float], min_height: int, **figure_kwargs: Any) -> None:
        self.figure = Figure(figsize=figsize, dpi=90, **figure_kwargs)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(min_height)
        self.colours = PlotColours.from_theme("dark")
        self._viewer: Any = None

    def set_theme(self, name: str) -> None:
        """Recolour the plot for napari's theme ``name``."""
        self.colours = PlotColours.from_theme(name)
        self._apply_colours()
        self.canvas.draw_idle()

    def follow_theme(self, viewer: Any) -> None:
        """Use ``viewer``'s theme now and whenever it changes (until the canvas is gone)."""
        self._viewer = viewer
        self.set_theme(viewer.theme)
        viewer.events.theme.connect(self._on_theme)
        self.canvas.destroyed.connect(self._stop_following)

    def _on_theme(self, event: Any = None) -> None:
        if self._viewer is not None:
            self.set_theme(self._viewer.theme)

    def _stop_following(self, *_: Any) -> None:
        if self._viewer is not None:
            self._viewer.events.theme.disconnect(self._on_theme)
            self._viewer = None

    def _apply_colours(self) -> None:
        c = self.colours
        self.figure.set_facecolor(c.background)
        for ax in self.figure.axes:
            ax.set_facecolor(c.background)
            for spine in ax.spines.values():
                spine.set_color(c.grid)
            ax.tick_params(colors=c.text, which="both")
            for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
                if text.get_color() not in (LOSS_COLOUR, DICE_COLOUR):
                    text.set_color(c.text)
            legend = ax.get_legend()
            if legend is not None:
                legend.get_frame().set_facecolor(c.background)
                legend.get_frame().set_edgecolor(c.grid)
                for text in legend.get_texts():
                    text.set_color(c.text)


class TrainingPlot(ThemedPlot):
    """Loss per step (left axis) and validation Dice (right axis, 0..1).

    Redraws at most every ``min_interval`` seconds so the GUI thread stays free, and
    then, while the data fit the axes, only the two lines over a saved background
    (blitting: a few ms instead of a full draw of axes and text, 60+ ms). The axes get
    headroom (the run's expected steps, the loss's first peak) so a full draw is rare.
    ``canvas`` is the Qt widget to put in a layout.
    """

    def __init__(self, min_interval: float = 1.0) -> None:
        super().__init__(figsize=(3.2, 1.8), min_height=150)
        self.figure.subplots_adjust(left=0.14, right=0.86, bottom=0.22, top=0.95)
        self.ax = self.figure.add_subplot(111)
        self.ax_dice = self.ax.twinx()
        (self._loss_line,) = self.ax.plot([], [], color=LOSS_COLOUR, lw=1, animated=True)
        (self._dice_line,) = self.ax_dice.plot(
            [], [], "o-", color=DICE_COLOUR, ms=3, lw=1, animated=True
        )
        self.ax.set_xlabel("training step", fontsize=7)
        self.ax.set_ylabel("loss", color=LOSS_COLOUR, fontsize=7)
        self.ax_dice.set_ylim(0, 1)
        self.ax_dice.set_ylabel("validation Dice", color=DICE_COLOUR, fontsize=7)
        self.ax_dice.yaxis.set_label_position("right")
        for a in (self.ax, self.ax_dice):
            a.tick_params(labelsize=6)
        self._apply_colours()
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._background: Any = None  # the figure without the lines, after a full draw
        self.full_draws = 0  # how many times the axes were drawn (tests read it)
        self.canvas.mpl_connect("draw_event", self._on_full_draw)
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.dice: list[float] = []
        self._offset = 0
        self._expected = 0  # steps the run is expected to take, if known
        self._rescale()
        self._background = None
        self.canvas.draw_idle()

    def new_round(self) -> None:
        """Continue the step axis after the previous run (retraining rounds)."""
        self._offset = self.steps[-1] if self.steps else 0
        self._expected = 0

    def add_loss(self, step: int, loss: float, expected_steps: float | None = None) -> None:
        """One step's loss; ``expected_steps``: the run's estimated total (x-axis room)."""
        self.steps.append(step + self._offset)
        self.losses.append(loss)
        if expected_steps:
            self._expected = int(expected_steps)
        self.redraw()

    def add_dice(self, step: int, dice: float | None) -> None:
        if dice is not None:
            self.val_steps.append(step + self._offset)
            self.dice.append(dice)
        self.redraw()

    def redraw(self, force: bool = False) -> None:
        """Update the two lines (``force``: now, not after ``min_interval``): blit them
        while the data fit the axes, else rescale and draw everything."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._loss_line.set_data(self.steps, self.losses)
        self._dice_line.set_data(self.val_steps, self.dice)
        if self._background is not None and self._fits():
            self._blit()
            return
        self._rescale()
        self._background = None
        self.canvas.draw_idle()

    def _fits(self) -> bool:
        """The data are inside the axes, and the x-axis is not far too long for the run."""
        if not self.steps:
            return True
        x0, x1 = self.ax.get_xlim()
        top = self.ax.get_ylim()[1]
        too_long = self._expected and x1 > 3 * (self._offset + self._expected) + 10
        return self.steps[-1] <= x1 and max(self.losses) <= top and not too_long

    def _rescale(self) -> None:
        """Axes with room: x to 20% past the run's expected end (or 50% past the last
        step: early estimates grow as steps get faster), the loss from 0 to 10% above its
        highest value."""
        if not self.steps:
            self.ax.set_xlim(0, 1)
            self.ax.set_ylim(0, 1)
            return
        end = max(self.steps[-1] * 1.5, 1.2 * (self._offset + self._expected), 1)
        self.ax.set_xlim(0, end)
        self.ax.set_ylim(0, max(self.losses) * 1.1 or 1.0)

    def _on_full_draw(self, _event: Any = None) -> None:
        """After a full draw (of the axes without the animated lines): keep it as the
        background, then draw the lines on it."""
        self.full_draws += 1
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._draw_lines()

    def _draw_lines(self) -> None:
        self.ax.draw_artist(self._loss_line)
        self.ax_dice.draw_artist(self._dice_line)

    def _blit(self) -> None:
        self.canvas.restore_region(self._background)
        self._draw_lines()
        self.canvas.blit(self.figure.bbox)
