"""The table of training rounds of the current model."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Table

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


class HistoryView:
    """``table``: painted pixels, validation Dice and time of each round."""

    def __init__(self) -> None:
        self.table = Table(
            value={"data": [], "index": [], "columns": HISTORY_COLUMNS}, label=""
        )  # titled by its section
        self.table.read_only = True
        self.table.min_height = 110
        native = self.table.native
        RefitOn(native, lambda: fit_table_columns(native))  # no cut column, in any style

    def show(self, model: Any) -> None:
        rows, index = round_rows(model)
        self.table.value = {"data": rows, "index": index, "columns": HISTORY_COLUMNS}
        _show_as_text(self.table, rows)


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
