"""The Train widget: train a U-Net from painted strokes, watch it learn, retrain after
correcting its segmentation. It composes the sections of this package; all computation
is in :mod:`napari_unet.core`, the run's state in :class:`~.session.TrainSession`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from napari.layers import Image, Labels
from qtpy.QtCore import QTimer

from napari_unet.core import (
    BestModelUpdated,
    ModelSnapshot,
    TrainedModel,
    TrainingStarted,
    TrainingStep,
    UserInputError,
    save_model,
)
from napari_unet.core.oom import TrainingOutOfMemory
from napari_unet.core.training.live_labels import LiveLabels
from napari_unet.core.training.trainer import StrokesJoined

from .._base import ViewerWidget
from .._export import add_export_button
from .._jobs import NEXT_TURN_MS, Job, notify_error, notify_info, notify_warning
from .._layers import labels_snapshot, layer_source, same_layer
from .._sections import Section
from .._session import JobState
from ..dock import warm_up_in_background
from .data_section import DataSection
from .history_view import HistoryView
from .learn_from import merge_training_labels
from .live_strokes import LiveStrokes
from .model_choice import ModelChoice, choice_text
from .model_section import ModelSection
from .preview import LivePreview
from .project_section import ProjectSection
from .retrain_section import RetrainSection
from .run_section import RunSection, done_message
from .session import TrainOutcome, TrainRequest, TrainSession, training_work

PROGRESS_INTERVAL = 0.5  # s between progress bar updates (each repaints the window)


class TrainWidget(ViewerWidget):
    """Train a new model from strokes, or continue / retrain the current one."""

    TAB_TITLE = "Train"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        warm_up_in_background()  # PyTorch's first-use imports now, off the GUI thread
        self.session = TrainSession()
        self.data = DataSection(napari_viewer, self._image_picker(), self.native)
        self.model_section = ModelSection()
        self.run_section = RunSection()
        self.retrain_section = RetrainSection(self.data.labels_choices)
        self.history = HistoryView()
        self.preview = LivePreview(napari_viewer, self.native)
        self.model_choice = ModelChoice(self.use_model)
        self.projects = ProjectSection(self)
        self._train_device = ""  # the device of the last run (TrainingStarted), for its round
        self._alias_widgets()
        self._lay_out()
        self.run_section.plot.follow_theme(napari_viewer)
        self._export = add_export_button(self)  # "Export for bioimage.io…" under Save/Load
        # extra TrainingConfig fields (batch_size, patch_size...) for scripts and tests
        self.training_overrides: dict[str, Any] = {}
        self._out_of_memory: TrainingOutOfMemory | None = None
        self.last_outcome: TrainOutcome | None = None
        self.data.image.changed.connect(self._on_image_changed)
        self.run_section.start.changed.connect(lambda *_: self.start_training())
        self.run_section.stop.changed.connect(self.stop)
        self.retrain_section.retrain.changed.connect(lambda *_: self.start_retraining())
        self.run_section.continue_run.changed.connect(lambda *_: self.continue_training())
        self._last_launch: tuple[TrainRequest, Image, list[Labels]] | None = None
        self._live_strokes: LiveStrokes | None = None
        self.strokes_joined: list[StrokesJoined] = []  # strokes painted during the last run
        self.model_section.save.changed.connect(lambda *_: self._ask_save())
        self.model_section.load.changed.connect(lambda *_: self._ask_load())
        self.history.roll_back.changed.connect(lambda *_: self.roll_back())
        # the kind of labels (strokes or complete masks) describes one layer: not remembered
        self._remember(
            "train",
            {
                "model_source": self._model_source,
                "preset": self._preset,
                "dims": self._dims,
                "max_time": self._max_time,
                "max_steps": self._max_steps,
                "live_preview": self._live_preview,
                "retrain_time": self._retrain_time,
                "robust_eps": self._robust_eps,
                "natural_perturbations": self._natural_perturbations,
                "device": self._device,
            },
            result_changing=(
                "model_source",
                "preset",
                "dims",
                "max_time",
                "max_steps",
                "retrain_time",
                "robust_eps",
                "natural_perturbations",
            ),
        )
        self._device.changed.connect(lambda *_: self._on_model_changed(self._store.model))
        self._finish_setup()
        self._retrain_from.value = self.retrain_section.defaults()
        self._on_model_changed(self._store.model)
        self.data.watch_labels()

    def _lay_out(self) -> None:
        """The main controls first (what to learn from, size, budget, Start, progress, the
        plot), then the model; rarer options, retraining and the rounds in sections that
        fold away, so the widget fits a laptop screen (and scrolls beyond)."""
        self.more_options = Section(
            "More options",
            [
                self._label_kind,
                self._model_source,
                self._dims,
                self._max_steps,
                self._robust_eps,
                self._natural_perturbations,
                self._device,
            ],
            expanded=False,
        )
        self.retrain_box = Section(
            "Retrain after correcting",
            self.retrain_section.widgets[1:],
            expanded=False,
            tooltip="Opens once there is a model: fine-tune it on your strokes and the "
            "corrected segmentation.",
        )
        self.rounds = Section("Training rounds", [self.history.table, self.history.roll_back])
        self.extend(
            [
                self._image,
                self._labels,
                self._classes,
                *self.data.training_set.section.all,
                self._preset,
                self._max_time,
                self._live_preview,
                *self.more_options.all,
                self.run_section.buttons,
                self._status,
                *self.model_choice.widgets,
                self._validation,
                *self.model_section.file_widgets,
                *self.projects.widgets,
                *self.retrain_box.all,
                *self.rounds.all,
            ]
        )
        self._insert_qt_after(self._validation, self._plot.canvas)  # under the progress

    def _alias_widgets(self) -> None:
        """The sub-widgets under their historical names (scripts and tests use them)."""
        d, m, r, t = self.data, self.model_section, self.run_section, self.retrain_section
        self._image, self._labels, self._classes, self._label_kind = d.widgets
        self._model_source, self._preset, self._dims = m.settings
        self._model_info, self._save, self._load = m.model_info, m.save, m.load
        (
            self._max_time,
            self._max_steps,
            self._robust_eps,
            self._live_preview,
            self._natural_perturbations,
        ) = r.settings
        self._device = r.device
        self._start, self._stop, self._status, self._plot = r.start, r.stop, r.status, r.plot
        self._validation = r.validation
        self._retrain_from, self._retrain_time, self._retrain = t.learn_from, t.time, t.retrain
        self._whole_layer = t.whole_layer
        self._history = self.history.table

    # ------------------------------------------------------------------ choices
    def _labels_choices(self, _w: Any = None) -> list:
        return self.data.labels_choices()

    def _retrain_choices(self, _w: Any = None) -> list:
        return self.data.labels_choices()

    def _on_image_changed(self, *_: Any) -> None:
        self._labels.reset_choices()
        self.retrain_section.select_defaults_if_empty()

    def _on_layers_changed(self, event: Any = None) -> None:
        super()._on_layers_changed()
        new = getattr(event, "value", None)
        if not self._closed and isinstance(new, Labels):
            self.retrain_section.add_if_default(new)

    # ------------------------------------------------------------------ model
    def _on_model_changed(self, model: Any) -> None:
        if self._closed:
            return
        if self.model_choice.offered and model is not self.model_choice.current:
            self.model_choice.clear()  # another model became current: the choice is moot
        self.model_section.show_model(model, device=self._device.value)
        self.projects.follow_current(model)
        if self.projects.project is not None:
            self.history.show_rounds(self.projects.project.manifest)
        else:
            self.history.show(model)
        if model is not None and not self.retrain_box.expanded:
            self.retrain_box.set_expanded(True)  # the next step of the loop

    def roll_back(self, number: int | None = None) -> TrainedModel | None:
        """Make round ``number`` (default: the one selected in the rounds table) of the
        open project current again; later rounds are kept."""
        number = self.history.selected_round() if number is None else number
        if number is None:
            notify_error(UserInputError("Select a round in the table first."), "Roll back")
            return None
        return self.projects.roll_back(number)

    def save_model_to(self, path: str | Path) -> Path | None:
        model = self._store.model
        if model is None:
            notify_error(
                UserInputError("No model yet: train one (or load a file) first."), "Save model"
            )
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

        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save model", "unet_model.pt", "napari-unet model (*.pt)"
        )
        if path:
            self.save_model_to(path)

    # ------------------------------------------------------------------ starting runs
    def training_pairs(self) -> list[tuple[Image, Labels]]:
        """The (image, labels) pairs the next run learns from (and a project keeps): the
        training set, or the image and strokes chosen above when none was added (empty
        when either is missing)."""
        return self.data.training_set.training_pairs()

    def start_training(self) -> Job | None:
        """Start training with the widget's settings (a new model or the current one) on
        :meth:`training_pairs`; strokes painted on them during the run join it."""
        try:
            self._require_image()
            pairs = self.training_pairs()
            if not pairs:
                raise UserInputError(
                    "Pick the Labels layer with your strokes (add a Labels "
                    "layer and paint 1 = background, 2 = object)."
                )
            self.data.training_set.check(pairs)
            (image_layer, labels_layer), more = pairs[0], pairs[1:]
            config = self.run_section.config(self._max_time.value, self.training_overrides)
            init = None
            if self.model_section.continues:
                init = self._store.model
                if init is None:
                    raise UserInputError(
                        "There is no current model to continue: choose "
                        "'new model' or load a model file."
                    )
            request = TrainRequest(
                "Training",
                layer_source(image_layer),  # lazy images stay lazy
                labels_snapshot(labels_layer),  # painting goes on meanwhile
                bool(image_layer.rgb),
                self._label_kind.value == "dense",
                config,
                init=init,
                model_config=self.model_section.new_model_config(),
                more_pairs=tuple((layer_source(i), labels_snapshot(lab)) for i, lab in more),
                live=LiveLabels(),
                names=tuple(image.name for image, _ in pairs),
            )
        except ValueError as err:
            notify_error(err, "Training")
            return None
        return self._launch(request, image_layer, [lab for _, lab in pairs])

    def start_retraining(self) -> Job | None:
        """Fine-tune the current model on strokes + corrected segmentation, short budget."""
        try:
            image_layer = self._require_image()
            model = self._store.model
            if model is None:
                raise UserInputError(
                    "Retraining needs a model: train one first (Start "
                    "training) or load a model file."
                )
            if model.classes.dense:
                raise UserInputError(
                    "This model learned from complete masks; retrain it with "
                    "'Start training' + 'continue current model' on masks, or "
                    "train a new model from strokes."
                )
            layers = list(self._retrain_from.value)
            labels = self.retrain_labels()
            others = self._other_training_pairs(image_layer, layers[0] if layers else None)
            config = self.run_section.config(self._retrain_time.value, self.training_overrides)
            request = TrainRequest(
                "Retraining",
                layer_source(image_layer),
                labels,
                bool(image_layer.rgb),
                False,
                config,
                init=model,
                more_pairs=tuple((layer_source(i), labels_snapshot(lab)) for i, lab in others),
                names=(image_layer.name, *(i.name for i, _ in others)),
            )
        except ValueError as err:
            notify_error(err, "Retraining")
            return None
        return self._launch(request, image_layer, layers)

    def _other_training_pairs(
        self, image_layer: Image, its_labels: Labels | None
    ) -> list[tuple[Image, Labels]]:
        """The training set's pairs on other images than ``image_layer``: a retraining on
        the corrections of one image keeps learning from the strokes of the others (so it
        does not forget them, and its validation covers them too)."""
        others = [(i, lab) for i, lab in self.training_pairs() if not same_layer(i, image_layer)]
        if others and its_labels is not None:  # one kind of image (dimensions, channels)
            self.data.training_set.check([(image_layer, its_labels), *others])
        return others

    def continue_training(self) -> Job | None:
        """Train the current model further on the labels and budget of the last run (after
        a run that ended undertrained)."""
        try:
            if self._last_launch is None or self._store.model is None:
                raise UserInputError("There is no run to continue: Start training first.")
            self._require_image()
        except ValueError as err:
            notify_error(err, "Continuing")
            return None
        request, image_layer, used = self._last_launch
        request = replace(request, what="Continuing", init=self._store.model)
        if request.live is not None:  # the strokes as they are now, painted during the run too
            request = replace(
                request,
                labels=labels_snapshot(used[0]),
                more_pairs=tuple(
                    (image, labels_snapshot(lab))
                    for (image, _), lab in zip(request.more_pairs, used[1:])
                ),
                live=LiveLabels(),
            )
        return self._launch(request, image_layer, used)

    def retrain_labels(self) -> Any:
        """The labels Retrain learns from: the ticked layers, merged (see :mod:`.learn_from`)."""
        return merge_training_labels(
            list(self._retrain_from.value), whole_layers=self.retrain_section.whole_layer.value
        )

    def _require_image(self) -> Image:
        if self.running:
            raise UserInputError("A run is already going: wait for it or press Stop.")
        layer = self._image.value
        if layer is None:
            raise UserInputError("Open an image first (File > Open, or File > Open Sample).")
        return layer

    def _launch(self, request: TrainRequest, image_layer: Image, used: list[Labels]) -> Job | None:
        self._out_of_memory: TrainingOutOfMemory | None = None
        if self._live_preview.value:
            self.preview.prepare(image_layer, request.init.num_classes if request.init else 2)
        job = self._start_job(
            training_work(request),
            what=request.what,
            layers=[image_layer, *used],
            on_event=self._on_event,
            on_done=self._on_done,
            on_error=self._on_error,
            on_finished=self._on_finished,
            notify=False,
        )
        if job is None:
            return None
        self._follow_strokes(request, used)
        self._last_launch = (request, image_layer, used)
        self.model_choice.clear()
        self.run_section.new_run(request.what, continues=request.init is not None)
        if self._live_preview.value:
            self.preview.start(image_layer, request.config.device)
        return job

    # ------------------------------------------------------------------ following a run
    def _follow_strokes(self, request: TrainRequest, used: list[Labels]) -> None:
        """Post strokes painted on the run's labels layers to its trainer."""
        self.strokes_joined = []
        if request.live is not None and len(used) == len(request.images):
            self._live_strokes = LiveStrokes(request.live, used)

    def _on_finished(self) -> None:
        if self._live_strokes is not None:
            self._live_strokes.close()
            self._live_strokes = None
        self.preview.stop()

    def _on_state(self, state: JobState) -> None:
        running = state.active
        self.run_section.set_running(running)
        self._retrain.enabled = self._load.enabled = not running

    def _on_event(self, event: Any) -> None:
        if isinstance(event, BestModelUpdated):
            self.session.record_best(event)  # even once closed: a failure keeps it
        if self._closed:
            return
        if isinstance(event, TrainingOutOfMemory):
            self._out_of_memory = event
        if isinstance(event, TrainingStarted):
            self._train_device = event.device
        if isinstance(event, StrokesJoined):
            self.strokes_joined.append(event)
        if isinstance(event, (ModelSnapshot, BestModelUpdated)):
            self.preview.offer(event.model)  # the newest weights, from the first seconds
        self.run_section.show_event(event)
        if isinstance(event, TrainingStep) and self._job is not None:
            self._job.set_progress(100 * event.progress, every=PROGRESS_INTERVAL)

    def _on_done(self, outcome: TrainOutcome) -> None:
        """Make the run's model current, unless it continued a model and validates worse
        than it on the same held-out pixels: then the previous model stays current, and
        both are offered (:class:`.model_choice.ModelChoice`)."""
        self.last_outcome = outcome  # the run's model even when the previous one is kept
        if self._last_launch is not None:  # kept as a round before it becomes current
            request, image_layer, _used = self._last_launch
            self.projects.autosave(outcome, request, image_layer, self._train_device)
        result = outcome.result
        kept_new = not outcome.keeps_previous
        if kept_new:
            self._store.set(result.model, None)
        message = done_message(result)
        if outcome.comparison is not None:
            message = f"{message} {choice_text(outcome.comparison, kept_new)}"
        oom = result.stop_reason == "out_of_memory" and self._out_of_memory is not None
        if oom:
            message = f"{message} {self._out_of_memory.message}"
        if not self._closed:
            # the plot repaints on the next turn of the event loop: the status, the
            # model line and the notification are one freeze, the plot another
            QTimer.singleShot(NEXT_TURN_MS, self._redraw_plot)
            self._status.value = message
            self._offer_choice(outcome)
            self.run_section.offer_continue(outcome.result)
        quiet = kept_new and not oom and not outcome.result.undertrained
        (notify_info if quiet else notify_warning)(message)

    def _redraw_plot(self) -> None:
        if not self._closed:
            self._plot.redraw(force=True)

    def _offer_choice(self, outcome: TrainOutcome) -> None:
        """After a run that continued a model: offer the model that is not current."""
        if outcome.comparison is None or outcome.previous is None:
            return
        new, previous = outcome.result.model, outcome.previous
        if outcome.keeps_previous:
            self.model_choice.offer(outcome.comparison, previous, new, kept_new=False)
            self.model_section.show_model(
                self._store.model,
                " (kept: the retrained model validated worse)",
                self._device.value,
            )
        else:
            self.model_choice.offer(outcome.comparison, new, previous, kept_new=True)

    def use_model(self, model: TrainedModel) -> None:
        """Make ``model`` (one of the choice after a retraining) the current model."""
        self._store.set(model, None)
        message = f"Now using: {model.describe()}."
        if not self._closed:
            self._status.value = message
        notify_info(message)

    def _on_error(self, err: BaseException) -> None:
        """Keep the best model of the failed run, say what failed and what is kept."""
        best = self.session.best
        if best is not None:
            self._store.set(best.model, None)
        note = self.session.kept_note()
        notify_error(err, self.session.what or "Training", note)
        if not self._closed:
            if best is not None:
                self.model_section.show_model(
                    best.model, " (best of the failed run)", self._device.value
                )
            self._status.value = f"Failed: {type(err).__name__}: {err}.{note}"

    def close_jobs(self) -> None:
        if not self._closed:
            self.preview.close()
            self.data.closed = True
            self.projects.finish_saving()  # the last round reaches the disk
        super().close_jobs()
