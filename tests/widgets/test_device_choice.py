"""The Device choice of the Train, Segment and Adversarial widgets: what it lists, that it
is remembered, and that the jobs compute where it says."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core import Trainer

WIDGETS = ["Train", "Segment", "Adversarial attack"]


def fake_gpus(monkeypatch, names: list[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(names))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: names[index or 0])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)


@pytest.mark.parametrize("name", WIDGETS)
def test_device_choice_lists_auto_and_cpu_and_each_gpu_by_name(
    make_napari_viewer, dock_widget, monkeypatch, name
):
    assert dock_widget(make_napari_viewer(), name).control("Device").choices[:2] == ("auto", "cpu")
    fake_gpus(monkeypatch, ["Tesla T4", "NVIDIA A100"])
    picker = dock_widget(make_napari_viewer(), name).control("Device")
    assert picker.choices[:4] == ("auto", "cpu", "cuda:0", "cuda:1")
    shown = [picker.native.itemText(i) for i in range(picker.native.count())]
    assert shown[2:4] == ["GPU 0: Tesla T4", "GPU 1: NVIDIA A100"]


@pytest.mark.parametrize("name", WIDGETS)
def test_device_choice_is_remembered_when_the_widget_is_created_again(
    make_napari_viewer, dock_widget, name
):
    dock_widget(make_napari_viewer(), name).control("Device").value = "cpu"
    assert dock_widget(make_napari_viewer(), name).control("Device").value == "cpu"


def test_model_line_shows_the_device_and_precision(make_napari_viewer, dock_widget, monkeypatch):
    fake_gpus(monkeypatch, ["Tesla T4"])
    segment = dock_widget(make_napari_viewer(), "Segment")
    segment.control("Device").value = "cuda:0"
    assert (
        "cuda:0 (Tesla T4), precision: float16 + gradient scaling" in segment.control("Model").value
    )
    segment.control("Device").value = "cpu"
    assert "device: cpu, precision: float32" in segment.control("Model").value


class Spy:
    """Wraps ``owner.name``, recording the ``device`` each call computes on."""

    def __init__(self, monkeypatch, owner, name: str, device_of) -> None:
        self.devices: list[str] = []
        real = getattr(owner, name)

        def spy(*args, **kwargs):
            self.devices.append(device_of(args, kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def test_train_segment_and_attack_jobs_compute_on_the_chosen_device(
    make_napari_viewer, dock_widget, monkeypatch, isbi_crop, wait_for, fast_training
):
    from napari_unet.core.attacks import base as attack_base
    from napari_unet.core.prediction import job as prediction_job

    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes.copy(), name="strokes")
    trains = Spy(monkeypatch, Trainer, "__init__", lambda a, k: k["config"].device)
    predicts = Spy(monkeypatch, prediction_job, "predict", lambda a, k: k["config"].device)
    attacks = Spy(monkeypatch, attack_base, "attack_image", lambda a, k: k["device"])

    train = dock_widget(viewer, "Train")
    train.control("Device").value = "cpu"
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 2
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training
    wait_for(train.start_training())
    segment = dock_widget(viewer, "Segment")
    segment.control("Device").value = "cpu"
    segment.control("Segment").value = "slice"
    wait_for(segment.segment())
    attack = dock_widget(viewer, "Adversarial attack")
    attack.control("Device").value = "cpu"
    attack.control("Attack").value = "fgsm"
    attack.control("Steps").value = 1
    wait_for(attack.run_attack())
    assert (trains.devices, predicts.devices, attacks.devices) == (["cpu"], ["cpu"], ["cpu"])
