"""The Train widget's projects: *New / Open / Save project…* and the autosave after every
round. All reading and writing is :mod:`napari_unet.core.project`; this module turns
layers into project entries and back, and keeps the rounds table and the current model in
step with the project's current round.

Without an open project, the first round creates one in the user's data folder
(``$NAPARI_UNET_DATA_DIR/projects`` or the platform's user data folder), so no round is
ever lost; *New project…* or *Open project…* choose where instead.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from magicgui.widgets import Container, Label, PushButton
from napari.layers import Image, Labels

from napari_unet.core import TrainedModel
from napari_unet.core.project import Project, ProjectImage, RoundRecord
from napari_unet.core.project.training import round_settings

from .._jobs import notify_error, notify_info, notify_warning
from .._layers import labels_snapshot, layer_source, same_layer
from ..settings import settings_persist
from .session import TrainOutcome, TrainRequest

DATA_DIR_ENV = "NAPARI_UNET_DATA_DIR"
SAVE_WAIT_S = 300.0  # how long closing the viewer waits for a round being written
WRITE_DELAY_S = 1.0  # the end of a run repaints the window before a round is written
NO_PROJECT = "none: the first round starts one"


def projects_dir() -> Path:
    """Where rounds trained without an open project are kept."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser() / "projects"
    try:
        from platformdirs import user_data_dir
    except ImportError:
        return Path.home() / ".local" / "share" / "napari-unet" / "projects"
    return Path(user_data_dir("napari-unet", appauthor=False)) / "projects"


class ProjectSection:
    """``widgets``: the project line and the New / Open / Save project… buttons of the
    Train widget ``owner`` (which provides ``training_pairs()``, ``_store``, ``history``)."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.project: Project | None = None
        self.info = Label(label="Project", value=NO_PROJECT)
        self.new = PushButton(text="New project…")
        self.open = PushButton(text="Open project…")
        self.save = PushButton(text="Save project…")
        self.widgets = [  # two buttons a row, as Save / Load model: the dock stays narrow
            self.info,
            Container(widgets=[self.new, self.open], layout="horizontal", labels=False),
            Container(widgets=[self.save], layout="horizontal", labels=False),
        ]
        self._models: dict[int, tuple[weakref.ref, int]] = {}  # id(model) -> (model, round)
        self.saving: RoundWriter | None = None  # the last round being written
        self.new.changed.connect(lambda *_: self._ask_folder("New project", self.new_project))
        self.open.changed.connect(lambda *_: self._ask_folder("Open project", self.open_project))
        self.save.changed.connect(lambda *_: self._ask_save())

    # ------------------------------------------------------------------ rounds <-> models
    def round_of(self, model: TrainedModel | None) -> int | None:
        """The project round whose model ``model`` is (the same object), if any."""
        found = self._models.get(id(model)) if model is not None else None
        return found[1] if found is not None and found[0]() is model else None

    def _remember(self, model: TrainedModel, number: int) -> None:
        self._models[id(model)] = (weakref.ref(model), number)

    def follow_current(self, model: TrainedModel | None) -> None:
        """The current model changed (e.g. the user chose the other model after a
        retraining): when it is a round of the project, make that round current."""
        number = self.round_of(model)
        if self.project is None or number is None or number == self.project.manifest.current_round:
            return
        try:
            self.project.make_current(number)
        except (OSError, ValueError) as err:
            notify_warning(f"The project could not record round {number} as current: {err}")

    # ------------------------------------------------------------------ new / open / save
    def new_project(self, folder: str | os.PathLike) -> Project | None:
        """A new project in ``folder`` holding the current layers (and model, as a round)."""
        try:
            project = Project.create(folder)
        except (OSError, ValueError) as err:
            notify_error(err, "New project")
            return None
        self._set(project)
        return self.save_project()

    def save_project(self) -> Project | None:
        """Write the current images and labels, and the current model when it is not a
        round yet, into the open project."""
        project = self.project
        if project is None:
            return None
        try:
            self._put_pairs(project)
            model = self.owner._store.model
            if model is not None and self.round_of(model) is None and model.rounds:
                self._record_model(project, model)
            project.save()
        except (OSError, ValueError) as err:
            notify_error(err, "Save project")
            return None
        self._show()
        notify_info(f"Project saved to {project.folder}")
        return project

    def open_project(self, folder: str | os.PathLike) -> Project | None:
        """Open the project in ``folder``: its layers are added to the viewer, its current
        model becomes current; what is missing (a moved or deleted image) is named."""
        try:
            project = Project.open(folder)
            opened, problems = project.open_images()
            model = project.current_model()
        except (OSError, ValueError) as err:
            notify_error(err, "Open project")
            return None
        self._set(project)
        self._add_layers(opened)
        if model is not None:
            self._remember(model, project.manifest.current_round)
            self.owner._store.set(model, project.current_model_path())
        self._show()
        if problems:
            notify_warning(f"Opened {project.folder} without: " + " ".join(problems))
        else:
            notify_info(f"Opened project {project.folder}")
        return project

    def _set(self, project: Project) -> None:
        self.project = project
        self.info.value = str(project.folder)
        self.info.tooltip = str(project.folder)

    def _show(self) -> None:
        if not self.owner._closed and self.project is not None:
            self.owner.history.show_rounds(self.project.manifest)

    # ------------------------------------------------------------------ rounds
    def autosave(
        self, outcome: TrainOutcome, request: TrainRequest, image: Image, device: str
    ) -> RoundWriter | None:
        """Keep the run's model as the project's next round (a new project in
        :func:`projects_dir` when none is open, unless settings are session-only: see
        :func:`..settings.session_only_settings`), written in a thread (copying a large
        image must not freeze the window); ``self.saving`` follows it. Never fails the
        run: a failed save is a warning."""
        result = outcome.result
        if not result.steps or not result.model.rounds:
            return None
        if self.project is None and not settings_persist():
            return None  # the demo and the screenshots leave the user's folders alone
        try:
            project = self.project or self._automatic_project(image.name)
        except (OSError, ValueError) as err:
            notify_warning(f"The round could not be saved to a project: {err}")
            return None
        pairs = self._pair_entries()  # read on the GUI thread; written in the worker
        round_args = dict(
            what=request.what,
            settings=round_settings(
                request.config,
                dense=request.dense,
                model_config=None if request.init is not None else request.model_config,
            ),
            seed=request.config.seed,
            learned_from=list(zip(request.names or (image.name,), request.labels_list)),
            steps=result.steps,
            seconds=result.elapsed,
            device=device,
            parent=self.round_of(request.init),
            current=not outcome.keeps_previous,
        )

        def write() -> RoundRecord:
            with _WRITING:  # one save at a time into a project
                for entry in pairs:
                    project.put_image(**entry)
                record = project.record_round(result.model, **round_args)
                project.save()
            return record

        def saved(record: RoundRecord) -> None:
            self._remember(result.model, record.number)
            self._show()

        self.saving = RoundWriter(write, saved, self.owner.native)
        return self.saving

    def finish_saving(self, timeout: float = SAVE_WAIT_S) -> None:
        """Wait for the round being written (the viewer is closing: Python's shutdown
        would cut the write short)."""
        if self.saving is not None:
            self.saving.wait(timeout)

    def _pair_entries(self) -> list[dict[str, Any]]:
        """What :meth:`Project.put_image` needs of each training pair: the image's data
        (held by the layer), a private copy of its labels (painting goes on)."""
        kind = self.owner._label_kind.value
        entries = []
        for image, labels in self.owner.training_pairs():
            entries.append(
                dict(
                    name=image.name,
                    data=layer_source(image),
                    file_path=getattr(getattr(image, "source", None), "path", None),
                    rgb=bool(image.rgb),
                    scale=tuple(image.scale),
                    translate=tuple(image.translate),
                    labels=labels_snapshot(labels),
                    labels_name=labels.name,
                    label_kind=kind,
                )
            )
        return entries

    def _automatic_project(self, image_name: str) -> Project:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in image_name)[:40]
        folder = projects_dir() / f"{safe or 'project'}-{time.strftime('%Y%m%d-%H%M%S')}"
        project = Project.create(folder)
        self._set(project)
        notify_info(f"Training rounds are kept in the project {folder} (Open project… later).")
        return project

    def _record_model(self, project: Project, model: TrainedModel) -> None:
        """Keep a model made outside the project (loaded from a file) as a round."""
        last = model.rounds[-1]
        record = project.record_round(
            model, what="Added model", settings={}, seed=None, learned_from=[],
            steps=int(last.get("steps") or 0), seconds=float(last.get("seconds") or 0.0),
            device="", parent=None,
        )  # fmt: skip
        self._remember(model, record.number)

    def roll_back(self, number: int) -> TrainedModel | None:
        """Make round ``number``'s model current again; later rounds are kept."""
        if self.project is None:
            return None
        try:
            model = self.project.make_current(number)
        except (OSError, ValueError) as err:
            notify_error(err, "Roll back")
            return None
        self._remember(model, number)
        self.owner._store.set(model, self.project.model_path(number))
        self._show()
        notify_info(f"Round {number} is the current model again (later rounds are kept).")
        return model

    # ------------------------------------------------------------------ layers
    def _put_pairs(self, project: Project) -> None:
        """The training pairs' images and labels into ``project``."""
        for entry in self._pair_entries():
            project.put_image(**entry)

    def _add_layers(self, opened: list[ProjectImage]) -> None:
        """Add the project's images and labels to the viewer; pick the first pair."""
        viewer, first = self.owner._viewer, None
        for item in opened:
            entry, place = item.entry, {}
            if entry.scale:
                place = {"scale": entry.scale, "translate": entry.translate or None}
            image = labels = None
            if item.data is not None:
                image = viewer.add_image(item.data, name=entry.name, rgb=entry.rgb, **place)
            if item.labels is not None:
                labels = viewer.add_labels(item.labels, name=entry.labels.name, **place)
                if first is None and image is not None:
                    first = (image, labels, entry.labels.kind)
        if first is not None:
            self._select(*first)

    def _select(self, image: Image, labels: Labels, kind: str) -> None:
        owner = self.owner
        owner.reset_choices()
        owner._image.value = _choice(owner._image, image)
        owner._labels.reset_choices()
        owner._labels.value = _choice(owner._labels, labels)
        owner._label_kind.value = kind

    # ------------------------------------------------------------------ dialogs
    def _ask_folder(self, title: str, then: Any) -> None:
        from qtpy.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self.owner.native, title)
        if folder:
            then(folder)

    def _ask_save(self) -> None:
        if self.project is None:
            self._ask_folder("Save project", self.new_project)
        else:
            self.save_project()


_WRITING = threading.Lock()


class RoundWriter:
    """``write()`` run in a plain thread (it touches no Qt object, so it is safe however
    the window closes); a timer on the GUI thread, a child of ``parent``, hands its
    record to ``then`` or shows its error as a warning. ``done``: written and shown.

    The write begins ``delay`` seconds later (at once when :meth:`wait` is called): the
    end of a run repaints the window (status, plot, notification), and a writing thread
    holding the GIL meanwhile made that freeze 3-4 times longer on a busy machine."""

    def __init__(
        self,
        write: Callable[[], Any],
        then: Callable[[Any], None],
        parent: Any,
        delay: float = WRITE_DELAY_S,
    ):
        from qtpy.QtCore import QTimer

        self.done = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._then = then
        self._delay, self._now = delay, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(write,), name="save round")
        self._timer = QTimer(parent)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._check)
        self._thread.start()
        self._timer.start()

    def _run(self, write: Callable[[], Any]) -> None:
        self._now.wait(self._delay)
        try:
            self._result = write()
        except BaseException as err:  # noqa: BLE001 - reported on the GUI thread
            self._error = err

    def _check(self) -> None:
        if self._thread.is_alive():
            return
        self._timer.stop()
        if self._error is not None:
            notify_warning(f"The round could not be saved to the project: {self._error}")
        else:
            self._then(self._result)
        self.done = True

    def wait(self, timeout: float | None = None) -> None:
        """Block until the write has ended (or ``timeout`` seconds); it starts now."""
        self._now.set()
        self._thread.join(timeout)


def _choice(combo: Any, layer: Any) -> Any:
    """The entry of ``combo``'s choices that is ``layer`` (choices hold the layers, the
    viewer proxy hands back proxies: compared by unique id)."""
    return next((c for c in combo.choices if same_layer(c, layer)), layer)
