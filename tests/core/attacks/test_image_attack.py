"""Attacking a whole image: tiles from the shared tiling, and the network's device set-up
undone even when the attack fails before its first tile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import StopFlag, run_to_completion
from napari_unet.core.attacks import FGSM, attack_image
from napari_unet.core.prediction.tiling import tile_grid

from .test_attacks import Linear as PixelwiseLinear  # 1x1 conv: an FGSM step does not

# depend on the tiling (each pixel's logits depend on that pixel alone)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 1.0, (2, 24, 20)).astype(np.float32)


def _attack(image: np.ndarray, tile: int | None):
    events = []
    result = run_to_completion(
        attack_image(FGSM(0.05), PixelwiseLinear(), image, tile=tile, device="cpu"),
        events.append,
    )
    return result, events


def test_tiles_are_the_windows_of_the_shared_tile_grid(image):
    _result, events = _attack(image, tile=7)
    _size, windows = tile_grid((24, 20), (7, 7), (0, 0))
    assert {ev.units for ev in events} == {2 * len(windows)}  # 2 slices x 12 windows


def test_tiled_attack_equals_the_untiled_one_on_a_pixelwise_model(image):
    tiled, _ = _attack(image, tile=7)
    whole, _ = _attack(image, tile=None)
    assert tiled.completed.all() and np.abs(tiled.perturbation).min() > 0  # every pixel
    np.testing.assert_array_equal(tiled.adversarial, whole.adversarial)
    np.testing.assert_array_equal(tiled.adversarial_prediction, whole.adversarial_prediction)


def test_stop_before_the_first_tile_marks_the_result_stopped(image):
    stop = StopFlag()
    stop.request_stop()
    result = run_to_completion(
        attack_image(FGSM(0.05), PixelwiseLinear(), image, device="cpu", stop=stop)
    )
    assert result.stopped and not result.completed.any()
    np.testing.assert_array_equal(result.adversarial, image)


def test_failure_after_device_setup_restores_the_network(image, monkeypatch):
    """An error (out of memory, say) between putting the network on the device in eval
    mode and the first tile must undo that set-up at once: the network is back in training
    mode while the error is still held (as a caller reporting it holds it), not only
    when the garbage collector closes the abandoned set-up."""
    network = PixelwiseLinear().train()

    def out_of_memory(*args, **kwargs):
        raise MemoryError("simulated: no memory for the attack's tensors")

    monkeypatch.setattr(torch, "as_tensor", out_of_memory)
    with pytest.raises(MemoryError, match="simulated") as failure:
        run_to_completion(attack_image(FGSM(0.05), network, image, device="cpu"))
    assert network.training and network.conv.training
    assert failure.value is not None  # held until here
