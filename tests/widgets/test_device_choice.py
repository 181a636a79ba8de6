"""The Device choice of the Train, Segment and Adversarial widgets: what it lists, that it
is remembered, and that the jobs compute where it says."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.widgets.adversarial_widget import AdversarialWidget
from napari_unet.widgets.segment_widget import SegmentWidget
from napari_unet.widgets.train_widget import TrainWidget

WIDGETS = [TrainWidget, SegmentWidget, AdversarialWidget]


def fake_gpus(monkeypatch, names: list[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(names))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: names[index or 0])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)


@pytest.mark.parametrize("widget_class", WIDGETS)
def test_device_choice_lists_auto_and_cpu_and_each_gpu_by_name(make_napari_viewer, monkeypatch,
                                                                widget_class):
    assert widget_class(make_napari_viewer())._device.choices[:2] == ("auto", "cpu")
    fake_gpus(monkeypatch, ["Tesla T4", "NVIDIA A100"])
    picker = widget_class(make_napari_viewer())._device
    assert picker.choices[:4] == ("auto", "cpu", "cuda:0", "cuda:1")
    shown = [picker.native.itemText(i) for i in range(picker.native.count())]
    assert shown[2:4] == ["GPU 0: Tesla T4", "GPU 1: NVIDIA A100"]


@pytest.mark.parametrize("widget_class", WIDGETS)
def test_device_choice_is_remembered_when_the_widget_is_created_again(make_napari_viewer,
                                                                       widget_class):
    widget_class(make_napari_viewer())._device.value = "cpu"
    assert widget_class(make_napari_viewer())._device.value == "cpu"


def test_model_line_shows_the_device_and_precision(make_napari_viewer, monkeypatch):
    fake_gpus(monkeypatch, ["Tesla T4"])
    segment = SegmentWidget(make_napari_viewer())
    segment._device.value = "cuda:0"
    assert "cuda:0 (Tesla T4), precision: float16 + gradient scaling" in segment._model_info.value
    segment._device.value = "cpu"
    assert "device: cpu, precision: float32" in segment._model_info.value
