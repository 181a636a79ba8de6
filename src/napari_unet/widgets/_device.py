"""The Device choice shared by the Train, Segment and Adversarial widgets."""

from __future__ import annotations

from magicgui.widgets import ComboBox

from napari_unet.core.device import (
    describe_compute,
    device_choices,
    precision_policy,
    select_device,
)


def device_picker() -> ComboBox:
    """auto / CPU / each CUDA GPU by name / Apple MPS; its value is a device name for
    ``TrainingConfig.device`` and ``PredictionConfig.device`` (``auto``, ``cpu``,
    ``cuda:N``, ``mps``)."""
    return ComboBox(
        label="Device",
        choices=device_choices(),
        value="auto",
        tooltip="Where the network computes. auto: the first GPU if there is "
        "one, else the CPU. Precision follows the device (bfloat16 on "
        "recent NVIDIA GPUs, float16 with gradient scaling on older "
        "ones, float32 on the CPU and on Apple GPUs).",
    )


def compute_summary(name: str) -> str:
    """``device: cuda:0 (Tesla T4), precision: float16 + gradient scaling`` for the
    device named ``name``, or why it cannot be used."""
    try:
        device = select_device(name)
        return describe_compute(device, precision_policy(device))
    except Exception as err:  # noqa: BLE001 - a broken driver must not break the widget
        return f"device {name}: unavailable ({err})"


def with_compute(text: str, device_name: str) -> str:
    """A model line followed by where and how it computes: ``text`` + newline + summary."""
    return f"{text}\n{compute_summary(device_name)}"
