"""Object measurements of an instances Labels layer, from a widget.

:func:`measure_layer` measures the objects in a thread worker (a :class:`._jobs.Job`,
off the GUI thread; lazy layers are read block by block), then sets the layer's
``features`` (napari shows an object's row under the cursor) and shows the table in a
read-only dock (:class:`ObjectsTable`) with a "Save CSV…" button. Lengths are in the
layer's units, from its ``scale`` and ``units`` (pixels when it has neither). The Segment
widget calls it after a run that made an instances layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_unet.core.analysis.measurements import (
    MeasureProgress,
    Table,
    measure_objects_steps,
)
from napari_unet.core.analysis.measurements_csv import write_table_csv
from napari_unet.core.errors import UserInputError

from ._jobs import Job, notify_error, notify_info
from ._layers import labels_snapshot, layer_source

MAX_SHOWN_ROWS = 10_000  # a QTableWidget of more is slow to fill; the CSV has every row


def layer_spacing(layer: Labels) -> tuple[tuple[float, ...] | None, str | None]:
    """``(spacing, unit)`` of a layer's axes from its ``scale`` and ``units``:
    ``(None, None)`` (pixels) for scale 1 in pixels, ``"units"`` for a scale in pixels."""
    scale = tuple(float(s) for s in layer.scale)
    units = {f"{u:~}" for u in layer.units}
    if units <= {"pixel", "px"}:
        return (None, None) if all(s == 1.0 for s in scale) else (scale, "units")
    if len(units) > 1:
        raise UserInputError(
            f"The axes of {layer.name} have different units ({', '.join(sorted(units))}); "
            "measure a layer whose spatial axes share one unit."
        )
    return scale, units.pop()


def measure_layer(
    viewer: Any,
    labels_layer: Labels,
    image_layer: Image | None = None,
    *,
    class_layer: Labels | None = None,
    show_table: bool = True,
    on_done: Callable[[Table], None] | None = None,
) -> Job | None:
    """A started :class:`Job` measuring the objects of ``labels_layer`` (instance ids, 2D
    or 3D) on ``image_layer`` (intensities; None: shape only), with each object's class
    from ``class_layer`` if given. When it ends: ``labels_layer.features`` holds one row
    per object (``index`` = label), the table is docked if ``show_table``, and
    ``on_done(table)`` is called. Bad input (shapes, units) is shown as a notification
    (then no job: None)."""
    try:
        spacing, unit = layer_spacing(labels_layer)
    except UserInputError as err:
        notify_error(err, f"Measure {labels_layer.name}")
        return None
    labels = labels_snapshot(labels_layer)  # painting may go on meanwhile
    image = None if image_layer is None else layer_source(image_layer)
    channel_axis = -1 if image_layer is not None and image_layer.rgb else None
    classes = None if class_layer is None else labels_snapshot(class_layer)
    jobs: list[Job] = []

    def work(stop):
        return (
            yield from measure_objects_steps(
                labels,
                image,
                spacing=spacing,
                unit=unit,
                channel_axis=channel_axis,
                class_labels=classes,
                stop=stop,
            )
        )

    def progress(event: MeasureProgress) -> None:
        half = 0 if event.stage == "boxes" else 50
        jobs[0].set_progress(half + 50 * event.done / max(event.total, 1), every=0.2)

    def done(table: Table | None) -> None:
        if table is None:  # stopped
            return
        set_features(labels_layer, table)
        if show_table:
            show_objects_table(viewer, labels_layer.name, table)
        if on_done is not None:
            on_done(table)

    jobs.append(Job(work, what=f"Measure {labels_layer.name}", on_event=progress, on_done=done))
    return jobs[0].start()


def set_features(layer: Labels, table: Table) -> None:
    """``layer.features``: the table with an ``index`` column (the label) that napari
    uses to find an object's row under the cursor."""
    layer.features = {"index": np.asarray(table["label"]), **table}


def show_objects_table(viewer: Any, name: str, table: Table) -> ObjectsTable:
    """Dock (or refresh) the read-only table of ``name``'s objects; returns it."""
    title = f"Objects of {name}"
    docked = viewer.window.dock_widgets.get(title)
    if docked is not None and hasattr(docked, "set_table"):
        docked.set_table(table)
        return docked
    widget = ObjectsTable(table, f"{name}_objects.csv")
    viewer.window.add_dock_widget(widget, name=title, area="right", tabify=True)
    return widget


class ObjectsTable(QWidget):
    """A read-only table of measurements (one row per object) and a "Save CSV…" button."""

    def __init__(self, table: Table, default_file: str) -> None:
        super().__init__()
        self.table: Table = {}
        self._default_file = default_file
        self.grid = QTableWidget()
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.note = QLabel()
        self.save_button = QPushButton("Save CSV…")
        self.save_button.setToolTip("Write every row of this table to a CSV file.")
        self.save_button.clicked.connect(self.ask_save)
        layout = QVBoxLayout(self)
        for part in (self.note, self.grid, self.save_button):
            layout.addWidget(part)
        self.set_table(table)

    def set_table(self, table: Table) -> None:
        """Show ``table`` (at most :data:`MAX_SHOWN_ROWS` rows; the CSV has them all)."""
        self.table = table
        rows = len(next(iter(table.values()))) if table else 0
        shown = min(rows, MAX_SHOWN_ROWS)
        self.grid.clear()
        self.grid.setColumnCount(len(table))
        self.grid.setRowCount(shown)
        self.grid.setHorizontalHeaderLabels(list(table))
        for col, values in enumerate(table.values()):
            for row, value in enumerate(values[:shown].tolist()):
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                self.grid.setItem(row, col, QTableWidgetItem(text))
        more = f" (the first {shown} shown; Save CSV writes all)" if shown < rows else ""
        self.note.setText(f"{rows} objects{more}")

    def save(self, path: str | Path) -> Path:
        """Write the whole table to ``path`` (atomically)."""
        return write_table_csv(path, self.table)

    def ask_save(self) -> Path | None:
        """Ask for a file name, then :meth:`save`; problems become notifications."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Save objects", self._default_file, "CSV (*.csv)"
        )
        if not path:
            return None
        try:
            written = self.save(path)
        except OSError as err:
            notify_error(err, "Save objects")
            return None
        notify_info(f"Objects written to {written}")
        return written
