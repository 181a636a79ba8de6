"""The Train widget's session, free of Qt widgets: the settings of a run captured on the
GUI thread (:class:`TrainRequest`), the run as a generator of core events, and the
run's state, including the best model so far (kept when a run fails)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from psygnal import Signal

from napari_unet.core import (
    BestModelUpdated,
    StopFlag,
    TrainedModel,
    Trainer,
    TrainingConfig,
    TrainingResult,
    UNetConfig,
)
from napari_unet.core.training.held_out import ModelComparison, compare_on_windows
from napari_unet.core.training.live_labels import LiveLabels
from napari_unet.core.training.training_data import validation_windows

from .._session import JobSession


@dataclass(frozen=True)
class TrainRequest:
    """Everything a training run reads, fixed before it starts.

    image: ``(*spatial)`` or ``(*spatial, C)`` when ``rgb`` (NumPy, or lazy zarr / dask
    data, read by the core window by window); labels: a private copy shaped ``spatial``
    (0 = unpainted for sparse strokes), or lazy labels read chunk by chunk; init: the
    model to continue, or None for a new model of ``model_config``; more_pairs: the
    other (image, labels) pairs of a training set of several images, as ``image`` and
    ``labels``; live: where strokes painted during the run are posted (None: not followed);
    names: the images' layer names (what a project records the round learned from).
    """

    what: str
    image: Any
    labels: Any
    rgb: bool
    dense: bool
    config: TrainingConfig
    init: TrainedModel | None = None
    model_config: UNetConfig | None = None
    more_pairs: tuple[tuple[Any, Any], ...] = ()
    live: LiveLabels | None = None
    names: tuple[str, ...] = ()  # the images' layer names, in the order of ``images``

    @property
    def images(self) -> list[Any]:
        return [self.image, *(image for image, _ in self.more_pairs)]

    @property
    def labels_list(self) -> list[Any]:
        return [self.labels, *(labels for _, labels in self.more_pairs)]


@dataclass(frozen=True)
class TrainOutcome:
    """What a run returns to the widget: the run's result and, for a run that continued
    a model (Retrain, continue), how the new and previous models score on the same
    held-out pixels (None for a new model, or when no step was taken)."""

    result: TrainingResult
    comparison: ModelComparison | None = None
    previous: TrainedModel | None = None

    @property
    def keeps_previous(self) -> bool:
        """The new model validates worse than the previous one, beyond the noise."""
        return self.comparison is not None and self.comparison.new_is_worse


def training_work(
    request: TrainRequest,
) -> Callable[[StopFlag], Generator[Any, None, TrainOutcome]]:
    """The generator function a :class:`~.._jobs.Job` runs: build a trainer, train, and
    (continuing a model) score the previous and the new model on the run's held-out
    pixels, here in the worker thread."""

    def work(stop: StopFlag) -> Generator[Any, None, TrainOutcome]:
        trainer = Trainer(
            request.images,
            request.labels_list,
            dense=request.dense,
            init=request.init,
            model_config=request.model_config,
            config=request.config,
            rgb=request.rgb,
            stop=stop,
            live=request.live,
        )
        result = yield from trainer.run()
        if request.init is None or not result.steps:
            return TrainOutcome(result)
        comparison = compare_on_windows(
            request.init,
            result.model,
            validation_windows(trainer.data),
            device=request.config.device,
        )
        return TrainOutcome(result, comparison, request.init)

    return work


class TrainSession(JobSession):
    """A :class:`JobSession` that also remembers the best model of the current run.

    ``best_changed`` is emitted with each :class:`BestModelUpdated` event received.
    """

    best_changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.best: BestModelUpdated | None = None
        self.best_version = 0  # how many times the best model improved in this run

    def start(self, what: str, stop: StopFlag) -> None:
        super().start(what, stop)
        self.best, self.best_version = None, 0

    def record_best(self, event: BestModelUpdated) -> None:
        self.best = event
        self.best_version += 1
        self.best_changed.emit(event)

    def kept_note(self) -> str:
        """A sentence for messages saying which model of a failed run is kept, if any."""
        if self.best is None:
            return " No model was kept (none was validated yet)."
        dice = self.best.validation_dice
        score = "" if dice is None else f", validation Dice {dice:.3f}"
        return (
            f" The best model so far (step {self.best.step}{score}) is kept as the current model."
        )
