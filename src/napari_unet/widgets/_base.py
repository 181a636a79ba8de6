"""Common plumbing of the napari-unet widgets: the viewer, its model store, layer
choices kept up to date, the running job, and clean shutdown when the viewer closes
or a layer in use is removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container
from napari.layers import Layer

from napari_unet.core import UserInputError, load_model

from ._dock import DockTabTitle
from ._fit import RefitOn, fit_scroll_area_width
from ._jobs import Job, notify_error, notify_info, notify_warning
from ._layers import image_layers, same_layer
from ._session import JobSession, JobState
from .model_store import ModelStore, store_for
from .settings import PersistentValues

COMBO_MIN_CHARACTERS = 14  # a closed drop-down list is at least this wide
WRAPPED_LABEL_MIN_WIDTH = 120  # px; longer texts wrap onto more lines


class ViewerWidget(Container):
    """A magicgui Container bound to one napari viewer, in a vertical scroll area.

    Subclasses put their sub-widgets in ``self._x`` attributes, call
    :meth:`_finish_setup` at the end of ``__init__``, and run long work via
    :meth:`_start_job`, listing the layers the job uses. ``self.session`` holds the
    state of the widget's jobs; override :meth:`_on_state` to follow it (buttons).
    Plain Qt widgets go into ``self.content.layout()``.

    ``native`` is the scroll area (napari docks ``native``), so a tall widget scrolls
    instead of making the window taller than a laptop screen. ``TAB_TITLE`` is the text
    of its dock's tab when docks are tabbed (napari's dock name is longer).
    """

    TAB_TITLE = ""

    def __init__(self, napari_viewer: Any, **kwargs: Any) -> None:
        super().__init__(scrollable=True, **kwargs)
        from qtpy.QtWidgets import QFrame

        self.root_native_widget.setFrameShape(QFrame.Shape.NoFrame)
        self._viewer = napari_viewer
        self._store: ModelStore = store_for(napari_viewer)
        self._closed = False
        self._job: Job | None = None
        self._job_layers: list[Layer] = []
        self.session = JobSession()

    @property
    def native(self) -> Any:
        """The outermost Qt widget (the scroll area): what napari puts in its dock."""
        return self.root_native_widget

    @property
    def content(self) -> Any:
        """The Qt widget inside the scroll area, holding the layout of the sub-widgets."""
        return self.root_native_widget.widget()

    # ------------------------------------------------------------------ what a user touches
    def control(self, name: str) -> Any:
        """The setting (or line) a user reads as ``name``: the control labelled ``name``
        (a list, spin box, text field or labelled line such as *Model*) or the check box
        whose text is ``name`` (or starts with ``name (``). Scripts and tests reach
        controls this way, by what the user sees, so renaming an attribute moves nothing."""
        from magicgui.widgets import CheckBox, PushButton

        def named(widget: Any) -> bool:
            text = widget.text if isinstance(widget, CheckBox) else widget.label
            return text == name or text.startswith(name + " (")

        kinds = [
            w for w in self._all_widgets(self) if _has_value(w) and not isinstance(w, PushButton)
        ]
        return self._one_named(name, [w for w in kinds if named(w)])

    def button(self, name: str) -> Any:
        """The push button a user reads as ``name`` (``"Load model file"`` finds
        *Load model file…*)."""
        from magicgui.widgets import PushButton

        buttons = self._list_widgets(self, PushButton)
        return self._one_named(name, [b for b in buttons if b.text in (name, name + "…")])

    @property
    def status(self) -> str:
        """The widget's status line, as the user reads it ("" when it has none)."""
        label = getattr(self, "_status", None)
        return str(label.value) if label is not None else ""

    @staticmethod
    def _all_widgets(container: Container) -> list:
        """Every widget in ``container``, sub-containers (e.g. a file field) included."""
        found = []
        for widget in container:
            found.append(widget)
            if isinstance(widget, Container):
                found.extend(ViewerWidget._all_widgets(widget))
        return found

    @staticmethod
    def _one_named(name: str, found: list) -> Any:
        if len(found) != 1:
            raise KeyError(f"{len(found)} controls are named {name!r} (one expected)")
        return found[0]

    # ------------------------------------------------------------------ setup
    def _image_picker(self, label: str = "Image") -> ComboBox:
        return ComboBox(
            label=label,
            choices=lambda _w: image_layers(self._viewer),
            tooltip="The image layer to work on (RGB or one channel; "
            "a stack is processed slice by slice by a 2D model).",
        )

    def _remember(
        self, name: str, widgets: dict[str, Any], *, result_changing: tuple[str, ...] = ()
    ) -> PersistentValues:
        """Keep ``widgets``' values between sessions (:class:`PersistentValues`), and show at
        the top of the widget the result-changing ones that come back from the last session
        with a value other than the default, with a *Reset to defaults* button.

        Call before :meth:`_finish_setup`; leave out choices that describe one image."""
        from magicgui.widgets import Label, PushButton

        settings = PersistentValues(name, widgets, result_changing=result_changing)
        self._remembered_note = Label(
            value="",
            tooltip=(
                "These settings change the results and were kept from your last session. "
                "Change them here, or reset every setting of this widget to its default."
            ),
        )
        self._reset_settings = PushButton(text="Reset to defaults")
        row = Container(widgets=[self._remembered_note, self._reset_settings], labels=False)
        row.margins = (0, 0, 0, 0)
        self._remembered_row = row
        self.insert(0, row)
        self._reset_settings.changed.connect(lambda *_: settings.reset())
        settings.on_remembered_changed(self._show_remembered)
        self._settings = settings
        self._show_remembered()
        return settings

    def _show_remembered(self) -> None:
        """Show the note on remembered non-default settings, or hide it when there is none."""
        text = self._settings.remembered_text()
        self._remembered_note.value = text
        self._remembered_row.native.setHidden(not text)

    def _finish_setup(self) -> None:
        self._fit_narrow_dock()
        if self.TAB_TITLE:
            DockTabTitle(self.native, self.TAB_TITLE)
        events = self._viewer.layers.events
        events.inserted.connect(self._on_layers_changed)
        events.removed.connect(self._on_layer_removed)
        events.reordered.connect(self._on_layers_changed)
        self._store.connect(self._on_model_changed)
        self.native.destroyed.connect(self._on_destroyed)
        self.session.state_changed.connect(self._state_changed)
        self.reset_choices()

    def _fit_narrow_dock(self) -> None:
        """Keep the widget narrow, and never narrower than its content: long messages
        wrap, drop-down lists show their full text only when open, and the scroll
        area is as wide as the content plus its scroll bar (no sideways cut)."""
        from magicgui.widgets import ComboBox, Label
        from qtpy.QtWidgets import QComboBox, QSizePolicy

        for widget in self._list_widgets(self, Label):
            widget.native.setWordWrap(True)
            widget.native.setMinimumWidth(WRAPPED_LABEL_MIN_WIDTH)  # else Qt asks for ~400 px
            widget.native.setSizePolicy(
                QSizePolicy.Policy.Expanding,  # use the width there is
                QSizePolicy.Policy.Preferred,
            )
        for widget in self._list_widgets(self, ComboBox):
            widget.native.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            widget.native.setMinimumContentsLength(COMBO_MIN_CHARACTERS)
        self.content.layout().addStretch(1)  # rows keep their height, spare room goes below
        area = self.native
        RefitOn(self.content, lambda: fit_scroll_area_width(area))

    def _insert_qt_after(self, widget: Any, qt_widget: Any) -> None:
        """Put a plain Qt widget (a plot) in the layout just below the row of ``widget``."""
        row = widget.native
        while row.parentWidget() is not self.content:
            row = row.parentWidget()
        layout = self.content.layout()
        layout.insertWidget(layout.indexOf(row) + 1, qt_widget)

    @staticmethod
    def _list_widgets(container: Container, kind: type) -> list:
        """The widgets of type ``kind`` in ``container`` and its sub-containers."""
        found = []
        for widget in container:
            if isinstance(widget, kind):
                found.append(widget)
            elif isinstance(widget, Container):
                found.extend(ViewerWidget._list_widgets(widget, kind))
        return found

    # ------------------------------------------------------------------ events
    def _on_layers_changed(self, *_: Any) -> None:
        if not self._closed:
            self.reset_choices()

    def _on_layer_removed(self, event: Any) -> None:
        if self._closed:
            return
        layer = getattr(event, "value", None)  # the layer itself; ours may be proxies
        if self.running and any(same_layer(layer, used) for used in self._job_layers):
            self.session.request_stop()
            notify_warning(f"{self._job.what} stopped: the layer '{layer.name}' was removed.")
        self.reset_choices()

    def _on_model_changed(self, model: Any) -> None:
        """Override to show the current model."""

    def _state_changed(self, state: JobState) -> None:
        if not self._closed:
            self._on_state(state)

    def _on_state(self, state: JobState) -> None:
        """Override to follow the job's state (enable buttons...); never called once closed."""

    def _on_destroyed(self, *_: Any) -> None:
        """The widget (or the whole viewer) is closing: stop work, drop connections."""
        self.close_jobs()

    def close_jobs(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.session.request_stop()
        events = self._viewer.layers.events
        for emitter, cb in (
            (events.inserted, self._on_layers_changed),
            (events.removed, self._on_layer_removed),
            (events.reordered, self._on_layers_changed),
        ):
            try:
                emitter.disconnect(cb)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._store.disconnect(self._on_model_changed)

    # ------------------------------------------------------------------ model files
    def load_model_from(self, path: str | Path) -> None:
        """Load a model file into this viewer's store (shared by all widgets)."""
        try:
            model = load_model(path)
        except (OSError, ValueError) as err:
            notify_error(err, "Load model")
            return
        self._store.set(model, Path(path))
        notify_info(f"Loaded {model.describe()}")

    def _ask_load(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native,
            "Load model",
            "",
            "napari-unet model or bioimage.io package it exported (*.pt *.zip)",
        )
        if path:
            self.load_model_from(path)

    # ------------------------------------------------------------------ jobs
    @property
    def running(self) -> bool:
        return self.session.active

    def stop(self, *_: Any) -> None:
        """Ask the running job to stop at its next step (results so far are kept)."""
        self.session.request_stop()

    def _start_job(
        self, work: Any, *, what: str, layers: list[Layer], **options: Any
    ) -> Job | None:
        """Run ``work`` as this widget's job (see :class:`Job` for ``options``).

        Returns None, with a notification, if another job of this widget is running.
        """
        job = Job(work, what=what, session=self.session, **options)
        try:
            job.start()
        except UserInputError as err:
            notify_error(err, what)
            return None
        self._job = job
        self._job_layers = list(layers)
        return job


def _has_value(widget: Any) -> bool:
    """A widget holding a value a user sets or reads (a file field included)."""
    from magicgui.widgets.bases import BaseValueWidget

    return isinstance(widget, BaseValueWidget)
