"""Measurement tables as CSV files, written atomically, with the units in the header.

The header row holds the column names of :func:`.measurements.column_names`, whose
lengths carry their unit (``area [µm^2]``, ``centroid_x [µm]``, ``bbox_start_x [px]``).
UTF-8, comma separated, one row per object sorted by label; floats are written with
Python's shortest exact form, so reading the file back gives the same numbers.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import BinaryIO

from ..io.atomic_write import atomic_write
from .measurements import Table


def write_table_csv(path: str | os.PathLike, table: Table) -> Path:
    """Write ``table`` (column -> ``(n,)`` values) to ``path`` atomically; returns it."""

    def write(handle: BinaryIO) -> None:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        rows = csv.writer(text)
        rows.writerow(list(table))
        rows.writerows(zip(*(column.tolist() for column in table.values())))
        text.flush()
        text.detach()  # atomic_write flushes and closes the file itself

    return atomic_write(path, write)


def read_table_csv(path: str | os.PathLike) -> dict[str, list[str]]:
    """The columns of a table written by :func:`write_table_csv`, as text."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return {name: [row[i] for row in rows[1:]] for i, name in enumerate(rows[0])}
