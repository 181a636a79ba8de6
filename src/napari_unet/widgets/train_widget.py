"""The Train widget: train a U-Net from painted strokes, watch it learn, retrain after
correcting its segmentation. All computation is in :mod:`napari_unet.core`; this file
turns layers into core calls and core events into plots, labels and notifications."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
    Table,
)
from napari.layers import Image, Labels
from qtpy.QtCore import QTimer

from napari_unet.core import (
    PRESETS,
    StopFlag,
    Trainer,
    TrainingConfig,
    TrainingResult,
    TrainingStarted,
    TrainingStep,
    UNetConfig,
    UserInputError,
    ValidationScores,
    predict,
    save_model,
)
from napari_unet.core.training import warm_up

from ._base import ViewerWidget
from ._export import add_export_button
from ._jobs import Job, notify_error, notify_info
from ._layers import (
    SEEDED_ROLES,
    class_counts,
    colour_hex,
    current_index,
    image_array,
    labels_array,
    labels_layers,
    role_of,
    spatial_shape,
    write_output,
)
from ._plot import TrainingPlot
from .settings import PersistentValues

PREVIEW_INTERVAL_MS = 3000
HISTORY_COLUMNS = ["painted pixels", "validation Dice", "time (s)"]


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def merge_training_labels(layers: list[Labels]) -> np.ndarray:
    """Merge label layers into one training array: strokes win over segmentation.

    Plugin-made segmentation layers are laid down first, the user's own layers (strokes)
    on top, so a painted pixel always overrides the model's prediction; 0 = unpainted.
    """
    if not layers:
        raise UserInputError("Pick at least one labels layer to learn from (your strokes "
                             "and/or the corrected segmentation).")
    ordered = sorted(layers, key=lambda lay: 0 if role_of(lay) in SEEDED_ROLES else 1)
    merged = np.array(labels_array(ordered[0]), copy=True)
    for lay in ordered[1:]:
        data = labels_array(lay)
        if data.shape != merged.shape:
            raise UserInputError(f"The labels layers have different shapes ({merged.shape} and "
                                 f"{data.shape}); pick layers made for the same image.")
        painted = data != 0
        merged = merged.astype(np.promote_types(merged.dtype, data.dtype), copy=False)
        merged[painted] = data[painted]
    return merged


def _show_as_text(table: Table, rows: list[list[str]]) -> None:
    """Show cells exactly as formatted (magicgui would turn "0.029" into "2.900e-02")."""
    from qtpy.QtWidgets import QStyledItemDelegate, QTableWidgetItem

    native = table.native
    if type(native.itemDelegate()) is not QStyledItemDelegate:
        native.setItemDelegate(QStyledItemDelegate(native))  # magicgui's reformats numbers
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            native.setItem(r, c, QTableWidgetItem(text))
    native.resizeColumnsToContents()


class TrainWidget(ViewerWidget):
    """Train a new model from strokes, or continue / retrain the current one."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        warm_up()  # PyTorch's first-use imports here, not during a run
        self._image = self._image_picker()
        self._labels = ComboBox(
            label="Strokes", choices=self._labels_choices,
            tooltip="The Labels layer you painted: 1 = background, 2 = object, 3.. = more "
                    "classes; 0 (unpainted) is ignored. Only layers shaped like the image.")
        self._classes = Label(label="Classes painted", value="")
        self._label_kind = ComboBox(
            label="Labels are",
            choices=[("strokes (0 = not painted)", "sparse"),
                     ("complete masks (every pixel)", "dense")],
            value="sparse", tooltip="Strokes: only painted pixels teach the model. Complete "
                                    "masks: every value, including 0, is a class.")
        self._model_source = ComboBox(
            label="Model", choices=[("new model", "new"), ("continue current model", "continue")],
            value="new", tooltip="Start from scratch, or keep training the current model "
                                 "(trained here or loaded from a file).")
        self._preset = ComboBox(
            label="New model size",
            choices=[("tiny (fastest)", "tiny"), ("fast (recommended)", "fast"),
                     ("large (GPU)", "large"), ("classic U-Net (GPU)", "classic")],
            value="fast", tooltip="Bigger models can learn more but train slower on a CPU.")
        self._dims = ComboBox(
            label="New model sees",
            choices=[("2D slices", 2), ("3D volumes", 3)], value=2,
            tooltip="2D: learns from and segments each 2D slice of a stack. "
                    "3D: uses neighbouring slices too (needs a 3D stack and strokes on several slices).")
        self._max_time = SpinBox(label="Time budget (s)", min=0, max=36000, value=60,
                                 tooltip="Stop after this many seconds (0 = no time limit).")
        self._max_steps = SpinBox(label="Max steps", min=0, max=1_000_000, value=0,
                                  tooltip="Stop after this many training steps (0 = no limit).")
        self._live_preview = CheckBox(text="Live preview of the slice in view", value=True,
                                      tooltip="Every few seconds, show the current model's "
                                              "prediction of the slice in view in a 'preview' layer.")
        self._robust_eps = FloatSpinBox(
            label="Robust training eps (/255)", min=0.0, max=32.0, step=1.0, value=0.0,
            tooltip="0 = off. Otherwise train on adversarial versions of the patches made on "
                    "the fly (PGD, 3 steps) with this perturbation size, in 1/255 of the "
                    "normalized intensity range: the model becomes harder to fool (check it "
                    "with the Adversarial attack widget). A step takes about 3x longer.")
        self._start = PushButton(text="Start training")
        self._stop = PushButton(text="Stop (keep best model)", enabled=False)
        self._status = Label(value="Paint a few strokes of each class, then Start training.")
        self._validation = Label(value="")
        self._model_info = Label(label="Current model", value="none yet")
        self._save = PushButton(text="Save model…")
        self._load = PushButton(text="Load model…")
        self._retrain_header = Label(value="<b>Retrain</b> after correcting the segmentation:")
        self._retrain_from = Select(
            label="Learn from", choices=self._retrain_choices,
            tooltip="Label layers to learn from: your strokes and the corrected "
                    "'segmentation' layer. Where both have a value, your strokes win.")
        self._retrain_time = SpinBox(label="Retrain time (s)", min=1, max=3600, value=20)
        self._retrain = PushButton(text="Retrain current model")
        self._history = Table(value={"data": [], "index": [], "columns": HISTORY_COLUMNS},
                              label="Training rounds")
        self._history.read_only = True
        self._history.min_height = 110

        buttons = Container(widgets=[self._start, self._stop], layout="horizontal", labels=False)
        files = Container(widgets=[self._save, self._load], layout="horizontal", labels=False)
        self.extend([
            self._image, self._labels, self._classes, self._label_kind, self._model_source,
            self._preset, self._dims, self._max_time, self._max_steps, self._robust_eps,
            self._live_preview, buttons, self._status, self._validation,
        ])
        self._plot = TrainingPlot()
        self._plot.follow_theme(napari_viewer)
        self.content.layout().addWidget(self._plot.canvas)
        self.extend([self._model_info, files, self._retrain_header, self._retrain_from,
                     self._retrain_time, self._retrain, self._history])
        self._export = add_export_button(self)  # "Export for bioimage.io…" under Save/Load

        self._image.changed.connect(self._on_image_changed)
        self._labels.changed.connect(self._on_labels_changed)
        self._start.changed.connect(lambda *_: self.start_training())
        self._stop.changed.connect(lambda *_: self.stop())
        self._retrain.changed.connect(lambda *_: self.start_retraining())
        self._save.changed.connect(lambda *_: self._ask_save())
        self._load.changed.connect(lambda *_: self._ask_load())

        # extra TrainingConfig fields (batch_size, patch_size...) for scripts and tests
        self.training_overrides: dict[str, Any] = {}
        self._trainer: Trainer | None = None
        self._run_image: Image | None = None
        self._best_version = 0
        self._preview_key: tuple | None = None
        self._preview_job: Job | None = None
        self._last_status = 0.0
        self._watched: Labels | None = None
        self._preview_timer = QTimer(self.native)
        self._preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self._preview_timer.timeout.connect(self._preview_tick)
        self._class_timer = QTimer(self.native)
        self._class_timer.setSingleShot(True)
        self._class_timer.setInterval(300)
        self._class_timer.timeout.connect(self._update_classes)
        self._settings = PersistentValues("train", {
            "label_kind": self._label_kind, "model_source": self._model_source,
            "preset": self._preset, "dims": self._dims, "max_time": self._max_time,
            "max_steps": self._max_steps, "live_preview": self._live_preview,
            "retrain_time": self._retrain_time, "robust_eps": self._robust_eps,
        })
        self._finish_setup()
        self._retrain_from.value = [lay for _n, lay in self._retrain_choices()]
        self._on_model_changed(self._store.model)
        self._on_labels_changed()

    # ------------------------------------------------------------------ choices
    def _labels_choices(self, _w: Any = None) -> list:
        image = self._image.value if hasattr(self, "_image") else None
        if image is None:
            return []
        return labels_layers(self._viewer, spatial_shape(image))

    def _retrain_choices(self, _w: Any = None) -> list:
        image = self._image.value if hasattr(self, "_image") else None
        if image is None:
            return []
        return labels_layers(self._viewer, spatial_shape(image))

    def _on_image_changed(self, *_: Any) -> None:
        self._labels.reset_choices()
        self._retrain_from.reset_choices()
        if not self._retrain_from.value:
            self._retrain_from.value = [lay for _n, lay in self._retrain_choices()]

    def _on_layers_changed(self, event: Any = None) -> None:
        super()._on_layers_changed()
        new = getattr(event, "value", None)
        if self._closed or not isinstance(new, Labels):
            return
        offered = [lay for _n, lay in self._retrain_choices()]
        if any(new is lay for lay in offered):  # a new labels layer counts by default
            self._retrain_from.value = [*self._retrain_from.value, new]

    # ------------------------------------------------------------------ classes display
    def _on_labels_changed(self, *_: Any) -> None:
        layer = self._labels.value
        if self._watched is not None and self._watched is not layer:
            for ev in (self._watched.events.paint, self._watched.events.data):
                ev.disconnect(self._schedule_classes)
        if layer is not None and self._watched is not layer:
            layer.events.paint.connect(self._schedule_classes)
            layer.events.data.connect(self._schedule_classes)
        self._watched = layer
        self._update_classes()

    def _schedule_classes(self, *_: Any) -> None:
        if not self._closed:
            self._class_timer.start()

    def _update_classes(self) -> None:
        if self._closed:
            return
        layer = self._labels.value
        if layer is None:
            self._classes.value = "no labels layer: add one (Labels button) and paint"
            return
        counts = class_counts(labels_array(layer))
        if not counts:
            self._classes.value = "nothing painted yet"
            return
        names = {1: "background", 2: "object"}
        parts = [f"<span style='color:{colour_hex(layer, v)}'>&#9632;</span> "
                 f"{v} {names.get(v, 'class')} ({n} px)" for v, n in counts.items()]
        self._classes.value = "<br>".join(parts)

    # ------------------------------------------------------------------ model
    def _on_model_changed(self, model: Any) -> None:
        if self._closed:
            return
        self._model_info.value = model.describe() if model is not None else "none yet"
        rows, index = [], []
        for r in (model.rounds if model is not None else []):
            dice = r.get("validation_dice")
            index.append(f"round {r.get('round')}")
            seconds = r.get("seconds")
            rows.append([str(r.get("painted_pixels")), "–" if dice is None else f"{dice:.3f}",
                         "–" if seconds is None else f"{float(seconds):.1f}"])
        self._history.value = {"data": rows, "index": index, "columns": HISTORY_COLUMNS}
        _show_as_text(self._history, rows)

    def save_model_to(self, path: str | Path) -> Path | None:
        model = self._store.model
        if model is None:
            notify_error(UserInputError("No model yet: train one (or load a file) first."),
                         "Save model")
            return None
        try:
            saved = save_model(model, path)
        except (OSError, ValueError) as err:
            notify_error(err, "Save model")
            return None
        self._store.path = saved
        notify_info(f"Model saved to {saved}")
        return saved


    def _ask_save(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self.native, "Save model", "unet_model.pt",
                                              "napari-unet model (*.pt)")
        if path:
            self.save_model_to(path)


    # ------------------------------------------------------------------ training
    def _config(self, max_time: float | None) -> TrainingConfig:
        steps = self._max_steps.value or None
        if not max_time and not steps:
            raise UserInputError("Set a time budget or a number of steps (both are 0).")
        options: dict[str, Any] = {"adversarial_eps": self._robust_eps.value / 255}
        options.update(self.training_overrides)
        return TrainingConfig(max_time=max_time or None, max_steps=steps, **options)

    def start_training(self) -> Job | None:
        """Start training with the widget's settings (a new model or the current one)."""
        try:
            image_layer = self._require_image()
            labels_layer = self._labels.value
            if labels_layer is None:
                raise UserInputError("Pick the Labels layer with your strokes (add a Labels "
                                     "layer and paint 1 = background, 2 = object).")
            config = self._config(self._max_time.value)
            init = None
            if self._model_source.value == "continue":
                init = self._store.model
                if init is None:
                    raise UserInputError("There is no current model to continue: choose "
                                         "'new model' or load a model file.")
            preset = PRESETS[self._preset.value]
            model_config = UNetConfig(spatial_dims=self._dims.value, **preset)
        except ValueError as err:
            notify_error(err, "Training")
            return None
        labels = np.array(labels_array(labels_layer), copy=True)  # painting goes on meanwhile
        return self._launch(image_layer, [labels_layer], labels, config, init=init,
                            model_config=model_config, dense=self._label_kind.value == "dense",
                            what="Training")

    def start_retraining(self) -> Job | None:
        """Fine-tune the current model on strokes + corrected segmentation, short budget."""
        try:
            image_layer = self._require_image()
            model = self._store.model
            if model is None:
                raise UserInputError("Retraining needs a model: train one first (Start "
                                     "training) or load a model file.")
            if model.classes.dense:
                raise UserInputError("This model learned from complete masks; retrain it with "
                                     "'Start training' + 'continue current model' on masks, or "
                                     "train a new model from strokes.")
            layers = list(self._retrain_from.value)
            labels = merge_training_labels(layers)
            config = self._config(self._retrain_time.value)
        except ValueError as err:
            notify_error(err, "Retraining")
            return None
        return self._launch(image_layer, layers, labels, config, init=model, model_config=None,
                            dense=False, what="Retraining")

    def _require_image(self) -> Image:
        if self.running:
            raise UserInputError("A run is already going: wait for it or press Stop.")
        layer = self._image.value
        if layer is None:
            raise UserInputError("Open an image first (File > Open, or File > Open Sample).")
        return layer

    def _launch(self, image_layer: Image, used: list[Labels], labels: np.ndarray,
                config: TrainingConfig, *, init: Any, model_config: UNetConfig | None,
                dense: bool, what: str) -> Job:
        image = image_array(image_layer)
        rgb = bool(image_layer.rgb)

        def work(stop: StopFlag):
            trainer = Trainer([image], [labels], dense=dense, init=init,
                              model_config=model_config, config=config, rgb=rgb, stop=stop)
            yield trainer
            result = yield from trainer.run()
            return result

        self._run_image = image_layer
        self._trainer = None
        self._best_version = 0
        self._preview_key = None
        self._plot.new_round() if init is not None else self._plot.clear()
        job = Job(work, what=what, on_event=self._on_event, on_done=self._on_done,
                  on_finished=self._on_finished, on_error=self._on_error)
        self._set_running(True)
        self._status.value = f"{what}: preparing the data…"
        self._run_job(job, [image_layer, *used])
        if self._live_preview.value:
            self._preview_timer.start()
        return job

    def _set_running(self, running: bool) -> None:
        for w in (self._start, self._retrain, self._load):
            w.enabled = not running
        self._stop.enabled = running

    def _on_event(self, event: Any) -> None:
        if self._closed:
            return
        job = self._job
        if isinstance(event, Trainer):
            self._trainer = event
        elif isinstance(event, TrainingStarted):
            self._status.value = (f"Learning from {event.painted_pixels} painted pixels "
                                  f"({event.validation_pixels} kept aside to validate) on {event.device}.")
        elif isinstance(event, TrainingStep):
            self._plot.add_loss(event.step, event.loss)
            if job is not None:
                job.set_progress(100 * event.progress)
            now = time.perf_counter()
            if now - self._last_status > 0.25:
                self._last_status = now
                self._status.value = (f"step {event.step} · {_fmt_time(event.elapsed)} elapsed · "
                                      f"about {_fmt_time(event.eta)} left · loss {event.loss:.3f}")
        elif isinstance(event, ValidationScores):
            self._plot.add_dice(event.step, event.mean_dice)
            self._validation.value = event.summary()
            if event.improved:
                self._best_version += 1

    def _on_done(self, result: TrainingResult) -> None:
        self._plot.redraw(force=True) if not self._closed else None
        self._store.set(result.model, None)
        dice = result.best_validation_dice
        dice_txt = f", best validation Dice {dice:.3f}" if dice is not None else ""
        if dice is not None and result.validations and not result.validations[-1].reliable:
            dice_txt += " (too few held-out pixels to trust)"
        reason = {"stopped": "stopped", "max_time": "time budget used",
                  "max_steps": "all steps done"}.get(result.stop_reason, result.stop_reason)
        message = (f"Done ({reason}): {result.steps} steps in {_fmt_time(result.elapsed)}"
                   f"{dice_txt}. Segment to see the result.")
        if not self._closed:
            self._status.value = message
        notify_info(message)

    def _on_error(self, err: BaseException) -> None:
        trainer = self._trainer
        if trainer is not None and self._best_version > 0:
            self._store.set(trainer.best, None)  # keep the best model of the run
        if not self._closed:
            self._status.value = f"Stopped by an error: {err}"

    def _on_finished(self) -> None:
        self._trainer = None
        if self._closed:
            return
        self._preview_timer.stop()
        self._set_running(False)

    # ------------------------------------------------------------------ live preview
    def _preview_tick(self) -> None:
        """Predict the slice in view with the best model so far, in a worker."""
        trainer, image_layer = self._trainer, self._run_image
        if (self._closed or trainer is None or image_layer is None or self._best_version == 0
                or not self._live_preview.value
                or (self._preview_job is not None and not self._preview_job.done)
                or image_layer not in self._viewer.layers):
            return
        model = trainer.best
        lead = len(spatial_shape(image_layer)) - model.spatial_dims
        index = current_index(self._viewer, image_layer, lead)
        key = (self._best_version, index)
        if key == self._preview_key:
            return
        self._preview_key = key
        model = model.copy()
        image = image_array(image_layer)
        rgb = bool(image_layer.rgb)

        def work(stop: StopFlag):
            result = yield from predict(model, image, rgb=rgb, indices=[index], stop=stop)
            return result

        def show(result: Any) -> None:
            if self._closed or image_layer not in self._viewer.layers:
                return
            write_output(self._viewer, image_layer, "preview", result.labels, where=index,
                         opacity=0.5)

        self._preview_job = Job(work, what="Live preview", on_done=show, show_progress=False).start()

    def close_jobs(self) -> None:
        if not self._closed:
            self._preview_timer.stop()
            if self._preview_job is not None:
                self._preview_job.request_stop()
        super().close_jobs()
