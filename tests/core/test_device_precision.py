"""Mixed precision: the policy per device, and both autocast paths run on the CPU.

The CUDA paths cannot run here (no GPU); the same code runs on the CPU with
``torch.autocast("cpu", ...)``: bfloat16 as on an A100/H100, float16 with a gradient
scaler as on a T4/V100. A fake CUDA device without bfloat16 proves the scaler is used.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_unet.core import PredictionConfig, Trainer, TrainingConfig, predict, run_to_completion
from napari_unet.core import device as device_module
from napari_unet.core.device import describe_compute, precision_policy
from napari_unet.core.training import trainer as training_module

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def fake_gpu(monkeypatch, *, hardware_bf16: bool, name: str = "Tesla T4") -> None:
    """Make the capability queries answer like a CUDA GPU; emulated bf16 is always there
    (as torch reports on a T4), hardware bf16 only when ``hardware_bf16``."""
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        lambda including_emulation=True: including_emulation or hardware_bf16,
    )
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: name)


def short_run(crops, strokes, steps: int = 16, **config) -> tuple[Trainer, list[float]]:
    """A few steps on small patches (float16 convolutions are slow on a CPU)."""
    trainer = Trainer(
        [crops[0][0]],
        strokes[:1],
        config=TrainingConfig(
            max_time=None,
            max_steps=steps,
            seed=0,
            device="cpu",
            batch_size=2,
            patch_size=(48, 48),
            validate_every_steps=steps,
            **config,
        ),
    )
    return trainer, run_to_completion(trainer.run()).losses


def assert_loss_lowered(losses: list[float]) -> None:
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert np.isfinite(losses).all() and last < 0.9 * first, (first, last)


def test_policy_is_bf16_on_gpus_with_it_fp16_with_scaler_without_and_fp32_on_cpu(monkeypatch):
    fake_gpu(monkeypatch, hardware_bf16=True, name="NVIDIA H100")
    assert precision_policy(CUDA).name == "bfloat16"
    fake_gpu(monkeypatch, hardware_bf16=False)  # a T4: bf16 only emulated -> float16
    t4 = precision_policy(CUDA)
    assert (t4.dtype, t4.grad_scaling) == (torch.float16, True)
    assert (
        describe_compute(CUDA, t4)
        == "device: cuda:0 (Tesla T4), precision: float16 + gradient scaling"
    )
    assert precision_policy(CPU).name == "float32"
    assert precision_policy(torch.device("mps")).name == "float32"
    assert precision_policy(CPU, "bfloat16").dtype == torch.bfloat16  # only when asked
    with pytest.raises(ValueError, match="no bfloat16"):
        precision_policy(CUDA, "bfloat16")
    with pytest.raises(ValueError, match="Unknown precision"):
        precision_policy(CPU, "float8")


def test_bfloat16_autocast_training_on_cpu_lowers_the_loss(isbi_crops, isbi_strokes):
    trainer, losses = short_run(isbi_crops, isbi_strokes, precision="bfloat16")
    assert trainer.precision.dtype == torch.bfloat16 and not trainer.precision.grad_scaling
    assert_loss_lowered(losses)


def test_float16_training_with_gradient_scaler_on_cpu_lowers_the_loss(isbi_crops, isbi_strokes):
    trainer, losses = short_run(isbi_crops, isbi_strokes, precision="float16")
    assert trainer.precision.dtype == torch.float16 and trainer.precision.grad_scaling
    assert_loss_lowered(losses)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_labels_agree_with_float32_on_99_percent_of_pixels(
    trained, isbi_crops, precision
):
    image = isbi_crops[2][0]
    config = PredictionConfig(device="cpu", tile=128)
    reference = run_to_completion(predict(trained.model, image, config=config)).labels
    mixed = run_to_completion(
        predict(trained.model, image, config=replace(config, precision=precision))
    ).labels
    agreement = float(np.mean(mixed == reference))
    assert agreement >= 0.99, agreement


class CallCounter:
    """Counts calls of one GradScaler method and runs the real one."""

    def __init__(self, monkeypatch, name: str) -> None:
        self.calls = 0
        real = getattr(torch.amp.GradScaler, name)

        def spy(scaler, *args, **kwargs):
            self.calls += 1
            return real(scaler, *args, **kwargs)

        monkeypatch.setattr(torch.amp.GradScaler, name, spy)


@pytest.mark.parametrize("hardware_bf16", [False, True])
def test_trainer_scales_gradients_exactly_when_the_gpu_has_no_bf16(
    monkeypatch, isbi_crops, isbi_strokes, hardware_bf16
):
    """The policy a CUDA GPU gets is applied to a CPU run: without bf16 (T4), every step
    goes through scaler.scale / step / update; with bf16 (A100), no scaler at all."""
    fake_gpu(monkeypatch, hardware_bf16=hardware_bf16)
    monkeypatch.setattr(
        training_module,
        "precision_policy",
        lambda device, requested: replace(precision_policy(CUDA, requested), device=device),
    )
    spies = {name: CallCounter(monkeypatch, name) for name in ("scale", "step", "update")}
    trainer, losses = short_run(isbi_crops, isbi_strokes, steps=3)
    expected = 0 if hardware_bf16 else 3
    assert {name: spy.calls for name, spy in spies.items()} == dict.fromkeys(spies, expected)
    assert trainer.precision.grad_scaling is not hardware_bf16 and len(losses) == 3


def test_bf16_capability_query_does_not_count_emulation(monkeypatch):
    asked = []
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        lambda including_emulation=True: asked.append(including_emulation) or True,
    )
    assert device_module.bf16_supported(CUDA) and asked == [False]
