"""Where a prediction runs: this process, N local worker processes, or a dask cluster.

:class:`ClusterChoice` is the user's choice (the Segment widget's "Run on", the command
line's ``--workers`` / ``--scheduler``); :func:`cluster_client` turns it into a
``distributed.Client`` for the length of a run: a ``LocalCluster`` it starts and closes,
or a connection to a running scheduler made within a time limit, so an unreachable
address is a clear :class:`UserInputError` in seconds, never a hang; :func:`cluster_run`
turns a lost worker or scheduler into a message saying what to do, and
:func:`stage_image` writes an in-memory image where the workers can read it.
:func:`.job.run` puts these together for a :class:`.job.PredictionJob`. Qt-free.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from ..io.disk_space import is_disk_full
from ..io.image_files import SourceSpec
from ..io.zarr_files import one_line
from .address import check_scheduler_address
from .engine import PredictionProgress, PredictionResult

PLACES = ("process", "local", "address")  # this process, local workers, a dask cluster
CONNECT_TIMEOUT_S = 10.0
STAGED = "napari_unet_staged_input"  # marks an in-memory image written for the workers


@dataclass(frozen=True)
class ClusterChoice:
    """Where to run: ``place`` "process" (here), "local" (``workers`` new processes on this
    machine, started and closed with the run) or "address" (the scheduler at ``address``,
    e.g. ``tcp://host:8786``, reached within ``timeout`` seconds, default
    ``CONNECT_TIMEOUT_S``)."""

    place: str = "process"
    workers: int = 2
    address: str = ""
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.place not in PLACES:
            raise ValueError(f"place must be one of {PLACES}, got {self.place!r}")

    @property
    def on_cluster(self) -> bool:
        return self.place != "process"

    def check(self) -> None:
        """Refuse an unusable choice with a message naming the fix."""
        if self.place == "local" and self.workers < 1:
            raise UserInputError("Local workers: choose 1 worker process or more.")
        if self.place == "address":
            check_scheduler_address(self.address)  # distributed's own parsing, one line


@contextmanager
def cluster_client(choice: ClusterChoice, threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` for ``choice`` (None for "process"), closed afterwards;
    a local cluster is shut down with it, a remote one is left running."""
    if not choice.on_cluster:
        yield None
        return
    choice.check()
    from distributed import Client, LocalCluster

    if choice.place == "local":
        with (
            LocalCluster(
                n_workers=choice.workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    address, timeout = choice.address.strip(), choice.timeout or CONNECT_TIMEOUT_S
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise UserInputError(
            f"Could not reach the dask scheduler at {address} within {timeout:g} s "
            f"({type(err).__name__}). Check the address and that the scheduler is running "
            "and reachable from this machine, or run on local workers."
        ) from None
    with client:
        yield client


def cluster_run(
    work: Generator[PredictionProgress, None, PredictionResult], where: str
) -> Generator[PredictionProgress, None, PredictionResult]:
    """``yield from`` a :func:`.distributed.predict_on_cluster` run, with a lost worker or
    scheduler said plainly: finished blocks stay in ``where`` and a new run resumes."""
    from concurrent.futures import CancelledError

    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker

    try:
        return (yield from work)
    except (KilledWorker, CommClosedError, CancelledError, OSError) as err:
        if isinstance(err, OSError) and is_disk_full(err):
            raise  # the front end names the disk and the space needed
        raise UserInputError(
            f"The dask cluster failed during the run ({type(err).__name__}: {one_line(err)}). The "
            f"finished blocks are kept in {where}: start again to resume. If a worker died, "
            "it may have run out of memory: use fewer threads or more memory per worker."
        ) from None


def stage_image(image: np.ndarray, out_dir: str | Path, stem: str) -> SourceSpec:
    """``image`` written to ``out_dir/<stem>_input.zarr``, for cluster workers to read by
    path. Rewrites only a store this function made (marked in its attributes)."""
    import zarr

    path = Path(out_dir) / f"{stem}_input.zarr"
    if path.exists():
        try:
            ours = bool(zarr.open_array(str(path), mode="r").attrs.get(STAGED))
        except Exception:  # noqa: BLE001 - not a zarr array: not ours
            ours = False
        if not ours:
            raise UserInputError(
                f"{path} exists and was not written by napari-unet; choose "
                "another folder (nothing is overwritten)."
            )
    array = zarr.create_array(
        store=str(path), shape=image.shape, dtype=image.dtype, chunks="auto", overwrite=True
    )
    array[...] = image
    array.attrs[STAGED] = True
    return SourceSpec(str(path))
