"""The table of training rounds: those of the open project (any of which can be made
current again, "roll back"), else those of the current model."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import PushButton, Table

from .._fit import RefitOn, fit_table_columns

HISTORY_COLUMNS = ["painted pixels", "validation Dice", "time (s)"]


def round_rows(model: Any) -> tuple[list[list[str]], list[str]]:
    """``(rows, index)`` of the table: one row per training round of ``model``."""
    rows, index = [], []
    for r in model.rounds if model is not None else []:
        dice, seconds = r.get("validation_dice"), r.get("seconds")
        index.append(f"round {r.get('round')}")
        rows.append(
            [
                str(r.get("painted_pixels")),
                "–" if dice is None else f"{dice:.3f}",
                "–" if seconds is None else f"{float(seconds):.1f}",
            ]
        )
    return rows, index


def project_rows(manifest: Any) -> tuple[list[list[str]], list[str], list[int]]:
    """``(rows, index, numbers)``: one row per round of a project manifest, the current
    one marked."""
    rows, index, numbers = [], [], []
    for r in manifest.rounds:
        current = " (current)" if r.number == manifest.current_round else ""
        index.append(f"round {r.number}{current}")
        numbers.append(r.number)
        rows.append(
            [
                "–" if r.painted_pixels is None else str(r.painted_pixels),
                "–" if r.validation_dice is None else f"{r.validation_dice:.3f}",
                f"{r.seconds:.1f}",
            ]
        )
    return rows, index, numbers


class HistoryView:
    """``table``: painted pixels, validation Dice and time of each round; ``roll_back``:
    makes the selected round of the project current again (later rounds are kept)."""

    def __init__(self) -> None:
        self.table = Table(
            value={"data": [], "index": [], "columns": HISTORY_COLUMNS}, label=""
        )  # titled by its section
        self.table.read_only = True
        self.table.min_height = 110
        native = self.table.native
        RefitOn(native, lambda: fit_table_columns(native))  # no cut column, in any style
        self.roll_back = PushButton(
            text="Make selected round current",
            tooltip="Use the selected round's model again (roll back); later rounds are kept "
            "in the project.",
        )
        self.roll_back.enabled = False
        self.numbers: list[int] = []  # the project round of each row (none without a project)

    def show(self, model: Any) -> None:
        """The rounds of ``model`` (no project open: they cannot be made current)."""
        rows, index = round_rows(model)
        self.numbers = []
        self._fill(rows, index)

    def show_rounds(self, manifest: Any) -> None:
        """The rounds of a project (:class:`~napari_unet.core.project.ProjectManifest`)."""
        rows, index, self.numbers = project_rows(manifest)
        self._fill(rows, index)

    def selected_round(self) -> int | None:
        """The project round of the selected row, if any."""
        row = self.table.native.currentRow()
        return self.numbers[row] if 0 <= row < len(self.numbers) else None

    def _fill(self, rows: list[list[str]], index: list[str]) -> None:
        self.table.value = {"data": rows, "index": index, "columns": HISTORY_COLUMNS}
        _show_as_text(self.table, rows)
        self.roll_back.enabled = bool(self.numbers)


def _show_as_text(table: Table, rows: list[list[str]]) -> None:
    """Show cells exactly as formatted (magicgui would turn "0.029" into "2.900e-02")."""
    from qtpy.QtWidgets import QStyledItemDelegate, QTableWidgetItem

    native = table.native
    if type(native.itemDelegate()) is not QStyledItemDelegate:
        native.setItemDelegate(QStyledItemDelegate(native))  # magicgui's reformats numbers
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            native.setItem(r, c, QTableWidgetItem(text))
    fit_table_columns(native)
