"""Lazy inputs: zarr (format 2 and 3), dask and napari multiscale data predict like NumPy,
and a stack is never loaded whole."""

from __future__ import annotations

import tracemalloc

import dask.array as da
import numpy as np
import pytest

from napari_unet.core import Normalization, PredictionConfig, predict, run_to_completion
from napari_unet.core.io.lazy_arrays import sample, sample_grid
from napari_unet.core.io.zarr_files import zarr_sink
from napari_unet.core.prediction.engine import block_plan
from napari_unet.core.prediction.image_job import prepare_job
from tests.scale_helpers import isbi_stack, small_model, write_zarr

CFG = PredictionConfig(device="cpu", instances=True)


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.fixture(scope="module")
def stack():
    return isbi_stack(3)


@pytest.fixture(scope="module")
def in_memory(model, stack):
    return run_to_completion(predict(model, stack, config=CFG))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_stack_predicts_exactly_like_the_numpy_stack(
    model, stack, in_memory, tmp_path, zarr_format
):
    array = write_zarr(tmp_path / "stack.zarr", stack, zarr_format)
    lazy = run_to_completion(predict(model, array, config=CFG))
    np.testing.assert_array_equal(lazy.labels, in_memory.labels)
    np.testing.assert_array_equal(lazy.instances, in_memory.instances)
    assert lazy.completed.all()


def test_dask_and_multiscale_inputs_use_full_resolution(model, stack, in_memory):
    lazy = da.from_array(stack, chunks=(1, 100, 100))
    levels = [lazy, lazy[:, ::2, ::2]]  # napari multiscale data: level 0 first
    for image in (lazy, levels):
        result = run_to_completion(predict(model, image, config=CFG))
        np.testing.assert_array_equal(result.labels, in_memory.labels)


def test_statistics_of_lazy_and_numpy_arrays_are_identical(stack):
    norm = Normalization()
    numpy_stats = norm.statistics(stack[np.newaxis])
    lazy_stats = norm.statistics(da.from_array(stack, chunks=(1, 64, 64))[np.newaxis])
    np.testing.assert_array_equal(numpy_stats, lazy_stats)


def test_statistics_sample_few_planes_of_a_long_stack():
    grid = sample_grid((1000, 2048, 2048))
    assert len(range(1000)[grid[0]]) <= 8  # planes read from a lazy stack
    values = sample(da.zeros((1000, 2048, 2048), np.uint8, chunks=(1, 2048, 2048)))
    assert 1_000_000 < values.size <= 4_300_000


def test_prepare_job_keeps_lazy_data_lazy(stack):
    job = prepare_job(
        da.from_array(stack, chunks=(1, 64, 64)), 2, in_channels=1, normalization=Normalization()
    )
    assert isinstance(job.source, da.Array) and job.source.shape == (1,) + stack.shape


def _traced_peak(model, stack: np.ndarray, folder) -> int:
    """Peak of NumPy/Python allocations (bytes) while predicting ``stack`` from zarr to zarr."""
    array = write_zarr(folder / "in.zarr", stack, chunks=(1, 256, 256))
    cfg = PredictionConfig(device="cpu")
    sink = zarr_sink(
        folder / "out",
        "in",
        block_plan(model, stack.shape, cfg),
        model.num_classes,
        cfg,
        fingerprint={},
    )
    tracemalloc.start()
    try:
        result = run_to_completion(predict(model, array, config=cfg, output=sink))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert result.completed.all()


def test_peak_memory_does_not_grow_with_the_number_of_slices(model, tmp_path):
    """tracemalloc sees every NumPy buffer: loading the stack (or a whole-stack output)
    would add 80 slices x 64 KiB = 5 MiB between 16 and 96 slices; blockwise adds ~0."""
    plane = isbi_stack(1)
    _traced_peak(model, np.tile(plane, (2, 1, 1)), tmp_path / "warm")  # imports, caches
    short = _traced_peak(model, np.tile(plane, (16, 1, 1)), tmp_path / "short")
    long = _traced_peak(model, np.tile(plane, (96, 1, 1)), tmp_path / "long")
    assert long - short < 80 * plane.nbytes / 4, f"{(long - short) / 2**20:.2f} MiB more"
