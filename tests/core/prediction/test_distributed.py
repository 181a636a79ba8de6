"""Prediction on a real dask.distributed cluster of 2 worker processes: labels equal the
in-process labels, instances match one to one, the work runs on the workers, the model
is sent once, and a killed run resumes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr

from napari_unet.core import PredictionConfig, predict, run_to_completion
from napari_unet.core.io.image_files import SourceSpec
from napari_unet.core.prediction.distributed import predict_on_cluster
from tests.scale_helpers import isbi_stack, small_model, write_zarr

# 2 slices of 256², blocks of 128: 8 blocks, objects crossing block faces get stitched
CFG = PredictionConfig(device="cpu", instances=True, block=128, tile=96, overlap=16)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.fixture(scope="module")
def stack_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "stack.zarr"
    write_zarr(path, isbi_stack(2))
    return path


@pytest.fixture(scope="module")
def in_process(model, stack_path):
    return run_to_completion(predict(model, zarr.open(str(stack_path)), config=CFG))


def test_cluster_labels_equal_in_process_and_instances_match(
    client, model, stack_path, in_process, tmp_path
):
    result = run_to_completion(
        predict_on_cluster(
            client, model, SourceSpec(str(stack_path)), tmp_path, "stack", config=CFG
        )
    )
    np.testing.assert_array_equal(result.labels[:], in_process.labels)
    np.testing.assert_array_equal(result.instances[:], in_process.instances)
    inst = in_process.instances[0]
    crossing = np.intersect1d(inst[:128], inst[128:])  # ids on both sides of a block face
    assert crossing[crossing > 0].size > 0 and result.completed.all()


def test_blocks_run_on_the_worker_processes(client, model, stack_path, tmp_path):
    pids = set(client.run(os.getpid).values())
    run_to_completion(
        predict_on_cluster(
            client, model, SourceSpec(str(stack_path)), tmp_path, "stack", config=CFG
        )
    )
    assert os.getpid() not in pids and len(pids) == 2
    # every block was written by a task named after the block function
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "predict_block_task" in prefixes


def test_killed_cluster_run_resumes_without_recomputing_marked_blocks(
    client, model, stack_path, in_process, tmp_path
):
    """Simulated kill: a first run finished some blocks (their chunk files are not
    rewritten: verified against their checksums, then reused); the second run computes
    only the others."""
    run_to_completion(
        predict_on_cluster(
            client, model, SourceSpec(str(stack_path)), tmp_path, "stack", config=CFG
        )
    )
    labels = zarr.open_group(str(tmp_path / "stack.zarr"), mode="r+")
    finished = tmp_path / "stack.zarr" / "0" / "c" / "0" / "0" / "0"  # a finished block ...
    written = finished.stat().st_mtime_ns
    labels["blocks_done"][1] = 0  # ... and a whole slice lost in the kill
    labels["0"][1] = 0
    events = []
    run_to_completion(
        predict_on_cluster(
            client, model, SourceSpec(str(stack_path)), tmp_path, "stack", config=CFG
        ),
        events.append,
    )
    assert len(events) == 4  # only the 4 blocks of slice 1
    assert finished.stat().st_mtime_ns == written
    again = labels["0"][:]
    np.testing.assert_array_equal(again, in_process.labels)
