"""The Segment widget on a cluster: a real one-worker dask cluster segments a lazily
opened zarr stack (and an in-memory image, on local workers the widget starts) exactly
as this process does; an unreachable scheduler is an error notification within the
connect time limit and the widget is idle again; Stop keeps the finished blocks and a
second run resumes from them."""

from __future__ import annotations

import socket

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_unet.core import PredictionConfig, PredictionProgress, predict, run_to_completion
from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice
from tests.docking import dock_plugin_widget
from tests.scale_helpers import small_model, stop_after_first, write_zarr


def isbi_stack(slices: int, size: int = 128) -> np.ndarray:
    """``(slices, size, size)`` real ISBI crops (the 3 slices in tests/data, shifted)."""
    crops = [isbi_slice(i, crop=size)[0] for i in range(3)]
    return np.stack([np.roll(crops[i % 3], 7 * i, axis=1) for i in range(slices)])


@pytest.fixture(scope="module")
def scheduler_address():
    """One real LocalCluster (1 worker process) shared by the module's tests."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def model():
    return small_model()


def _widget(viewer, model, tmp_path, place, address=""):
    store_for(viewer).set(model)
    segment = dock_plugin_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    segment.control("Run on").value = place
    segment.control("Local workers").value = 1
    segment.control("Scheduler").value = address
    segment.control("Zarr folder").value = str(tmp_path / "out")
    return segment


def _in_process(model, stack, instances=False):
    config = PredictionConfig(instances=instances)
    return run_to_completion(predict(model, stack, config=config))


def test_a_lazy_zarr_stack_on_a_one_worker_cluster_equals_the_in_process_result(
    make_napari_viewer, wait_for, tmp_path, scheduler_address, model
):
    stack = isbi_stack(3)
    viewer = make_napari_viewer()
    layer = viewer.add_image(da.from_zarr(write_zarr(tmp_path / "in.zarr", stack)), name="lazy")
    segment = _widget(viewer, model, tmp_path, "address", scheduler_address)
    segment.control("Separate objects").value = True
    wait_for(segment.segment())
    expected = _in_process(model, stack, instances=True)
    labels = find_output(viewer, layer, "segmentation")
    instances = find_output(viewer, layer, "instances")
    assert isinstance(labels.data, zarr.Array)  # zarr-backed, filled by the worker
    np.testing.assert_array_equal(labels.data[:], expected.labels)
    np.testing.assert_array_equal(instances.data[:], expected.instances)
    assert "Segmentation done" in segment.status and not segment.running
    assert "predict_block_task" in _tasks_seen_by(scheduler_address)  # the worker did it


def _tasks_seen_by(address: str) -> list[str]:
    """Names of the kinds of task the scheduler at ``address`` has run."""
    from distributed import Client

    with Client(address, timeout="10s") as client:
        return client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))


def test_an_in_memory_image_on_local_workers_goes_through_zarr_and_equals_in_process(
    make_napari_viewer, wait_for, tmp_path, model
):
    stack = isbi_stack(2)
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="in memory")
    segment = _widget(viewer, model, tmp_path, "local")
    wait_for(segment.segment())
    labels = find_output(viewer, layer, "segmentation")
    np.testing.assert_array_equal(labels.data[:], _in_process(model, stack).labels)
    assert (tmp_path / "out" / "in_memory_segmentation_input.zarr").is_dir()  # what workers read


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_scheduler_is_an_error_notification_and_the_widget_is_idle_again(
    make_napari_viewer, wait_for, tmp_path, model, notifications, monkeypatch
):
    from napari_unet.core.prediction import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2.0)
    viewer = make_napari_viewer()
    viewer.add_image(isbi_stack(1), name="img")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    segment = _widget(viewer, model, tmp_path, "address", address)
    wait_for(segment.segment(), timeout=30_000)
    errors = [msg for sev, msg in notifications if "error" in sev.lower()]
    assert any("Could not reach the dask scheduler" in m and address in m for m in errors), errors
    assert (
        not segment.running
        and segment.button("Segment").enabled
        and not segment.button("Stop").enabled
    )
    segment.control("Scheduler").value = "not an address!"
    assert segment.segment() is None  # refused at once, before any connection
    assert any("is not a dask scheduler address" in m for _s, m in notifications)


def test_stop_keeps_the_finished_blocks_and_the_next_run_resumes_from_them(
    make_napari_viewer, wait_for, tmp_path, scheduler_address, model, monkeypatch
):
    from napari_unet.widgets import segment_widget

    stack = isbi_stack(6)
    viewer = make_napari_viewer()
    layer = viewer.add_image(da.from_zarr(write_zarr(tmp_path / "in.zarr", stack)), name="lazy")
    segment = _widget(viewer, model, tmp_path, "address", scheduler_address)
    run = segment_widget.run_job
    monkeypatch.setattr(segment_widget, "run_job", stop_after_first(run, PredictionProgress))
    wait_for(segment.segment())
    assert segment._blocks_before == 0 and "Stopped" in segment.status
    monkeypatch.setattr(segment_widget, "run_job", run)
    wait_for(segment.segment())
    # resumed: the kept blocks (the first, and any under way at Stop) are not run again
    assert 1 <= segment._blocks_before < len(stack)
    assert int(np.count_nonzero(_done_blocks(tmp_path))) == len(stack)
    np.testing.assert_array_equal(
        find_output(viewer, layer, "segmentation").data[:], _in_process(model, stack).labels
    )


def _done_blocks(tmp_path) -> np.ndarray:
    """The per-block 'done' markers of the widget's store."""
    from napari_unet.core.io.zarr_files import DONE

    return zarr.open_group(str(tmp_path / "out" / "lazy_segmentation.zarr"), mode="r")[DONE][:]
