"""Training a U-Net from painted labels, as a generator of typed events.

>>> trainer = Trainer(images, labels, config=TrainingConfig(max_time=30))
>>> result = run_to_completion(trainer.run(), print)   # or iterate in a GUI thread

The best model so far is kept in ``trainer.best`` at every moment, so a stop or an
error never loses it; ``TrainingConfig.checkpoint`` also writes it to disk atomically.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.images import Normalization, channels_first
from ..data.labels import (
    IGNORE,
    ClassInfo,
    TargetEncoder,
    check_labels,
    class_info_from_labels,
    finetuning_encoder,
)
from ..data.lazy_units import SparseUnit
from ..device import (
    configure_cpu_threads,
    describe_compute,
    memory_format,
    precision_policy,
    select_device,
)
from ..errors import UserInputError
from ..io.lazy_arrays import as_array, readable
from ..model.model_file import save_model
from ..model.trained_model import TrainedModel
from ..model.unet import UNet, UNetConfig
from ..oom import TrainingOutOfMemory, free_device_memory, is_out_of_memory, training_advice
from ..prediction import object_scale
from ..reliability import (
    MIN_RELIABLE_PIXELS,
    is_reliable,
    noise_margin,
    per_image_text,
    round_validation_text,
    scored_pixels,
)
from ..stopping import StopFlag
from .adversarial_training import AdversarialBatch
from .augment import AugmentConfig, augment_batch, context_factor
from .live_labels import LiveLabels, apply_edits
from .losses import confusion_counts, dice_from_confusion, segmentation_loss
from .natural_augment import natural_augment
from .training_data import (
    PatchSampler,
    TrainingData,
    build_training_data,
    image_validation_windows,
)

DEFAULT_PATCH = {2: (128, 128), 3: (16, 64, 64)}  # 3D: 4x fewer voxels a step than (32, 64, 64)
# 2D: 4 patches a step. At the same work (steps x patches) 4 learn faster than 8: nuclei dev
# F1 0.682 vs 0.649 after 320 patches; 0.698 vs 0.702 after 640 vs 800 (bench_time_to_forest).
# 3D: 2 patches a step (2x the voxels of a 2D step): on plant3d, 120 s on 2 cores gave 479
# steps and boundary Dice 0.336 with 2 against 87 steps and 0.266 with 8 (benchmarks/bench_3d.py)
# 4 patches for the first 80 steps and 8 after was tried and lost at 60 s in the same runs
# (ISBI membrane Dice 0.695 / 0.700 / 0.702 against 0.701 / 0.714 / 0.716 with 4 throughout,
# nuclei dev F1 0.733 / 0.678 against 0.714 / 0.689; a loaded machine): on a CPU a step's
# cost follows its patches, and 4 a step buys twice the updates.
DEFAULT_BATCH = {2: 4, 3: 2}
# Steps a time budget always buys a new model (half of it when fine-tuning): on a busy or
# slow machine the run goes on past its time until it has taken them, as a result of
# 15 steps is no result (nuclei dev F1 with 8 patches a step: 0.31 at 10 steps, 0.60 at 25,
# 0.65 at 40, 0.70 at 100; with 4 patches: 0.68 at 80 steps; bench_time_to_forest.py).
MIN_STEPS = {2: 80, 3: 60}
# A time budget ends with a last validation and the measurement of the painted objects'
# size (a prediction of up to two 512-pixel windows, about twice a validation): the run
# stops this many (latest) validation times before its budget, so it ends on time.
END_RESERVE = 3.0


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of one training run. At least one of ``max_time`` / ``max_steps`` is set."""

    # seconds from the Trainer's creation (reading the strokes included) to its model,
    # the end-of-run validation and object-size measurement included
    max_time: float | None = 60.0
    max_steps: int | None = None
    batch_size: int | None = None  # patches per step; default per spatial_dims, DEFAULT_BATCH
    patch_size: tuple[int, ...] | None = None  # default per spatial_dims, DEFAULT_PATCH
    learning_rate: float = 3e-3
    finetune_learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    validation_fraction: float = 0.15
    validate_every_steps: int = 25
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int | None = 0
    device: str = "auto"
    threads: int | None = None
    checkpoint: str | None = None  # path: the best model is saved there atomically
    adversarial_eps: float = 0.0  # > 0: PGD adversarial fine-tuning (normalized units)
    adversarial_steps: int = 3
    precision: str = "auto"  # device.PRECISIONS; auto = device.precision_policy's choice
    # 0..2: sets ``augment`` to natural_augment(s) (0 = none, 1 = AugmentConfig(),
    # 2 = CONTRAST_AUGMENT); None = keep
    natural_perturbations: float | None = None
    snapshot_every: float | None = None  # seconds: yield a ModelSnapshot this often (previews)
    # steps a time budget always buys (None = MIN_STEPS of the model's dims, halved when
    # fine-tuning; 0 = none); ignored when max_steps is set (the user asked for that many)
    min_steps: int | None = None
    # class value (1..K) of the membranes between cells, stored in the model (its
    # ClassInfo.boundary_class) for boundary_instances; None keeps a fine-tuned model's
    boundary_class: int | None = None

    def __post_init__(self) -> None:
        if self.max_time is None and self.max_steps is None:
            raise ValueError("Set a time budget (max_time) or a number of steps (max_steps).")
        if self.max_time is not None and not (math.isfinite(self.max_time) and self.max_time > 0):
            raise ValueError(
                f"max_time must be a finite positive number of seconds, got {self.max_time}."
            )  # NaN would compare False and train forever
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}.")
        if not (math.isfinite(self.adversarial_eps) and self.adversarial_eps >= 0):
            raise ValueError(
                f"adversarial_eps must be 0 (off) or a positive number, got {self.adversarial_eps}."
            )
        if self.adversarial_steps < 1:
            raise ValueError(f"adversarial_steps must be at least 1, got {self.adversarial_steps}.")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be in [0, 1).")
        if self.natural_perturbations is not None:
            object.__setattr__(self, "augment", natural_augment(self.natural_perturbations))
        if self.min_steps is not None and self.min_steps < 0:
            raise ValueError(f"min_steps must be 0 (none) or more, got {self.min_steps}.")
        if self.snapshot_every is not None and not self.snapshot_every > 0:
            raise ValueError(f"snapshot_every must be positive, got {self.snapshot_every}.")


@dataclass(frozen=True)
class TrainingStarted:
    classes: ClassInfo
    painted_pixels: int
    validation_pixels: int
    units: int
    device: str
    max_steps: int | None
    max_time: float | None
    compute: str = ""  # "device: cuda:0 (NVIDIA T4), precision: float16 + gradient scaling"
    min_steps: int = 0  # steps the time budget buys at least (see TrainingConfig.min_steps)


@dataclass(frozen=True)
class TrainingStep:
    step: int
    loss: float
    learning_rate: float
    elapsed: float  # seconds
    eta: float | None  # seconds left, None if unknown
    progress: float  # 0..1


@dataclass(frozen=True)
class ValidationScores:
    """Dice of the held-out painted pixels; ``pixels`` says how many each class rests on."""

    step: int
    dice: tuple[float | None, ...]  # per class, None where the class is not in validation
    mean_dice: float | None
    elapsed: float
    improved: bool
    pixels: tuple[int, ...] = ()  # held-out pixels per class
    # mean Dice per training-set image (None: no held-out pixels there); () for one image
    per_image: tuple[float | None, ...] = ()

    @property
    def scored_pixels(self) -> list[int]:
        """Held-out pixels of each class that has a Dice."""
        return scored_pixels(self.pixels, self.dice)

    @property
    def reliable(self) -> bool:
        """Every scored class rests on at least :data:`MIN_RELIABLE_PIXELS` held-out pixels;
        below that a Dice of 1.000 says little (a few dozen pixels of one stroke)."""
        return is_reliable(self.scored_pixels)

    @property
    def noise(self) -> float:
        """Dice differences within this are noise (see :func:`.reliability.noise_margin`)."""
        return noise_margin(self.scored_pixels)

    def summary(self) -> str:
        """One line for people: the Dice, the pixels it rests on, and whether that is enough."""
        if self.mean_dice is None:
            return "Validation: no held-out pixels (paint more strokes to get a figure)."
        counted = self.scored_pixels
        text = (
            f"Validation Dice {self.mean_dice:.3f} on {sum(counted):,} held-out pixels "
            f"(fewest in one class: {min(counted):,})"
        )
        if self.per_image:
            text += f"; per image: {per_image_text(self.per_image)}"
        if self.reliable:
            return text + "."
        return (
            text + f": unreliable, under {MIN_RELIABLE_PIXELS} pixels per class. Paint "
            "more strokes (on other images too) before trusting it."
        )


@dataclass(frozen=True)
class StrokesJoined:
    """Strokes painted during the run joined its training before step ``step`` (the
    first step that may learn from them): ``added`` / ``removed`` training pixels,
    ``latency``: seconds from the oldest of these edits to that step."""

    step: int
    added: int
    removed: int
    latency: float


@dataclass(frozen=True)
class ModelSnapshot:
    """The model as it is at ``step`` (not the best one), for a live preview.

    ``model`` is a copy made in the training thread; training never touches it again,
    so another thread may predict with it.
    """

    step: int
    elapsed: float  # seconds
    model: TrainedModel


@dataclass(frozen=True)
class BestModelUpdated:
    """Yielded after a :class:`ValidationScores` that improved: ``model`` is the new best
    model, a snapshot the trainer never changes again (safe to use in another thread)."""

    step: int
    validation_dice: float | None
    model: TrainedModel


@dataclass
class TrainingResult:
    model: TrainedModel  # the best model of the run
    steps: int
    elapsed: float
    stop_reason: str  # "max_steps", "max_time", "stopped" or "out_of_memory"
    best_validation_dice: float | None
    losses: list[float]
    validations: list[ValidationScores]
    min_steps: int = 0  # steps the time budget bought at least
    undertrained: str | None = None  # why the model needs more training, if it does

    @property
    def extended(self) -> bool:
        """The run went past its time budget to take its minimum number of steps."""
        return self.stop_reason == "min_steps"

    def summary(self) -> str:
        """One line for people: the work done, the validation and any undertraining."""
        rate = self.steps / self.elapsed if self.elapsed > 0 else 0.0
        text = f"{self.steps} steps in {self.elapsed:.1f} s ({rate:.1f} steps/s)"
        if self.extended:
            text += (
                f", past the time budget to reach the {self.min_steps} steps a model "
                "needs (a slow or busy machine)"
            )
        validation = round_validation_text(self.model.rounds[-1]) if self.model.rounds else ""
        if validation:
            text += f"; the kept model's {validation}"
        text += "."
        if self.undertrained:
            text += f" Undertrained: {self.undertrained}"
        return text


TrainingEvent = (
    TrainingStarted
    | TrainingStep
    | ValidationScores
    | BestModelUpdated
    | TrainingOutOfMemory
    | ModelSnapshot
    | StrokesJoined
)


@dataclass
class _RunState:
    """What a training run carries from step to step (``start``: perf_counter seconds
    the time budget counts from)."""

    start: float
    step: int = 0
    reason: str = "max_steps"
    extended: bool = False  # the time budget ran out before the minimum steps
    ema: float | None = None  # of the loss
    last_snapshot: float = 0.0
    losses: list[float] = field(default_factory=list)
    validations: list[ValidationScores] = field(default_factory=list)


@dataclass
class _RunTools:
    """What a training run works with (see :meth:`Trainer._run_tools`)."""

    sampler: PatchSampler
    windows: Any
    weights: torch.Tensor
    optimizer: torch.optim.Optimizer
    gen: torch.Generator
    attack: AdversarialBatch | None
    scaler: Any


class Trainer:
    """Trains a new model, or fine-tunes ``init`` (a :class:`TrainedModel`), on painted labels.

    Parameters
    ----------
    images: arrays ``(*leading, *spatial)``, or with channels at ``channel_axis`` / RGB last.
    labels: one integer array per image, shaped like the image without channels.
    dense: labels are dense masks (every value a class) rather than sparse strokes.
    live: edits of the labels posted while the run goes (:mod:`.live_labels`); they
        join the training before the next step.
    init: a trained model to fine-tune (the "Retrain" step).
    model_config: architecture of a new model; ``in_channels`` and ``num_classes`` are
        filled in from the data.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        *,
        dense: bool = False,
        init: TrainedModel | None = None,
        model_config: UNetConfig | None = None,
        config: TrainingConfig | None = None,
        normalization: Normalization | None = None,
        channel_axis: int | None = None,
        rgb: bool = False,
        stop: StopFlag | None = None,
        live: LiveLabels | None = None,
    ) -> None:
        self.created = time.perf_counter()  # a time budget counts from here (pressing Train)
        self.live = live
        self.config = config or TrainingConfig()
        self.stop = stop or StopFlag()
        self.init = init
        cfg = self.config
        self._seed_and_device()
        labels = _checked_labels(images, labels, channel_axis, rgb)
        if init is not None:  # the model's classes, but these labels' sparse/dense meaning
            encoder = finetuning_encoder(init.classes, labels, dense)
            self.classes, net_cfg, self.normalization = (
                init.classes,
                init.config,
                init.normalization,
            )
        else:
            self.classes = class_info_from_labels(labels, dense=dense)
            encoder = TargetEncoder(self.classes)
            net_cfg = _new_model_config(model_config, images, self.classes, channel_axis, rgb)
            self.normalization = normalization or Normalization()
        if cfg.boundary_class is not None:
            self.classes = self.classes.with_boundary_class(cfg.boundary_class)
        self.net_config = net_cfg
        self.encoder = encoder
        patch = cfg.patch_size or DEFAULT_PATCH[net_cfg.spatial_dims]
        self.batch_size = cfg.batch_size or DEFAULT_BATCH[net_cfg.spatial_dims]
        if len(patch) != net_cfg.spatial_dims:
            raise ValueError(f"patch_size {patch} does not match a {net_cfg.spatial_dims}D model.")
        self.data: TrainingData = build_training_data(
            images,
            labels,
            encoder,
            self.normalization,
            net_cfg.spatial_dims,
            tuple(patch),
            net_cfg.in_channels,
            cfg.validation_fraction,
            self.rng,
            channel_axis,
            rgb,
        )
        self.network = self._place_network(init)
        self.best: TrainedModel = self._snapshot(val_dice=None, steps=0, seconds=0.0)
        self._best_score: float = -math.inf
        self._end_reserve = 0.0  # s kept at the end of a time budget for the final work
        self.checkpoint_error: OSError | None = None

    # ------------------------------------------------------------------ helpers
    def _seed_and_device(self) -> None:
        """Seed torch and NumPy (``rng``), pick the device and its precision, and set the
        CPU threads on a CPU."""
        cfg = self.config
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.device = select_device(cfg.device)
        self.precision = precision_policy(self.device, cfg.precision)
        if self.device.type == "cpu":
            configure_cpu_threads(cfg.threads)

    def _place_network(self, init: TrainedModel | None) -> UNet:
        """A new U-Net of ``net_config`` (weights of ``init`` when fine-tuning) on the
        device, in the device's memory format."""
        network = UNet(self.net_config)
        if init is not None:
            network.load_state_dict(init.state_on_cpu())
        self._format = memory_format(self.device, self.net_config.spatial_dims)
        return network.to(self.device, memory_format=self._format)

    def _snapshot(
        self,
        val_dice: float | None,
        steps: int,
        seconds: float,
        val_pixels: list[int] | None = None,
        per_image: tuple[float | None, ...] = (),
    ) -> TrainedModel:
        summary: dict[str, Any] = dict(self.init.summary) if self.init else {}
        rounds = list(summary.get("rounds", []))
        rounds.append(
            {
                "round": len(rounds) + 1,
                "steps": steps,
                "seconds": round(seconds, 2),
                "painted_pixels": self.data.painted_pixels,
                "validation_dice": val_dice,
                "validation_pixels": val_pixels,  # held-out pixels per scored class
                "finetuned": self.init is not None,
            }
        )
        if per_image:
            rounds[-1]["validation_dice_per_image"] = list(per_image)
        summary["rounds"] = rounds
        net = UNet(self.net_config)
        net.load_state_dict(
            {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        )
        net.eval()
        return TrainedModel(net, self.classes, self.normalization, summary)

    def _context(self) -> tuple[float, ...]:
        """Window / patch size per spatial axis for the warps (3D: none along Z)."""
        factor = context_factor(self.config.augment)
        dims = self.net_config.spatial_dims
        return (1.0,) * (dims - 2) + (factor, factor)

    def _lr(self, progress: float) -> float:
        cfg = self.config
        base = cfg.finetune_learning_rate if self.init is not None else cfg.learning_rate
        if progress < cfg.warmup_fraction:
            return base * max(progress / cfg.warmup_fraction, 0.05)
        t = (progress - cfg.warmup_fraction) / max(1 - cfg.warmup_fraction, 1e-9)
        return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    def _progress(self, step: int, elapsed: float) -> float:
        """How far the run is, 0..1: the steps asked for, or the time budget but never
        before :attr:`min_steps` steps (the learning rate follows whichever is slower)."""
        cfg = self.config
        parts = []
        if cfg.max_steps:
            parts.append(step / cfg.max_steps)
        if cfg.max_time:
            by_time = elapsed / cfg.max_time
            parts.append(min(by_time, step / self.min_steps) if self.min_steps else by_time)
        return min(1.0, max(parts))

    @property
    def min_steps(self) -> int:
        """Steps a time budget buys at least; 0 when ``max_steps`` is set."""
        cfg = self.config
        if cfg.max_steps is not None:
            return 0
        if cfg.min_steps is not None:
            return cfg.min_steps
        floor = MIN_STEPS[self.net_config.spatial_dims]
        return floor // 2 if self.init is not None else floor

    def _validate(
        self, windows: list[tuple[int, tuple[np.ndarray, np.ndarray]]]
    ) -> tuple[list[float | None], list[int], tuple[float | None, ...]]:
        """Per-class Dice of the validation windows (each with its training-set image),
        held-out pixels per class, and the mean Dice per image (() for one image)."""
        k = self.classes.num_classes
        per_image = torch.zeros(self.data.image_count, k, k, dtype=torch.long)
        was_training = self.network.training
        self.network.eval()
        with torch.inference_mode(), self.precision.autocast():
            for i in range(0, len(windows), self.batch_size):
                chunk = windows[i : i + self.batch_size]
                x = torch.from_numpy(np.stack([w[0] for _, w in chunk])).to(self.device)
                y = torch.from_numpy(np.stack([w[1] for _, w in chunk]))
                pred = self.network(x.contiguous(memory_format=self._format)).argmax(1).cpu()
                for j, (image, _) in enumerate(chunk):
                    per_image[image] += confusion_counts(pred[j : j + 1], y[j : j + 1], k)
        self.network.train(was_training)
        conf = per_image.sum(0)
        image_dice: tuple[float | None, ...] = ()
        if self.data.image_count > 1:
            image_dice = tuple(_mean_dice(dice_from_confusion(c)) for c in per_image)
        return dice_from_confusion(conf), conf.sum(1).tolist(), image_dice

    def _save_checkpoint(self) -> None:
        """Write the best model to ``config.checkpoint``; a disk that refuses (full,
        read-only) does not stop training: the error is kept in ``checkpoint_error`` and
        the caller saves ``best`` elsewhere (see ``model_file.save_model_or_rescue``)."""
        if self.config.checkpoint:
            try:
                save_model(self.best, Path(self.config.checkpoint))
                self.checkpoint_error = None
            except OSError as err:
                self.checkpoint_error = err

    # ------------------------------------------------------------------ the run
    def run(self) -> Generator[TrainingEvent, None, TrainingResult]:
        """Train; yields :class:`TrainingStarted`, then :class:`TrainingStep`,
        :class:`ValidationScores` and :class:`BestModelUpdated` events (and
        :class:`ModelSnapshot` every ``config.snapshot_every`` seconds); returns a
        :class:`TrainingResult`."""
        tools = self._run_tools()
        yield self._started()
        run = _RunState(start=self.created)  # the budget includes reading the strokes
        self.network.train()
        while True:
            reason, budget_used = self._end_reason(run)
            if reason is not None:
                break
            yield from self._take_live_edits(run, tools)
            lr = self._lr(self._progress(run.step, budget_used))
            for group in tools.optimizer.param_groups:
                group["lr"] = lr
            try:
                loss = self._train_step(
                    tools.sampler,
                    tools.gen,
                    tools.attack,
                    tools.weights,
                    tools.optimizer,
                    tools.scaler,
                )
            except Exception as err:  # noqa: BLE001 - only out-of-memory is handled
                if not is_out_of_memory(err):
                    raise
                yield self._out_of_memory(run.step)
                reason = "out_of_memory"
                break
            yield from self._after_step(run, tools.windows, loss, lr)
        run.reason = reason
        return (yield from self._finish(run, tools.windows))

    def _take_live_edits(self, run: _RunState, tools: _RunTools) -> Iterator[StrokesJoined]:
        """Strokes painted since the last step join the training (and the validation
        windows, where held-out pixels were painted over) before the next step."""
        edits = self.live.take() if self.live is not None else []
        if not edits:
            return
        applied = apply_edits(self.data, edits, self.encoder, self.net_config.spatial_dims)
        if applied is None:
            return
        tools.sampler.refresh()
        if applied.validation_changed:
            tools.windows = image_validation_windows(self.data)
        latency = time.perf_counter() - applied.oldest_posted
        yield StrokesJoined(run.step + 1, applied.added, applied.removed, latency)

    def _run_tools(self) -> _RunTools:
        """The sampler, validation windows, class weights, optimizer, generator, attack
        (adversarial training) and loss scaler of a run."""
        cfg = self.config
        optimizer = torch.optim.AdamW(
            self.network.parameters(), lr=self._lr(0.0), weight_decay=cfg.weight_decay
        )
        seed = cfg.seed if cfg.seed is not None else int(time.time_ns() % 2**31)
        attack = None
        if cfg.adversarial_eps > 0:
            attack = AdversarialBatch(cfg.adversarial_eps, cfg.adversarial_steps)
        return _RunTools(
            sampler=PatchSampler(self.data, self.rng, self._context()),
            windows=image_validation_windows(self.data),
            weights=torch.from_numpy(self.data.class_weights()).to(self.device),
            optimizer=optimizer,
            gen=torch.Generator().manual_seed(seed),
            attack=attack,
            scaler=self.precision.make_scaler(),  # float16: scale the loss, skip inf steps
        )

    def _started(self) -> TrainingStarted:
        return TrainingStarted(
            self.classes,
            self.data.painted_pixels,
            self.data.validation_pixels,
            len(self.data.units),
            str(self.device),
            self.config.max_steps,
            self.config.max_time,
            describe_compute(self.device, self.precision),
            self.min_steps,
        )

    def _end_reason(self, run: _RunState) -> tuple[str | None, float]:
        """Why the run ends before its next step (None: go on), and the time budget used
        so far (s). A slow machine's budget buys its minimum steps (``run.extended``)."""
        cfg = self.config
        budget_used = time.perf_counter() - run.start + self._end_reserve
        if self.stop.requested:
            return "stopped", budget_used
        if cfg.max_steps is not None and run.step >= cfg.max_steps:
            return "max_steps", budget_used
        if cfg.max_time is not None and budget_used >= cfg.max_time:
            if run.step >= self.min_steps:
                return ("min_steps" if run.extended else "max_time"), budget_used
            run.extended = True
        return None, budget_used

    def _after_step(
        self, run: _RunState, windows: Any, loss: torch.Tensor, lr: float
    ) -> Iterator[TrainingEvent]:
        """Record a finished step's loss; yield its step event, a snapshot when due and
        the validation when due."""
        cfg = self.config
        run.step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise UserInputError(
                "Training diverged (the loss is not finite). The best "
                "model so far is kept; try a lower learning rate."
            )
        run.losses.append(value)
        run.ema = value if run.ema is None else 0.9 * run.ema + 0.1 * value
        elapsed = time.perf_counter() - run.start
        progress = self._progress(run.step, elapsed + self._end_reserve)
        eta = elapsed / progress - elapsed if progress > 0 else None
        yield TrainingStep(run.step, value, lr, elapsed, eta, progress)
        if cfg.snapshot_every is not None and elapsed - run.last_snapshot >= cfg.snapshot_every:
            run.last_snapshot = elapsed
            yield ModelSnapshot(run.step, elapsed, self._snapshot(None, run.step, elapsed))
        last = (cfg.max_steps is not None and run.step >= cfg.max_steps) or progress >= 1.0
        if run.step % cfg.validate_every_steps == 0 or last:
            run.validations.append(self._record(windows, run.step, elapsed, run.ema))
            yield from self._validation_events(run.validations[-1])

    def _finish(
        self, run: _RunState, windows: Any
    ) -> Generator[TrainingEvent, None, TrainingResult]:
        """Validate the last step if not yet done, keep the final model when as good as
        the best, and return the result with the best model's summary completed."""
        step, validations = run.step, run.validations
        elapsed = time.perf_counter() - run.start
        if (
            step
            and run.reason != "out_of_memory"
            and (not validations or validations[-1].step != step)
        ):
            validations.append(self._record(windows, step, elapsed, run.ema))
            yield from self._validation_events(validations[-1])
        if run.reason in ("max_steps", "max_time", "min_steps") and validations:
            self._keep_final_if_as_good(validations[-1], step, elapsed)
        summary = copy.deepcopy(self.best.summary)  # snapshots already yielded stay as they were
        summary["rounds"][-1]["seconds"] = round(elapsed, 2)
        if step:
            summary[object_scale.SUMMARY_KEY] = self._object_diameter(self.best)
        self.best = best = replace(self.best, summary=summary)
        return TrainingResult(
            model=best,
            steps=step,
            elapsed=elapsed,
            stop_reason=run.reason,
            best_validation_dice=best.summary["rounds"][-1]["validation_dice"],
            losses=run.losses,
            validations=validations,
            min_steps=self.min_steps,
            undertrained=undertrained_reason(step, self._needed_steps(), run.reason, validations),
        )

    def _needed_steps(self) -> int:
        """Steps below which a model of this run counts as undertrained."""
        if self.min_steps:
            return self.min_steps
        floor = MIN_STEPS[self.net_config.spatial_dims]
        return floor // 2 if self.init is not None else floor

    def _keep_final_if_as_good(self, final: ValidationScores, step: int, elapsed: float) -> None:
        """At the end of a finished run, keep the final weights rather than an earlier best
        when their validation Dice is within the noise of the held-out pixels
        (``max(0.02, 1 / sqrt(fewest pixels of a scored class))``) of the best's."""
        if final.improved or final.mean_dice is None or not final.pixels:
            return
        if final.mean_dice >= self._best_score - final.noise:
            self.best = self._snapshot(
                final.mean_dice, step, elapsed, final.scored_pixels, final.per_image
            )
            self._save_checkpoint()

    def _object_diameter(self, model: TrainedModel) -> float | None:
        """Median diameter (pixels) of the predicted objects the strokes touch."""
        images, strokes = [], []
        for u in self.data.units:
            if isinstance(u, SparseUnit):  # lazy: only a window around the objects is read
                crop = u.object_crop(object_scale.WINDOW[self.net_config.spatial_dims])
                if crop is not None:
                    images.append(crop[0])
                    strokes.append(crop[1])
                continue
            images.append(u.image)
            strokes.append(np.where(u.targets != IGNORE, u.targets, u.validation))
        return object_scale.painted_object_diameter(model, images, strokes)

    def _validation_events(self, scores: ValidationScores) -> Iterator[TrainingEvent]:
        yield scores
        if scores.improved:
            yield BestModelUpdated(scores.step, scores.mean_dice, self.best)

    def _train_step(
        self,
        sampler: PatchSampler,
        gen: torch.Generator,
        attack: Any,
        weights: torch.Tensor,
        opt: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> torch.Tensor:
        """One optimizer step on a fresh batch; returns the loss. With a scaler (float16),
        the loss is scaled before ``backward`` and a step whose gradients are not finite
        is skipped, as :class:`torch.amp.GradScaler` does."""
        cfg, dev = self.config, self.device
        xb, yb = sampler.sample(self.batch_size)
        x = torch.from_numpy(xb).to(dev)
        y = torch.from_numpy(yb).to(dev)
        x, y = augment_batch(x, y, cfg.augment, gen, self.data.patch_size)
        x = x.contiguous(memory_format=self._format)
        if attack is not None:
            x = attack.perturb(self.network, x, y, weights)
        with self.precision.autocast():
            logits = self.network(x)
        loss = segmentation_loss(logits, y, weights)
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)  # unscales; skips the step if a gradient is inf or nan
            scaler.update()
        return loss

    def _out_of_memory(self, step: int) -> TrainingOutOfMemory:
        """Stop event after an out-of-memory error: the cache freed, what to lower said."""
        free_device_memory(self.device)
        patch = self.config.patch_size or DEFAULT_PATCH[self.net_config.spatial_dims]
        return TrainingOutOfMemory(
            step,
            training_advice(
                step, self.device, self.batch_size, tuple(patch), self.net_config.base_channels
            ),
        )

    def _record(
        self, windows: list, step: int, elapsed: float, ema: float | None
    ) -> ValidationScores:
        """Score validation pixels (or, without them, the smoothed loss); keep the best model."""
        dice: tuple[float | None, ...] = ()
        pixels: tuple[int, ...] = ()
        per_image: tuple[float | None, ...] = ()
        mean: float | None = None
        if windows:
            began = time.perf_counter()
            scores, counts, per_image = self._validate(windows)
            self._end_reserve = END_RESERVE * (time.perf_counter() - began)
            dice, pixels = tuple(scores), tuple(int(n) for n in counts)
            mean = _mean_dice(dice)
        score = mean if mean is not None else -(ema if ema is not None else math.inf)
        improved = score >= self._best_score
        scores = ValidationScores(step, dice, mean, elapsed, improved, pixels, per_image)
        if improved:
            self._best_score = score
            self.best = self._snapshot(
                mean, step, elapsed, scores.scored_pixels if mean is not None else None, per_image
            )
            self._save_checkpoint()
        return scores


def _mean_dice(dice: Sequence[float | None]) -> float | None:
    """Mean of the classes' Dice that are scored; None when none is."""
    scored = [d for d in dice if d is not None]
    return float(np.mean(scored)) if scored else None


def undertrained_reason(
    steps: int, needed: int, stop_reason: str, validations: Sequence[ValidationScores]
) -> str | None:
    """Why a run's model needs more training, or None: it took fewer than ``needed``
    steps, or its validation Dice was still rising (the last validation beats every
    one of the first two thirds of the run by more than the noise of its pixels)."""
    if stop_reason == "out_of_memory":
        return None
    if steps < needed:
        return (
            f"only {steps} steps were taken; a model needs at least {needed}. Continue "
            "training (or give a longer budget)."
        )
    scored = [v for v in validations if v.mean_dice is not None]
    if len(scored) < 3:
        return None
    last = scored[-1]
    early = [v.mean_dice for v in scored[:-1] if v.step <= 2 * last.step / 3]
    counted = [n for n, d in zip(last.pixels, last.dice) if d is not None and n > 0]
    noise = max(0.02, 1.0 / math.sqrt(min(counted))) if counted else 0.02
    if early and last.mean_dice - max(early) > noise:
        return (
            f"the validation Dice was still rising ({max(early):.3f} -> "
            f"{last.mean_dice:.3f} over the last third of the run). Continue training "
            "to let it level off."
        )
    return None


def warm_up() -> None:
    """Build a throw-away optimizer once, so PyTorch's first-use imports (``torch._dynamo``,
    about 1 s of module loading that holds the GIL) happen now, not in a training thread
    while the GUI must stay responsive. Cheap after the first call."""
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def _channels(image: np.ndarray, channel_axis: int | None, rgb: bool) -> int:
    if rgb:
        return int(image.shape[-1])
    if channel_axis is not None:
        return int(image.shape[channel_axis])
    return 1


def _checked_labels(
    images: Sequence[np.ndarray], labels: Sequence[Any], channel_axis: int | None, rgb: bool
) -> list[Any]:
    """The labels, readable (NumPy stays NumPy, the rest stays lazy), one per image and
    each shaped like its image without channels (checked before the classes are read)."""
    labels = [readable(lab) for lab in labels]
    if len(images) != len(labels):
        raise UserInputError(
            f"Got {len(images)} images but {len(labels)} label images; "
            "give one label image per image."
        )
    for n, (image, lab) in enumerate(zip(images, labels)):
        check_labels(
            lab,
            channels_first(image, channel_axis, rgb).shape[1:],
            name=f"labels of image {n + 1}",
        )
    return labels


def _new_model_config(
    model_config: UNetConfig | None,
    images: Sequence[np.ndarray],
    classes: ClassInfo,
    channel_axis: int | None,
    rgb: bool,
) -> UNetConfig:
    """``model_config`` (default :class:`UNetConfig`) with the images' channels and the
    labels' classes filled in."""
    first = as_array(images[0]) if len(images) else np.zeros((1, 1))  # its shape
    channels = _channels(first, channel_axis, rgb)
    return replace(
        model_config or UNetConfig(), in_channels=channels, num_classes=classes.num_classes
    )


def train(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], **kwargs: Any
) -> Generator[TrainingEvent, None, TrainingResult]:
    """Shortcut for ``Trainer(images, labels, **kwargs).run()``."""
    return Trainer(images, labels, **kwargs).run()
