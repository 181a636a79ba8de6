"""The Train widget's session, free of Qt widgets: the settings of a run captured on the
GUI thread (:class:`TrainRequest`), the run as a generator of core events, and the
run's state, including the best model so far (kept when a run fails)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from psygnal import Signal

from napari_unet.core import (
    BestModelUpdated, StopFlag, TrainedModel, Trainer, TrainingConfig, TrainingResult,
    UNetConfig,
)

from .._session import JobSession


@dataclass(frozen=True)
class TrainRequest:
    """Everything a training run reads, fixed before it starts.

    image: ``(*spatial)`` or ``(*spatial, C)`` when ``rgb`` (NumPy, or lazy zarr / dask
    data, read by the core window by window); labels: a private copy shaped ``spatial``
    (0 = unpainted for sparse strokes), or lazy labels read chunk by chunk; init: the
    model to continue, or None for a new model of ``model_config``.
    """

    what: str
    image: Any
    labels: Any
    rgb: bool
    dense: bool
    config: TrainingConfig
    init: TrainedModel | None = None
    model_config: UNetConfig | None = None


def training_work(request: TrainRequest) -> Callable[[StopFlag], Generator[Any, None, TrainingResult]]:
    """The generator function a :class:`~.._jobs.Job` runs: build a trainer, train."""

    def work(stop: StopFlag) -> Generator[Any, None, TrainingResult]:
        trainer = Trainer([request.image], [request.labels], dense=request.dense,
                          init=request.init, model_config=request.model_config,
                          config=request.config, rgb=request.rgb, stop=stop)
        return (yield from trainer.run())

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
        return f" The best model so far (step {self.best.step}{score}) is kept as the current model."
