"""Keep Qt widgets as wide as their content needs, also after napari's style sheet or new
texts change it, so docked widgets and tables are never cut sideways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject

REFIT_EVENTS = (
    QEvent.Type.LayoutRequest,
    QEvent.Type.StyleChange,
    QEvent.Type.FontChange,
    QEvent.Type.Show,
)


class RefitOn(QObject):
    """Calls ``refit()`` now and whenever ``watched`` is laid out, restyled or shown.

    Owned by ``watched`` (a Qt child), so it lives as long as the widget it watches.
    """

    def __init__(self, watched: Any, refit: Callable[[], None]) -> None:
        super().__init__(watched)
        self._refit = refit
        watched.installEventFilter(self)
        refit()

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if event.type() in REFIT_EVENTS:
            self._refit()
        return False


def fit_scroll_area_width(area: Any) -> None:
    """Make a vertical scroll area at least as wide as its content's minimum width plus
    its scroll bar, so the content is never cut sideways."""
    from qtpy.QtWidgets import QStyle

    bar = area.verticalScrollBar()
    extent = max(
        bar.sizeHint().width(),
        area.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, bar),
    )
    slack = 2 * area.frameWidth() + 2  # napari's style draws the bar a pixel wider
    area.setMinimumWidth(area.widget().minimumSizeHint().width() + extent + slack)


def fit_table_columns(table: Any) -> None:
    """Every column of a ``QTableWidget`` as wide as its header and cells, and the table
    wide enough to show them all next to its row header (no cut column)."""
    from qtpy.QtWidgets import QHeaderView

    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.resizeColumnsToContents()
    columns = sum(header.sectionSize(c) for c in range(header.count()))
    rows_header = table.verticalHeader()
    row_names = rows_header.sizeHint().width() if rows_header.isVisibleTo(table) else 0
    table.setMinimumWidth(columns + row_names + 2 * table.frameWidth() + 2)
