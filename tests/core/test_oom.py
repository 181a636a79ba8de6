"""Out of GPU memory, simulated on the CPU: a network wrapper raises
``torch.OutOfMemoryError`` above a batch or tile size, as a small GPU would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_unet.core import (
    PredictionConfig,
    TrainedModel,
    Trainer,
    TrainingConfig,
    UserInputError,
    predict,
    run_to_completion,
)
from napari_unet.core.oom import (
    OutOfMemoryRetry,
    TrainingOutOfMemory,
    accelerator_batch_pixels,
    is_out_of_memory,
)
from napari_unet.core.prediction.engine import default_batch_size, default_tile


class SmallGpu(nn.Module):
    """``net`` that runs out of memory on batches over ``max_batch`` tiles or tiles over
    ``max_edge`` pixels."""

    def __init__(self, net: nn.Module, max_batch: int = 10**9, max_edge: int = 10**9) -> None:
        super().__init__()
        self.net, self.config = net, net.config
        self.max_batch, self.max_edge = max_batch, max_edge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.max_batch or max(x.shape[2:]) > self.max_edge:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def on_small_gpu(model: TrainedModel, **limits) -> TrainedModel:
    return TrainedModel(
        SmallGpu(model.network, **limits), model.classes, model.normalization, model.summary
    )


def run(model: TrainedModel, image: np.ndarray, **config):
    events: list = []
    result = run_to_completion(
        predict(model, image, config=PredictionConfig(device="cpu", **config)), events.append
    )
    return result, [e for e in events if isinstance(e, OutOfMemoryRetry)]


def test_prediction_halves_the_batch_on_out_of_memory_and_equals_the_normal_result(
    trained, isbi_crops
):
    image = isbi_crops[2][0]
    normal, _ = run(trained.model, image, tile=64, batch_size=8)
    retried, retries = run(on_small_gpu(trained.model, max_batch=2), image, tile=64, batch_size=8)
    assert [r.batch_size for r in retries] == [4, 2] and "2 tile(s)" in retries[-1].message
    assert retried.completed.all() and np.array_equal(retried.labels, normal.labels)


def test_prediction_shrinks_tiles_when_one_tile_does_not_fit_and_equals_that_tiling(
    trained, isbi_crops
):
    image = isbi_crops[2][0]
    small_tiles, _ = run(trained.model, image, tile=64)
    retried, retries = run(on_small_gpu(trained.model, max_edge=96), image, tile=128)
    assert retries[-1].tile == 64 and "64-pixel tiles" in retries[-1].message
    assert retried.completed.all() and np.array_equal(retried.labels, small_tiles.labels)


def test_prediction_gives_up_with_a_clear_message_when_nothing_fits(trained, isbi_crops):
    with pytest.raises(UserInputError, match="Out of memory.*smaller model.*CPU"):
        run(on_small_gpu(trained.model, max_edge=8), isbi_crops[2][0], tile=128)


def test_other_runtime_errors_are_not_retried(trained, isbi_crops):
    class Broken(SmallGpu):
        def forward(self, x):
            raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    model = TrainedModel(Broken(trained.model.network), trained.model.classes)
    with pytest.raises(RuntimeError, match="cuDNN"):
        run(model, isbi_crops[2][0], tile=64)


def test_out_of_memory_is_recognised_for_cuda_and_mps():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_training_out_of_memory_stops_keeps_the_best_model_and_says_what_to_lower(
    isbi_crops, isbi_strokes
):
    trainer = Trainer(
        [isbi_crops[0][0]],
        isbi_strokes[:1],
        config=TrainingConfig(
            max_time=None,
            max_steps=40,
            seed=0,
            device="cpu",
            batch_size=4,
            patch_size=(64, 64),
            validate_every_steps=5,
        ),
    )
    forward, calls = trainer.network.forward, []

    def forward_until_full(x):
        if trainer.network.training:
            calls.append(1)
            if len(calls) > 12:  # memory fills up at step 13
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return forward(x)

    trainer.network.forward = forward_until_full
    events: list = []
    result = run_to_completion(trainer.run(), events.append)
    oom = [e for e in events if isinstance(e, TrainingOutOfMemory)]
    assert result.stop_reason == "out_of_memory" and result.steps == 12 and len(oom) == 1
    assert result.model.rounds[-1]["steps"] in (5, 10)  # the best validated model, kept
    for what in ("batch size (now 4)", "patch size (now 64x64)", "model size"):
        assert what in oom[0].message


GIB = 2**30


@pytest.mark.parametrize(
    "free_gib, tiles_of_512, tile", [(0.5, 2, 512), (2, 8, 1024), (40, 32, 1024)]
)
def test_gpu_batch_and_tile_defaults_follow_free_memory(monkeypatch, free_gib, tiles_of_512, tile):
    monkeypatch.setattr(
        torch.cuda, "mem_get_info", lambda device=None: (int(free_gib * GIB), 80 * GIB)
    )
    gpu = torch.device("cuda")
    assert default_batch_size((512, 512), gpu) == tiles_of_512
    assert default_tile(gpu, 2) == tile
    assert accelerator_batch_pixels(gpu, width_factor=2.0) <= accelerator_batch_pixels(gpu)
