"""Disk-backed outputs: OME-Zarr labels written block by block, resume after a kill,
nothing overwritten, blockwise planes and instance stitching across block faces."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from skimage.draw import disk

from napari_unet.core import PredictionConfig, StopFlag, UserInputError, predict, run_to_completion
from napari_unet.core.io.zarr_files import ome_metadata, open_zarr_image, zarr_sink
from napari_unet.core.prediction.blockwise import BlockPlan, receptive_halo
from napari_unet.core.prediction.engine import block_plan
from napari_unet.core.prediction.instances import instance_labels
from napari_unet.core.prediction.stitching import stitch_unit
from tests.scale_helpers import isbi_stack, small_model, write_ome_zarr

BLOCKED = PredictionConfig(
    device="cpu", instances=True, block=128, tile=96, overlap=16, batch_size=2
)


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.fixture(scope="module")
def stack():
    return isbi_stack(2)


def _sink(model, shape, folder, cfg, fingerprint=None, **kw):
    return zarr_sink(
        folder,
        "out",
        block_plan(model, shape, cfg),
        model.num_classes,
        cfg,
        fingerprint=fingerprint or {"run": 1},
        **kw,
    )


@pytest.mark.parametrize("zarr_format, version", [(2, "0.4"), (3, "0.5")])
def test_zarr_outputs_equal_memory_outputs_with_ome_metadata(
    model, stack, tmp_path, zarr_format, version
):
    cfg = PredictionConfig(device="cpu", instances=True, probabilities=True)
    memory = run_to_completion(predict(model, stack, config=cfg))
    sink = _sink(model, stack.shape, tmp_path, cfg, info={"zarr_format": zarr_format})
    run_to_completion(predict(model, stack, config=cfg, output=sink))
    labels = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_array_equal(labels["0"][:], memory.labels)
    np.testing.assert_array_equal(
        zarr.open(str(tmp_path / "out_instances.zarr"))["0"][:], memory.instances
    )
    probs = zarr.open(str(tmp_path / "out_probabilities.zarr"))["0"]
    np.testing.assert_allclose(probs[:], memory.probabilities, atol=1e-6)
    meta = ome_metadata(dict(labels.attrs))
    assert meta["multiscales"][0]["datasets"][0]["path"] == "0"
    assert (meta.get("version") or meta["multiscales"][0]["version"]) == version
    assert "image-label" in meta
    assert labels["0"].chunks == (1, 256, 256)  # one chunk per block: parallel-safe writes


def test_killed_run_resumes_and_skips_finished_blocks(model, stack, tmp_path):
    full = run_to_completion(predict(model, stack, config=BLOCKED)).labels
    stop = StopFlag()
    first = predict(
        model, stack, config=BLOCKED, output=_sink(model, stack.shape, tmp_path, BLOCKED), stop=stop
    )
    events = []
    for event in first:  # "killed" after 3 of the 8 blocks (stops at the next batch)
        events.append(event)
        if len(events) == 3:
            stop.request_stop()
    assert 3 <= len(events) < 8
    resumed = predict(
        model, stack, config=BLOCKED, output=_sink(model, stack.shape, tmp_path, BLOCKED)
    )
    second = []
    result = run_to_completion(resumed, second.append)
    assert len(second) == second[-1].total == 8 - len(events)
    np.testing.assert_array_equal(result.labels[:], full)


def test_existing_output_of_another_run_is_never_overwritten(model, stack, tmp_path):
    cfg = PredictionConfig(device="cpu")
    _sink(model, stack.shape, tmp_path, cfg, fingerprint={"model": "a"})
    with pytest.raises(UserInputError, match="already exists"):
        _sink(model, stack.shape, tmp_path, cfg, fingerprint={"model": "b"})


def test_large_plane_is_predicted_in_blocks_without_seams(model, stack):
    """A plane larger than a block: blocks with a halo of the receptive radius agree with
    the whole-plane prediction almost everywhere (tile placement differs near block edges)."""
    whole = run_to_completion(
        predict(model, stack[0], config=PredictionConfig(device="cpu", tile=96, overlap=16))
    ).labels
    blocked = run_to_completion(predict(model, stack[0], config=BLOCKED)).labels
    assert receptive_halo(model.config) >= 5 * 3 + 8
    assert (blocked == whole).mean() > 0.98


def test_ome_zarr_group_opens_its_full_resolution_level(stack, tmp_path):
    write_ome_zarr(tmp_path / "img.zarr", stack, zarr_format=2)
    array, component, info = open_zarr_image(tmp_path / "img.zarr")
    assert component == "0" and array.shape == stack.shape and info["zarr_format"] == 2
    assert [a["name"] for a in info["axes"]] == ["z", "y", "x"]


def _disks() -> np.ndarray:
    """Class labels (1 background, 2 object) of 12 separate disks, several on the block
    faces at 64 and 128 of a 192x192 plane."""
    labels = np.ones((192, 192), np.uint8)
    for cy, cx in [
        (64, 64),
        (30, 128),
        (128, 20),
        (100, 100),
        (160, 128),
        (128, 170),
        (20, 20),
        (170, 60),
        (64, 180),
        (30, 64),
        (100, 150),
        (150, 150),
    ]:
        labels[disk((cy, cx), 9, shape=labels.shape)] = 2
    return labels


def test_stitching_gives_objects_crossing_block_faces_one_id(tmp_path):
    labels = _disks()
    plan = BlockPlan.create(labels.shape, 2, halo=0, block_edge=64)
    blocks = plan.blocks()
    instances = zarr.create_array(
        store=str(tmp_path / "i.zarr"), shape=labels.shape, chunks=(64, 64), dtype=np.uint32
    )
    for block in blocks:  # each block labelled on its own, as workers do
        instances[block.index] = instance_labels(
            labels[block.region], min_size=0, split_touching=False
        )
    stitch_unit(instances, blocks, min_size=16)
    stitched = instances[:]
    whole = instance_labels(labels, min_size=16, split_touching=False)
    assert stitched.max() == whole.max() == 12
    pairs = {(a, b) for a, b in zip(stitched.ravel(), whole.ravel())}
    assert len(pairs) == 13  # one to one: 12 objects and the background
