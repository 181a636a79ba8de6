"""Tiled prediction: seams, stacks, memory, stopping, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import (
    PredictionConfig,
    PredictionProgress,
    StopFlag,
    UserInputError,
    predict,
    run_to_completion,
)
from napari_unet.core.prediction.instances import instance_labels
from napari_unet.core.prediction.tiling import axis_tiles, blend_weights, tile_grid


@pytest.mark.parametrize(
    "length, tile, overlap",
    [
        (2048, 512, 32),
        (2048, 1024, 32),
        (100, 64, 16),
        (50, 64, 8),
        (513, 128, 32),
        (1025, 1024, 32),
    ],
)
def test_tiles_cover_the_axis_with_the_requested_overlap(length, tile, overlap):
    size, starts = axis_tiles(length, tile, overlap, multiple=8)
    assert size <= length and size <= tile + overlap + 8
    assert starts[0] == 0 and starts[-1] + size == length
    for a, b in zip(starts, starts[1:]):
        assert a + size - b >= overlap  # consecutive tiles overlap enough


def test_blend_weights_sum_to_one_everywhere_after_normalization():
    shape = (300, 200)
    size, windows = tile_grid(shape, (128, 128), (32, 32), 8)
    total = np.zeros(shape)
    for w in windows:
        total[w] += blend_weights(size, w, shape, (32, 32))
    assert total.min() > 0.5  # every pixel is covered with real weight


def test_tiled_prediction_matches_one_big_forward_pass(trained, isbi_crops):
    """No seams: 2x2 tiles of 128 with overlap 32 agree with a whole-image forward pass."""
    model = trained.model
    image = isbi_crops[2][0]
    tiled = run_to_completion(
        predict(
            model,
            image,
            config=PredictionConfig(tile=128, overlap=32, probabilities=True, device="cpu"),
        )
    )
    low, high = model.normalization.statistics(image[None])
    x = torch.from_numpy(model.normalization.apply(image[None], low, high))[None]
    with torch.inference_mode():
        whole = model.network.eval()(x).softmax(1)[0].numpy()
    agree = (tiled.labels == whole.argmax(0) + 1).mean()
    assert agree > 0.98, agree
    assert np.abs(tiled.probabilities - whole).mean() < 0.03


def test_stack_is_predicted_slice_by_slice_with_progress(trained, isbi_crops):
    # three copies of one crop: the stack's normalization equals the single image's
    stack = np.stack([isbi_crops[2][0]] * 3)
    events = []
    result = run_to_completion(
        predict(trained.model, stack, config=PredictionConfig(probabilities=True, device="cpu")),
        events.append,
    )
    assert [e.done for e in events if isinstance(e, PredictionProgress)] == [1, 2, 3]
    assert result.labels.shape == stack.shape and result.labels.dtype == np.uint8
    assert result.probabilities.shape == (2,) + stack.shape
    np.testing.assert_allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
    single = run_to_completion(predict(trained.model, stack[1])).labels
    assert (result.labels[1] == single).mean() > 0.999  # batched with other slices or alone
    assert result.completed.all() and not result.stopped


def test_only_the_requested_slice_is_predicted(trained, isbi_crops):
    stack = np.stack([c[0] for c in isbi_crops])
    result = run_to_completion(predict(trained.model, stack, indices=[(2,)]))
    assert result.completed.tolist() == [False, False, True]
    assert (result.labels[:2] == 0).all() and (result.labels[2] > 0).all()


def test_stopping_keeps_the_finished_slices(trained, isbi_crops):
    stack = np.stack([c[0] for c in isbi_crops] * 2)
    stop = StopFlag()

    def on_event(event):
        if event.done == 2:
            stop.request_stop()

    result = run_to_completion(
        predict(trained.model, stack, stop=stop, config=PredictionConfig(batch_size=1)), on_event
    )
    assert result.stopped and result.completed.sum() == 2
    assert (result.labels[result.completed] > 0).all()
    assert (result.labels[~result.completed] == 0).all()


def test_a_prediction_left_half_done_leaves_gradients_on_for_training(trained, isbi_crops):
    """A caller that stops iterating mid-stack (an error in its event handler, a dropped
    generator) must not leave autograd off in its thread: training there next would fail
    with "element 0 of tensors does not require grad"."""
    stack = np.stack([c[0] for c in isbi_crops] * 2)
    work = predict(trained.model, stack, config=PredictionConfig(batch_size=1, device="cpu"))
    for event in work:
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        if isinstance(event, PredictionProgress) and event.done == 1:
            break  # the generator stays suspended, never closed
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    del work


def test_stack_memory_is_bounded_without_probabilities(trained):
    """A long stack never holds float probabilities for all its slices at once.

    tracemalloc sees NumPy's allocations; beyond the uint8 output, the peak between
    progress events (after the first, which includes the intensity statistics) must stay
    far below what float32 probabilities of the whole stack would need.
    """
    import tracemalloc

    stack = np.zeros((200, 64, 64), np.uint8)
    stack[:, 20:40, 20:40] = 200
    peaks = []

    def on_event(event):
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()

    tracemalloc.start()
    try:
        result = run_to_completion(
            predict(trained.model, stack, config=PredictionConfig(batch_size=4)), on_event
        )
    finally:
        tracemalloc.stop()
    assert result.completed.all() and len(peaks) == 200
    all_slices_float = 2 * stack.size * 4  # K=2 float32 maps of the whole stack: 6.5 MB
    beyond_output = max(peaks[1:]) - result.labels.nbytes  # the uint8 output itself is allowed
    assert beyond_output < all_slices_float / 10, (beyond_output, all_slices_float)


def test_instances_and_min_size(trained, isbi_crops):
    result = run_to_completion(
        predict(
            trained.model,
            isbi_crops[2][0],
            config=PredictionConfig(instances=True, min_object_size=30),
        )
    )
    ids, counts = np.unique(result.instances[result.instances > 0], return_counts=True)
    assert len(ids) > 3 and counts.min() >= 30
    assert (result.labels[result.instances > 0] == 2).all()


def test_touching_objects_are_split():
    yy, xx = np.mgrid[:60, :100]
    two = ((yy - 30) ** 2 + (xx - 30) ** 2 < 20**2) | ((yy - 30) ** 2 + (xx - 66) ** 2 < 20**2)
    classes = np.where(two, 2, 1).astype(np.uint8)
    assert len(np.unique(instance_labels(classes, split_touching=False))) - 1 == 1
    assert len(np.unique(instance_labels(classes))) - 1 == 2


def test_wrong_channel_count_is_a_clear_error(trained):
    with pytest.raises(UserInputError, match="expects 1 channel"):
        run_to_completion(predict(trained.model, np.zeros((32, 32, 3), np.uint8), rgb=True))


def test_3d_image_needed_for_3d_model(trained):
    with pytest.raises(UserInputError, match="2D model"):
        from napari_unet.core.data.images import check_spatial

        check_spatial(np.zeros((1, 8, 8)), 3)


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (130, 9)])
def test_small_and_odd_images(trained, shape):
    image = np.random.default_rng(0).integers(0, 255, shape).astype(np.uint8)
    result = run_to_completion(predict(trained.model, image, config=PredictionConfig(tile=64)))
    assert result.labels.shape == shape and (result.labels > 0).all()


def test_tile_and_batch_defaults_depend_on_the_device():
    from napari_unet.core.prediction.engine import default_batch_size, default_tile

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    # the CPU runs one cache-sized tile per pass; a GPU large tiles in large batches
    assert default_tile(cpu, 2) == 512 and default_tile(gpu, 2) == 1024
    assert default_batch_size((544, 544), cpu) == 1 and default_batch_size((256, 256), cpu) == 4
    assert default_batch_size((512, 512), gpu) == 8
    assert default_tile(cpu, 3) == default_tile(gpu, 3) == 128
    assert default_batch_size((144, 144, 144), cpu) == 1
