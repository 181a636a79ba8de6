"""Where a prediction runs: this process, N local worker processes, or a dask cluster.

:class:`ClusterChoice` is the user's choice (the Segment widget's "Run on", the command
line's ``--workers`` / ``--scheduler``); :func:`cluster_client` turns it into a
``distributed.Client`` for the length of a run: a ``LocalCluster`` it starts and closes,
or a connection to a running scheduler made within a time limit, so an unreachable
address is a clear :class:`UserInputError` in seconds, never a hang. :func:`predict_where`
runs :func:`.distributed.predict_on_cluster` there (an in-memory image goes through a zarr
store the workers read) and :func:`cluster_run` turns a lost worker or scheduler into a
message saying what to do. Qt-free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..device import available_cpu_cores
from ..errors import UserInputError
from ..io.image_files import SourceSpec
from ..io.lazy_arrays import is_lazy
from ..model.trained_model import TrainedModel
from ..stopping import StopFlag
from .address import check_scheduler_address
from .distributed import predict_on_cluster
from .engine import PredictionConfig, PredictionProgress, PredictionResult

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
        raise UserInputError(
            f"The dask cluster failed during the run ({type(err).__name__}: {err}). The "
            f"finished blocks are kept in {where}: start again to resume. If a worker died, "
            "it may have run out of memory: use fewer threads or more memory per worker."
        ) from None


def predict_where(
    choice: ClusterChoice,
    model: TrainedModel,
    image: Any,
    out_dir: str | Path,
    stem: str,
    *,
    config: PredictionConfig,
    fingerprint: dict,
    rgb: bool = False,
    channel_axis: int | None = None,
    stop: StopFlag | None = None,
) -> Generator[PredictionProgress, None, PredictionResult]:
    """Predict ``image`` on the cluster of ``choice`` into ``out_dir/<stem>.zarr`` (see
    :func:`.distributed.predict_on_cluster`): connects (or starts the local workers),
    writes an in-memory image to ``<stem>_input.zarr`` for the workers to read, runs,
    and closes what it started. Yields progress per block; returns the result."""
    if choice.place == "local":  # the cores shared out among the worker processes
        config = replace(config, threads=max(1, available_cpu_cores() // choice.workers))
    with cluster_client(choice) as client:
        source = image if is_lazy(image) else stage_image(image, out_dir, stem)
        work = predict_on_cluster(
            client,
            model,
            source,
            out_dir,
            stem,
            config=config,
            channel_axis=channel_axis,
            rgb=rgb,
            fingerprint=fingerprint,
            stop=stop,
        )
        return (yield from cluster_run(work, str(out_dir)))


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


def run_fingerprint(model: TrainedModel, image_name: str, config: PredictionConfig) -> dict:
    """What must match for a zarr output to be resumed: the model's weights, the image's
    name and the prediction settings (device and threads excluded)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {
        "model_weights_sha256": digest.hexdigest(),
        "image": image_name,
        **prediction_settings(config),
    }


def prediction_settings(config: PredictionConfig) -> dict:
    """The settings that change a prediction's result (not where or how fast it runs)."""
    return {k: v for k, v in asdict(config).items() if k not in ("device", "threads")}
