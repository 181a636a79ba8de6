"""Helpers shared by the benchmarks: timing, machine load, data, plain-text tables.

Benchmarks are scripts (``python benchmarks/bench_*.py``), not part of the package;
this module sits next to them and is imported as ``_common``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
ISBI = DATA / "isbi2012"


def load_average() -> str:
    """The 1/5/15 minute load averages, as ``uptime`` prints them (the machine is shared)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_summary() -> dict[str, Any]:
    """CPU, cores, torch threads and current load, printed above every table."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": load_average(),
    }


def print_machine(summary: dict[str, Any]) -> None:
    print(
        f"# {summary['cpu']}, {summary['cores']} core(s) available, torch {summary['torch']} "
        f"({summary['torch_threads']} threads), load average {summary['load_average']}"
    )


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Run ``fn`` ``repeats`` times; return the fastest wall time (s) and the last result.

    The minimum is the least disturbed run on a shared machine.
    """
    best, result = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned numeric columns."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths)),
        "  ".join("-" * w for w in widths),
    ]
    for row, raw in zip(text, rows):
        lines.append(
            "  ".join(
                c.rjust(w) if isinstance(v, (int, float)) else c.ljust(w)
                for c, w, v in zip(row, widths, raw)
            )
        )
    return "\n".join(lines)


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` ("-" = stdout) when a path was given."""
    if not path:
        return
    text = json.dumps(payload, indent=2, default=float)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def read_isbi(index: int) -> tuple[np.ndarray, np.ndarray]:
    """ISBI 2012 slice ``index``: ``(image (512, 512) uint8, labels (512, 512) uint8)``,
    labels 255 = cell interior, 0 = membrane."""
    from skimage.io import imread

    image = imread(ISBI / "images" / f"{index}.png")
    labels = imread(ISBI / "labels" / f"{index}.png")
    if image.ndim == 3:
        image = image[..., 0]
    if labels.ndim == 3:
        labels = labels[..., 0]
    return np.asarray(image), np.asarray(labels)


def require_isbi() -> None:
    """Exit with a clear message when the shared ISBI data is not there."""
    if not (ISBI / "images" / "0.png").exists():
        raise SystemExit(
            f"ISBI 2012 data not found under {ISBI.resolve()}; "
            "this benchmark needs <repo>/../shared/data/isbi2012."
        )


def repair_relabelled_slices(truth: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Ground truth ``(Z, Y, X)`` with slices that were relabelled apart from the rest put
    back, and the indices of those slices.

    A slice is relabelled when none of its ids occurs in any other slice while its
    neighbours share theirs: an export that numbered one slice on its own (``plant3d``'s
    Z 31: every cell crossing it became three objects, one of them a single slice, and
    3D boundaries drawn from it put a membrane across the whole stack). Each id of such
    a slice takes the id its pixels carry most often in the neighbouring slices."""
    depth = truth.shape[0]
    alone = [_ids_only_here(truth, z) for z in range(depth)]
    fixed, repaired = np.array(truth, copy=True), []
    for z in range(depth):
        neighbours = [n for n in (z - 1, z + 1) if 0 <= n < depth]
        if not alone[z] or not neighbours or any(alone[n] for n in neighbours):
            continue
        mine = np.tile(truth[z].ravel(), len(neighbours))
        theirs = np.concatenate([truth[n].ravel() for n in neighbours])
        pairs, counts = np.unique(np.stack([mine, theirs]), axis=1, return_counts=True)
        for old in np.unique(truth[z]):
            votes = pairs[0] == old
            fixed[z][truth[z] == old] = pairs[1][votes][counts[votes].argmax()]
        repaired.append(z)
    return fixed, repaired


def _ids_only_here(truth: np.ndarray, z: int) -> bool:
    """Whether no id of slice ``z`` of ``truth`` ``(Z, Y, X)`` occurs in another slice."""
    return not np.isin(np.unique(truth[z]), np.delete(truth, z, axis=0)).any()
