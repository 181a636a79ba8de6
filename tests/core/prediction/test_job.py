"""The one prediction job: results in memory equal :func:`predict`'s, TIFF results are
written as files, a zarr store is resumed by the same model, image and settings (and only
by them), a temporary folder holding another run is swapped for a fresh one while the
user's folder is refused, impossible jobs are refused before any work, and a job on local
workers gives the in-process labels with the cores shared out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core import (
    PredictionConfig,
    PredictionJob,
    ResultsTo,
    RunStarted,
    UserInputError,
    predict,
    run_job,
    run_to_completion,
)
from napari_unet.core.prediction.cluster import ClusterChoice
from napari_unet.core.prediction.job import config_for_place, run_fingerprint
from tests.conftest import isbi_slice
from tests.core.prediction.test_blockwise import calibrated_model

CONFIG = PredictionConfig(device="cpu", block=64, instances=True)


@pytest.fixture(scope="module")
def model():
    return calibrated_model()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return isbi_slice(0, crop=128)[0]


def _events(job: PredictionJob) -> tuple[list, object]:
    events: list = []
    return events, run_to_completion(run_job(job), events.append)


def test_a_job_in_memory_gives_what_predict_gives_and_starts_with_its_block_count(model, image):
    events, result = _events(PredictionJob(model, image, "img", config=CONFIG))
    expected = run_to_completion(predict(model, image, config=CONFIG))
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_array_equal(result.instances, expected.instances)
    assert events[0] == RunStarted(4, 0, None, None)  # 128 x 128 in blocks of 64


def test_a_tiff_job_writes_labels_and_instances_files(model, image, tmp_path):
    job = PredictionJob(
        model, image, "img", config=CONFIG, results=ResultsTo("tiff", tmp_path, "a")
    )
    _, result = _events(job)
    assert job.results.labels_path == tmp_path / "a.tif"
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), result.labels)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a_instances.tif"), result.instances)


def test_a_zarr_job_run_again_resumes_every_block_and_gives_the_same_labels(model, image, tmp_path):
    job = PredictionJob(
        model, image, "img", config=CONFIG, results=ResultsTo("zarr", tmp_path, "a")
    )
    first_events, first = _events(job)
    again_events, again = _events(job)
    assert first_events[0].already_done == 0 and first_events[0].folder == tmp_path
    assert again_events[0].already_done == again_events[0].total == 4
    np.testing.assert_array_equal(again.labels[...], first.labels[...])


def test_a_store_of_other_weights_is_refused_in_the_users_folder(model, image, tmp_path):
    job = PredictionJob(
        model, image, "img", config=CONFIG, results=ResultsTo("zarr", tmp_path, "a")
    )
    _events(job)
    other = model.copy()
    with torch.no_grad():
        other.network.head.bias.add_(0.5)
    with pytest.raises(UserInputError, match="a.zarr"):
        _events(replace(job, model=other))


def test_a_temporary_folder_holding_another_run_is_swapped_for_a_fresh_one(model, image, tmp_path):
    results = ResultsTo("zarr", tmp_path, "a", temporary=True)
    job = PredictionJob(model, image, "img", config=CONFIG, results=results)
    _events(job)
    events, _ = _events(replace(job, name="another image"))
    assert events[0].folder != tmp_path and events[0].already_done == 0
    assert (Path(events[0].folder) / "a.zarr").is_dir()


def test_the_fingerprint_follows_the_weights_not_the_device_or_threads(model):
    same = run_fingerprint(model, "img", replace(CONFIG, device="auto", threads=3))
    assert same == run_fingerprint(model.copy(), "img", CONFIG)
    other = model.copy()
    with torch.no_grad():
        other.network.head.bias.add_(0.5)
    assert run_fingerprint(other, "img", CONFIG) != same
    assert run_fingerprint(model, "img", replace(CONFIG, min_object_size=3)) != same


@pytest.mark.parametrize(
    ("where", "results", "indices", "says"),
    [
        (ClusterChoice("local", workers=1), ResultsTo(), None, "zarr"),
        (ClusterChoice("local", workers=1), ResultsTo("zarr", Path("x")), [()], "slice in view"),
        (ClusterChoice("address", address="not an address!"), ResultsTo(), None, "address"),
    ],
)
def test_impossible_jobs_are_refused_before_any_work(model, image, where, results, indices, says):
    job = PredictionJob(model, image, "img", where=where, results=results, indices=indices)
    with pytest.raises(UserInputError, match=says):
        next(run_job(job))


def test_local_workers_share_the_cores_out(monkeypatch):
    from napari_unet.core.prediction import job

    monkeypatch.setattr(job, "available_cpu_cores", lambda: 8)
    assert config_for_place(CONFIG, ClusterChoice("local", workers=2)).threads == 4
    assert config_for_place(CONFIG, ClusterChoice("local", workers=16)).threads == 1
    assert config_for_place(CONFIG, ClusterChoice()).threads is None


def test_an_in_memory_image_on_local_workers_is_staged_and_gives_the_in_process_labels(
    model, image, tmp_path
):
    config = replace(CONFIG, instances=False)
    job = PredictionJob(
        model,
        image,
        "img",
        config=config,
        where=ClusterChoice("local", workers=1),
        results=ResultsTo("zarr", tmp_path, "a"),
    )
    _, result = _events(job)
    expected = run_to_completion(predict(model, image, config=config))
    np.testing.assert_array_equal(result.labels[...], expected.labels)
    assert (tmp_path / "a_input.zarr").is_dir()  # what the workers read


@pytest.fixture(scope="module")
def membrane_model():
    """The tiny preset trained for 40 steps on strokes of a real ISBI crop (class 1 =
    membrane): a real membrane probability to cut cells along."""
    from napari_unet.core import PRESETS, Trainer, TrainingConfig, UNetConfig
    from napari_unet.core.data.simulated_strokes import simulate_strokes

    crop, truth = isbi_slice(0, crop=256)
    trainer = Trainer(
        [crop],
        [simulate_strokes(truth, seed=0).astype(np.uint8)],
        model_config=UNetConfig(**PRESETS["tiny"]),
        config=TrainingConfig(
            max_time=None, max_steps=40, seed=0, batch_size=2, patch_size=(64, 64), device="cpu"
        ),
    )
    return run_to_completion(trainer.run()).model


def test_cells_bounded_by_a_class_are_the_same_in_memory_in_zarr_and_on_local_workers(
    membrane_model, image, tmp_path
):
    model = membrane_model
    config = replace(CONFIG, boundary_class=1, min_object_size=30)  # 4 blocks of 64 x 64
    in_memory = _events(PredictionJob(model, image, "img", config=config))[1].instances
    zarr_results = ResultsTo("zarr", tmp_path / "zarr", "a")
    in_zarr = _events(PredictionJob(model, image, "img", config=config, results=zarr_results))
    on_workers = _events(
        PredictionJob(
            model,
            image,
            "img",
            config=config,
            where=ClusterChoice("local", workers=1),
            results=ResultsTo("zarr", tmp_path / "cluster", "a"),
        )
    )
    assert len(np.unique(in_memory)) > 3  # cells, some crossing block faces
    np.testing.assert_array_equal(in_zarr[1].instances[...], in_memory)
    np.testing.assert_array_equal(on_workers[1].instances[...], in_memory)


def test_cells_of_an_image_cut_into_blocks_are_nearly_those_of_the_whole_image(membrane_model):
    """Each block's cells are found on the block and its halo: a cell crossing a face is
    cut from the same surroundings on both sides, then stitched. (Cells found on each
    block alone: adapted Rand error 0.42 against the whole image's, 23 cells for 38; with
    the tiny model's halo of 24 px around blocks of 64, 0.07.)"""
    from skimage.metrics import adapted_rand_error

    image = isbi_slice(1, crop=256)[0]
    whole = replace(CONFIG, block=None, boundary_class=1, min_object_size=30)
    expected = run_to_completion(predict(membrane_model, image, config=whole)).instances
    cut = replace(whole, block=64)  # 16 blocks, most cells cross a face
    cells = _events(PredictionJob(membrane_model, image, "img", config=cut))[1].instances
    assert len(np.unique(expected)) > 20
    error, _, _ = adapted_rand_error(expected, cells, ignore_labels=())
    assert error < 0.15
    assert abs(len(np.unique(cells)) - len(np.unique(expected))) <= 0.1 * len(np.unique(expected))


def test_a_tiff_job_stopped_midway_writes_no_file(model, image, tmp_path):
    from napari_unet.core import StopFlag

    stop = StopFlag()
    config = replace(CONFIG, batch_size=1)  # a block a forward pass: Stop falls between
    job = PredictionJob(
        model, image, "img", config=config, results=ResultsTo("tiff", tmp_path, "a")
    )
    work = run_job(job, stop)
    next(work)  # RunStarted
    next(work)  # the first of 4 blocks
    stop.request_stop()
    result = run_to_completion(work)
    assert result.stopped and not list(tmp_path.iterdir())
