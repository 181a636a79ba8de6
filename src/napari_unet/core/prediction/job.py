"""One prediction job for every front end: the command line and the Segment widget build a
:class:`PredictionJob` (what to segment, with which model and settings, where it runs,
where its results go) and :func:`run` does it, yielding its events.

:func:`run` owns what the front ends used to assemble each in their own way: the zarr
store and the one resume fingerprint (:func:`run_fingerprint`: the model's weights, the
image's name and the settings that change the result), the threads shared out among
local workers, staging an in-memory image for cluster workers, a lost worker said
plainly (:func:`.cluster.cluster_run`), object-size matching, and TIFF files written at
the end. Qt-free.

Events, in order: one :class:`RunStarted`, then :class:`.engine.PredictionProgress` per
block (with ``oom.OutOfMemoryRetry`` and ``object_scale.ObjectScale`` where they apply);
the return value is the :class:`.engine.PredictionResult`.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Generator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..device import available_cpu_cores
from ..errors import UserInputError
from ..io.image_files import SourceSpec, write_tiff
from ..io.lazy_arrays import is_lazy, read
from ..io.sinks import PredictionSink
from ..io.zarr_files import zarr_sink
from ..model.trained_model import TrainedModel
from ..stopping import StopFlag
from .blockwise import BlockPlan
from .cluster import ClusterChoice, cluster_client, cluster_run, stage_image
from .engine import PredictionConfig, PredictionProgress, PredictionResult, block_plan, predict
from .image_job import ImageJob, prepare_job
from .object_scale import predict_at_model_scale

RESULT_KINDS = ("memory", "tiff", "zarr")
TEMP_PREFIX = "napari-unet-"


@dataclass(frozen=True)
class ResultsTo:
    """Where a job's results go.

    ``kind`` "memory": NumPy arrays, returned; "tiff": ``folder/<stem>.tif`` (and
    ``_instances.tif``, ``_probabilities.tif``) written when the run ends; "zarr":
    ``folder/<stem>.zarr`` (and ``_instances.zarr``, ``_probabilities.zarr``) written
    block by block, resumed when the same model, image and settings wrote it.
    ``temporary``: ``folder`` (None: a new one) is a temporary folder the run may swap for
    a fresh temporary one when it holds another run; the user's own folder never is.
    """

    kind: str = "memory"
    folder: Path | None = None
    stem: str = "image"
    temporary: bool = False

    def __post_init__(self) -> None:
        if self.kind not in RESULT_KINDS:
            raise ValueError(f"kind must be one of {RESULT_KINDS}, got {self.kind!r}")
        if self.kind != "memory" and self.folder is None and not self.temporary:
            raise ValueError(f"{self.kind} results need a folder")

    @property
    def labels_path(self) -> Path | None:
        """The class labels' file (None in memory, or for a temporary folder not made yet)."""
        if self.kind == "memory" or self.folder is None:
            return None
        return Path(self.folder) / f"{self.stem}.{'tif' if self.kind == 'tiff' else 'zarr'}"


@dataclass(frozen=True)
class PredictionJob:
    """A prediction to run with :func:`run`.

    model: the trained model. image: NumPy, dask, zarr or napari multiscale data (level
    0), channels where ``channel_axis`` / ``rgb`` say. name: the image in the resume
    fingerprint (a file's path, a layer's name). where: this process, local workers or a
    dask cluster (a cluster run writes zarr results). source: how cluster workers open the
    image by path (None: a lazy image is sent as it is, an in-memory one is written to
    ``<stem>_input.zarr`` beside the results). indices: leading indices to segment (the
    slice in view; this process only). match_object_size: with instances, in memory or
    TIFF, predict again at the object size the model learned. info: the input's zarr
    metadata (OME axes and scale), kept in zarr results.
    """

    model: TrainedModel
    image: Any
    name: str
    config: PredictionConfig = field(default_factory=PredictionConfig)
    where: ClusterChoice = field(default_factory=ClusterChoice)
    results: ResultsTo = field(default_factory=ResultsTo)
    channel_axis: int | None = None
    rgb: bool = False
    source: SourceSpec | None = None
    indices: list[tuple[int, ...]] | None = None
    match_object_size: bool = False
    info: dict | None = None

    def check(self) -> None:
        """Refuse, with a message naming the fix, a job that cannot run as asked."""
        self.where.check()
        if self.where.on_cluster and self.results.kind != "zarr":
            raise UserInputError(
                "A cluster run writes zarr results: choose zarr outputs, or run in this process."
            )
        if self.where.on_cluster and self.indices is not None:
            raise UserInputError("The slice in view runs in this process, not on a cluster.")


@dataclass(frozen=True)
class RunStarted:
    """The first event of a run: ``total`` blocks to segment, ``already_done`` of them
    kept from an earlier run (a resumed zarr store), and the zarr ``sink`` the results
    fill with its ``folder`` (both None for results in memory or TIFF)."""

    total: int
    already_done: int
    sink: PredictionSink | None
    folder: Path | None


def run(
    job: PredictionJob, stop: StopFlag | None = None, client: Any = None
) -> Generator[Any, None, PredictionResult]:
    """Do ``job``: yields a :class:`RunStarted`, then progress per block; returns the
    result (NumPy arrays, or the zarr store's arrays). ``client``: an open
    ``distributed.Client`` on ``job.where`` to use (several jobs on one cluster); None:
    the run connects, or starts the local workers, and closes what it started."""
    job.check()
    stop = stop or StopFlag()
    config = config_for_place(job.config, job.where)
    prepared = _prepared(job)
    plan = block_plan(job.model, prepared.shape, config)
    sink, folder = (None, None)
    if job.results.kind == "zarr":
        sink, folder = open_zarr_results(job, config, plan)
    total = plan.blocks_per_unit * len(prepared.todo)
    yield RunStarted(total, _blocks_done(sink, prepared.todo), sink, folder)
    if job.where.on_cluster:
        assert sink is not None and folder is not None  # check(): cluster results are zarr
        result = yield from _on_cluster(job, config, sink, folder, stop, client)
    else:
        result = yield from _in_process(job, config, sink, stop)
    if job.results.kind == "tiff" and not result.stopped:  # a file is a finished image
        write_tiffs(result, job.results)
    return result


def _blocks_done(sink: PredictionSink | None, leads: list[tuple[int, ...]]) -> int:
    """Blocks of ``leads`` an earlier run finished: one read of the store's markers."""
    if sink is None:
        return 0
    done = np.asarray(read(sink.done)).astype(bool)
    return int(sum(np.count_nonzero(done[lead]) for lead in leads))


def config_for_place(config: PredictionConfig, where: ClusterChoice) -> PredictionConfig:
    """``config`` with this machine's cores shared out among local worker processes."""
    if where.place != "local":
        return config
    return replace(config, threads=max(1, available_cpu_cores() // where.workers))


def _prepared(job: PredictionJob) -> ImageJob:
    """``job``'s image checked against the model: its shape and leading indices to do
    (statistics are left to the run, nothing is read)."""
    return prepare_job(
        job.image,
        job.model.spatial_dims,
        in_channels=job.model.in_channels,
        normalization=None,
        channel_axis=job.channel_axis,
        rgb=job.rgb,
        indices=job.indices,
    )


def open_zarr_results(
    job: PredictionJob, config: PredictionConfig, plan: BlockPlan
) -> tuple[PredictionSink, Path]:
    """The zarr store of ``job``'s results, created or resumed, and its folder. A temporary
    folder holding another run is swapped for a fresh one; the user's folder never is."""
    results = job.results
    folder = Path(results.folder or tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        return _zarr_sink(job, config, plan, folder), folder
    except UserInputError:
        if not results.temporary:
            raise
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    return _zarr_sink(job, config, plan, folder), folder


def _zarr_sink(
    job: PredictionJob, config: PredictionConfig, plan: BlockPlan, folder: Path
) -> PredictionSink:
    return zarr_sink(
        folder,
        job.results.stem,
        plan,
        job.model.num_classes,
        config,
        fingerprint=run_fingerprint(job.model, job.name, config),
        info=job.info,
        channel_axis=job.channel_axis,
    )


def _in_process(
    job: PredictionJob, config: PredictionConfig, sink: PredictionSink | None, stop: StopFlag
) -> Generator[Any, None, PredictionResult]:
    """The job in this process: into ``sink`` (zarr), or in memory, where object-size
    matching applies when asked."""
    kwargs = dict(
        config=config,
        channel_axis=job.channel_axis,
        rgb=job.rgb,
        indices=job.indices,
        stop=stop,
    )
    if sink is None and config.instances and job.match_object_size and not config.boundary_class:
        return (yield from predict_at_model_scale(job.model, job.image, **kwargs))
    return (yield from predict(job.model, job.image, output=sink, **kwargs))


def _on_cluster(
    job: PredictionJob,
    config: PredictionConfig,
    sink: PredictionSink,
    folder: Path,
    stop: StopFlag,
    client: Any,
) -> Generator[PredictionProgress, None, PredictionResult]:
    """The job on the workers of ``client``, or of ``job.where`` (connected, or started
    and closed here)."""
    from .distributed import predict_on_cluster

    with nullcontext(client) if client is not None else cluster_client(job.where) as client:
        source = job.source or (job.image if is_lazy(job.image) else None)
        if source is None:
            source = stage_image(job.image, folder, job.results.stem)
        work = predict_on_cluster(
            client,
            job.model,
            source,
            folder,
            job.results.stem,
            config=config,
            channel_axis=job.channel_axis,
            rgb=job.rgb,
            sink=sink,
            stop=stop,
        )
        return (yield from cluster_run(work, str(folder)))


def write_tiffs(result: PredictionResult, results: ResultsTo) -> None:
    """``result``'s arrays as ``<stem>.tif``, ``_instances.tif`` and
    ``_probabilities.tif`` in ``results.folder`` (each written atomically)."""
    folder, stem = Path(results.folder or "."), results.stem
    write_tiff(folder / f"{stem}.tif", result.labels)
    if result.instances is not None:
        write_tiff(folder / f"{stem}_instances.tif", result.instances)
    if result.probabilities is not None:
        write_tiff(folder / f"{stem}_probabilities.tif", result.probabilities)


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
