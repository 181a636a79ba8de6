"""The Train widget's run section: budget, robust training and live preview settings,
Start / Stop, the status line and the live plot, which follow the run's events."""

from __future__ import annotations

import time
from typing import Any

from magicgui.widgets import CheckBox, Container, FloatSpinBox, Label, PushButton, SpinBox

from napari_unet.core import (
    TrainingConfig,
    TrainingResult,
    TrainingStarted,
    TrainingStep,
    UserInputError,
    ValidationScores,
)
from napari_unet.core.oom import TrainingOutOfMemory
from napari_unet.core.training.natural_augment import DEFAULT_STRENGTH, MAX_STRENGTH

from .._device import device_picker
from .._plot import TrainingPlot
from .preview import SNAPSHOT_SECONDS

STOP_REASONS = {
    "stopped": "stopped",
    "max_time": "time budget used",
    "min_steps": "minimum steps done",
    "max_steps": "all steps done",
    "out_of_memory": "out of memory",
}


def fmt_time(seconds: float | None) -> str:
    """``m:ss``, or ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def done_message(result: TrainingResult) -> str:
    """The end of a run in words: why it ended, the work done (steps, time, steps/s, a
    budget extended on a slow machine), the validation and its pixels, undertraining."""
    reason = STOP_REASONS.get(result.stop_reason, result.stop_reason)
    advice = (
        "Press 'Continue training' (or Segment to see it as it is)."
        if result.undertrained
        else "Segment to see the result."
    )
    return f"Done ({reason}): {result.summary()} {advice}"


class RunSection:
    """``settings`` widgets, ``buttons`` (Start, Stop), ``status``, ``validation`` (the
    last validation in words) and ``plot``."""

    def __init__(self) -> None:
        self.max_time = SpinBox(
            label="Time budget (s)",
            min=0,
            max=36000,
            value=60,
            tooltip="Stop after this many seconds (0 = no time limit).",
        )
        self.max_steps = SpinBox(
            label="Max steps",
            min=0,
            max=1_000_000,
            value=0,
            tooltip="Stop after this many training steps (0 = no limit).",
        )
        self.live_preview = CheckBox(
            text="Live preview of the slice in view",
            value=True,
            tooltip="Every few seconds, show the current model's "
            "prediction of the slice in view in a 'preview' layer.",
        )
        self.robust_eps = FloatSpinBox(
            label="Robust eps (/255)",
            min=0.0,
            max=32.0,
            step=1.0,
            value=0.0,
            tooltip="0 = off. Otherwise train on adversarial versions of the patches made on "
            "the fly (PGD, 3 steps) with this perturbation size, in 1/255 of the "
            "normalized intensity range: the model becomes harder to fool (check it "
            "with the Adversarial attack widget). A step takes about 3x longer.",
        )
        self.natural = FloatSpinBox(
            label="Natural perturbations",
            min=0.0,
            max=MAX_STRENGTH,
            step=0.1,
            value=DEFAULT_STRENGTH,
            tooltip="Strength of the natural perturbations added to the training patches "
            "(noise, blur, rotation, zoom): 1 = the default augmentation, 0 = the "
            "legacy one (flips and small intensity changes only), 2 = the default "
            "plus brightness/contrast and gamma changes (costs accuracy on images "
            "like the painted one). Check the effect with the Adversarial widget's "
            "robustness curves.",
        )
        self.start = PushButton(text="Start training")
        self.stop = PushButton(
            text="Stop", enabled=False, tooltip="End the run now and keep its best model."
        )
        self.continue_run = PushButton(
            text="Continue training",
            visible=False,
            tooltip="The last run ended undertrained: train its model further on the same "
            "strokes, with the same budget.",
        )
        self.status = Label(value="Paint a few strokes of each class, then Start training.")
        self.validation = Label(value="")
        self.plot = TrainingPlot()
        self.settings = [
            self.max_time,
            self.max_steps,
            self.robust_eps,
            self.live_preview,
            self.natural,
        ]
        self.device = device_picker()
        self.buttons = Container(
            widgets=[self.start, self.stop, self.continue_run], layout="horizontal", labels=False
        )
        self._last_status = 0.0

    def config(self, max_time: float | None, overrides: dict[str, Any]) -> TrainingConfig:
        """The :class:`TrainingConfig` of a run of ``max_time`` seconds (0/None = no limit)."""
        steps = self.max_steps.value or None
        if not max_time and not steps:
            raise UserInputError("Set a time budget or a number of steps (both are 0).")
        options: dict[str, Any] = {
            "adversarial_eps": self.robust_eps.value / 255,
            "natural_perturbations": self.natural.value,
            "device": self.device.value,
            # the current weights every few seconds: a preview long before the first validation
            "snapshot_every": SNAPSHOT_SECONDS if self.live_preview.value else None,
        }
        options.update(overrides)
        return TrainingConfig(max_time=max_time or None, max_steps=steps, **options)

    def new_run(self, what: str, continues: bool) -> None:
        self.plot.new_round() if continues else self.plot.clear()
        self.status.value = f"{what}: preparing the data…"

    def show_event(self, event: Any) -> None:
        """Follow one training event in the status line and the plot."""
        if isinstance(event, TrainingStarted):
            floor = (
                f"; at least {event.min_steps} steps, past the budget on a slow machine"
                if event.min_steps and event.max_time
                else ""
            )
            self.status.value = (
                f"Learning from {event.painted_pixels} painted pixels "
                f"({event.validation_pixels} kept aside to validate); "
                f"{event.compute or event.device}{floor}."
            )
        elif isinstance(event, TrainingStep):
            expected = event.step / event.progress if event.progress > 0 else None
            self.plot.add_loss(event.step, event.loss, expected)
            now = time.perf_counter()
            if now - self._last_status > 0.25:
                self._last_status = now
                self.status.value = (
                    f"step {event.step} · {fmt_time(event.elapsed)} elapsed · "
                    f"about {fmt_time(event.eta)} left · loss {event.loss:.3f}"
                )
        elif isinstance(event, ValidationScores):
            self.plot.add_dice(event.step, event.mean_dice)
            self.validation.value = event.summary()
        elif isinstance(event, TrainingOutOfMemory):
            self.status.value = event.message

    def set_running(self, running: bool) -> None:
        self.start.enabled = not running
        self.stop.enabled = running
        if running:
            self.continue_run.visible = False

    def offer_continue(self, result: TrainingResult) -> None:
        """Show 'Continue training' after a run that ended undertrained."""
        self.continue_run.visible = bool(result.undertrained)

    @property
    def continue_offered(self) -> bool:
        """'Continue training' is shown (whether or not the window is on screen)."""
        return not self.continue_run.native.isHidden()
