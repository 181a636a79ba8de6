"""Blockwise prediction on a dask.distributed cluster.

The client (this process) checks the image, computes its intensity statistics, creates
(or resumes) the zarr outputs and plans the blocks exactly as in-process
:func:`.engine.predict` does; each worker then predicts single blocks with the same
engine (:func:`.blockwise.run_blocks`) and writes them straight into the zarr store, so
labels equal the in-process labels. The model is sent to every worker once
(``client.scatter(..., broadcast=True)``), the image goes by path (:class:`.image_files.
SourceSpec`) or as a lazy dask array, never as data. Blocks already marked done in the
store are not submitted again: a killed run resumes. Work is submitted a few tasks per
worker at a time, so a run of millions of blocks keeps a small scheduler and stops
quickly. Workers import only the core (no napari, no Qt).

Start a cluster with ``distributed.LocalCluster`` (``predict --workers N``) or on a batch
system with dask-jobqueue (``SLURMCluster``, ``LSFCluster``; see the README) and pass its
address (``predict --scheduler ADDRESS``). Workers need the image and output folder on a
shared file system.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ..data.images import channels_first
from ..errors import UserInputError
from ..io.image_files import SourceSpec, open_spec
from ..io.sinks import PredictionSink
from ..io.zarr_files import open_sink, zarr_sink
from ..model.trained_model import TrainedModel
from ..oom import OutOfMemoryRetry
from ..stopping import StopFlag, run_to_completion
from .blockwise import Block, BlockPlan
from .engine import (
    PredictionConfig,
    PredictionProgress,
    PredictionResult,
    block_plan,
    finish_run,
    predict_blocks,
    write_block,
)
from .image_job import network_on, prepare_job

TASKS_PER_WORKER = 2  # tasks queued per worker: keeps workers busy, the scheduler small
POLL_S = 0.5  # how often a waiting run looks at Stop and at the workers
NO_WORKERS_S = 60.0  # a cluster without workers this long ends the run with an error
_WORKER_LOCK = threading.Lock()  # one block at a time per worker process (shared model)


def predict_on_cluster(
    client: Any,
    model: TrainedModel,
    image: SourceSpec | Any,
    out_dir: str | Path,
    stem: str,
    *,
    config: PredictionConfig | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    info: dict | None = None,
    fingerprint: dict | None = None,
    stop: StopFlag | None = None,
    sink: PredictionSink | None = None,
) -> Generator[PredictionProgress, None, PredictionResult]:
    """Predict ``image`` on the workers of ``client`` into ``out_dir/<stem>.zarr`` (and
    ``_instances``, ``_probabilities``); yields progress per block, returns the result
    (zarr arrays). ``image``: a :class:`SourceSpec` or a lazy array the workers can read.
    ``sink``: that store already opened (else created or resumed here with
    ``fingerprint`` and ``info``)."""
    cfg = config or PredictionConfig()
    stop = stop or StopFlag()
    local = open_spec(image) if isinstance(image, SourceSpec) else image
    job = prepare_job(
        local,
        model.spatial_dims,
        in_channels=model.in_channels,
        normalization=model.normalization,
        channel_axis=channel_axis,
        rgb=rgb,
    )
    plan = block_plan(model, job.shape, cfg)
    sink = sink or zarr_sink(
        out_dir,
        stem,
        plan,
        model.num_classes,
        cfg,
        fingerprint=fingerprint or {},
        info=info,
        channel_axis=channel_axis,
    )
    todo = [b for b in plan.blocks() if not sink.is_done(b)]
    model_future = client.scatter(model, broadcast=True, hash=False)
    task = (model_future, image, str(out_dir), stem, job.low, job.high, channel_axis, rgb)
    done = yield from _run_tasks(client, (*task, plan, cfg), todo, stop)
    return finish_run(sink, plan, cfg, job.todo, stopped=done < len(todo))


def _run_tasks(
    client: Any, args: tuple, todo: list[Block], stop: StopFlag
) -> Generator[PredictionProgress, None, int]:
    """Submit :func:`predict_block_task` for the blocks of ``todo``, ``TASKS_PER_WORKER``
    per worker at a time; yields progress per finished block, returns how many finished
    (fewer than ``len(todo)`` when stopped: the tasks under way are cancelled)."""
    window = TASKS_PER_WORKER * max(1, len(client.scheduler_info().get("workers", {})))
    pending, done = iter(todo), 0
    running = {
        client.submit(predict_block_task, *args, block, pure=False)
        for block in itertools.islice(pending, window)
    }
    while running and not stop.requested:
        finished, running = _wait_some(client, running, stop)
        for future in finished:
            block: Block = future.result()  # a task's error is raised here
            done += 1
            yield PredictionProgress(done, len(todo), block.lead)
            nxt = next(pending, None)
            if nxt is not None and not stop.requested:
                running.add(client.submit(predict_block_task, *args, nxt, pure=False))
    for future in running:  # stopped: blocks under way may still finish, or not
        future.cancel()
    return done


def _wait_some(client: Any, running: set, stop: StopFlag) -> tuple[set, set]:
    """``(finished, still running)`` once a task of ``running`` ends or Stop is pressed,
    looking every ``POLL_S``; a cluster without workers for ``NO_WORKERS_S`` is an error."""
    from distributed import wait

    idle_since = None
    while True:
        try:
            done, not_done = wait(running, timeout=POLL_S, return_when="FIRST_COMPLETED")
            return set(done), set(not_done)
        except TimeoutError:
            if stop.requested:
                return set(), running
        if client.status == "closed":
            raise UserInputError(
                "The connection to the dask scheduler was lost; start it "
                "again (or check the network), then run again to resume."
            )
        if client.scheduler_info().get("workers"):
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > NO_WORKERS_S:
            raise UserInputError(
                f"The dask cluster has had no workers for {NO_WORKERS_S:g} s; "
                "start workers (or check why they died), then run again "
                "to resume."
            )


def predict_block_task(
    model: TrainedModel,
    image: SourceSpec | Any,
    out_dir: str,
    stem: str,
    low,
    high,
    channel_axis: int | None,
    rgb: bool,
    plan: BlockPlan,
    cfg: PredictionConfig,
    block: Block,
) -> Block:
    """Runs on a worker: predict one block and write it (and its marker) into the store."""
    source = open_spec(image) if isinstance(image, SourceSpec) else image
    source_cf = channels_first(source, channel_axis, rgb)
    sink = open_sink(out_dir, stem, instances=cfg.instances, probabilities=cfg.probabilities)
    threads = cfg.threads or _worker_threads()
    with _WORKER_LOCK, network_on(model.network, cfg.device, threads, len(plan.spatial)) as device:
        work = predict_blocks(model, device, source_cf, low, high, [block], plan, cfg, StopFlag())
        for finished in _drain(work, run_to_completion):
            if not isinstance(finished, OutOfMemoryRetry):
                write_block(sink, finished, plan, cfg)
    return block


def _drain(work, run_to_completion):
    """All yielded items of a generator, as a list."""
    items: list = []
    run_to_completion(work, items.append)
    return items


def _worker_threads() -> int | None:
    """Threads of the dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().nthreads)
    except (ImportError, ValueError, AttributeError):
        return None
