"""Budgets in work, not only time: a time budget buys a minimum number of steps (a slow
machine gets a longer run), the learning rate follows the slower of the two, and a run
that ended undertrained says why."""

from __future__ import annotations

import time

import pytest

from napari_unet.core import StopFlag, Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.training import trainer as training_module
from napari_unet.core.training.trainer import (
    MIN_STEPS,
    TrainingStep,
    ValidationScores,
    undertrained_reason,
)
from tests.conftest import isbi_slice

SMALL = UNetConfig(depth=2, base_channels=4)


def _trainer(**config) -> Trainer:
    image, classes = isbi_slice(0, crop=96)
    options = dict(seed=0, device="cpu", batch_size=2, patch_size=(64, 64), validate_every_steps=5)
    options.update(config)
    return Trainer(
        [image], [classes], dense=True, model_config=SMALL, config=TrainingConfig(**options)
    )


def _scores(step: int, mean: float, pixels: int = 10_000) -> ValidationScores:
    return ValidationScores(
        step=step,
        dice=(mean, mean),
        mean_dice=mean,
        elapsed=1.0,
        improved=True,
        pixels=(pixels, pixels),
    )


def test_a_time_budget_too_short_for_the_minimum_steps_runs_on_to_them():
    result = run_to_completion(_trainer(max_time=0.001, min_steps=6).run())
    assert result.steps == 6
    assert result.stop_reason == "min_steps" and result.extended
    assert "past the time budget" in result.summary()
    assert "6 steps in" in result.summary()


def test_a_budget_that_buys_its_minimum_steps_ends_on_time():
    result = run_to_completion(_trainer(max_time=10.0, min_steps=1).run())
    assert result.stop_reason == "max_time" and not result.extended
    assert result.steps >= 1


def test_a_time_budget_counts_from_the_trainers_creation():
    trainer = _trainer(max_time=0.5, min_steps=0)
    time.sleep(0.6)  # the user pressed Train; the strokes took this long to read
    result = run_to_completion(trainer.run())
    assert result.steps == 0 and result.stop_reason == "max_time"
    assert result.elapsed >= 0.6


def test_a_time_budget_keeps_time_for_the_end_of_the_run(monkeypatch):
    monkeypatch.setattr(training_module, "END_RESERVE", 1e6)  # the end would take forever
    result = run_to_completion(_trainer(max_time=600.0, min_steps=0, validate_every_steps=1).run())
    assert result.steps == 1 and result.stop_reason == "max_time"


def test_the_learning_rate_schedule_follows_the_minimum_steps_on_a_slow_machine():
    trainer = _trainer(max_time=10.0, min_steps=40)
    # the time is up (a slow machine) but only half the steps were taken: halfway
    assert trainer._progress(step=20, elapsed=100.0) == pytest.approx(0.5)
    # a fast machine: the steps are done, the time decides
    assert trainer._progress(step=400, elapsed=5.0) == pytest.approx(0.5)


def test_the_step_events_report_progress_towards_the_minimum_steps():
    events = list(_trainer(max_time=0.001, min_steps=4).run())
    progress = [e.progress for e in events if isinstance(e, TrainingStep)]
    assert progress == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_max_steps_is_exact_and_a_run_below_the_needed_steps_is_undertrained():
    result = run_to_completion(_trainer(max_time=None, max_steps=3).run())
    assert result.steps == 3 and result.min_steps == 0
    assert result.undertrained is not None
    assert f"needs at least {MIN_STEPS[2]}" in result.undertrained
    assert "Undertrained" in result.summary()


def _stopped_after(trainer: Trainer, steps: int):
    """Run ``trainer``, pressing Stop after ``steps`` steps; the TrainingResult."""
    trainer.stop = stop = StopFlag()
    events = trainer.run()
    while True:
        try:
            event = next(events)
        except StopIteration as end:
            return end.value
        if isinstance(event, TrainingStep) and event.step == steps:
            stop.request_stop()


def test_a_run_stopped_before_its_minimum_steps_is_undertrained():
    result = _stopped_after(_trainer(max_time=60.0, min_steps=50), steps=2)
    assert result.stop_reason == "stopped" and result.steps == 2
    assert "only 2 steps" in result.undertrained


def test_a_validation_still_rising_at_the_end_is_undertrained():
    rising = [_scores(25, 0.60), _scores(50, 0.70), _scores(75, 0.80)]
    reason = undertrained_reason(75, 60, "max_time", rising)
    assert reason is not None and "still rising" in reason


def test_a_validation_that_levelled_off_is_not_undertrained():
    flat = [_scores(25, 0.60), _scores(50, 0.79), _scores(75, 0.80)]
    assert undertrained_reason(75, 60, "max_time", flat) is None


def test_a_rise_within_the_noise_of_few_held_out_pixels_is_not_called_undertrained():
    few = [_scores(25, 0.70, 100), _scores(50, 0.72, 100), _scores(75, 0.78, 100)]
    assert undertrained_reason(75, 60, "max_time", few) is None  # noise 1/sqrt(100) = 0.1
