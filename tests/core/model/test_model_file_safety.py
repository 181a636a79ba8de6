"""Loading model files: refusals that say exactly what is wrong, never run code, never
suggest loading unsafely, never allocate what the metadata merely claims."""

from __future__ import annotations

import builtins
import json
import os

import pytest
import torch

from napari_unet.core import ModelFileError, load_model, save_model
from napari_unet.core.model import checks, model_file
from tests.cli.bad_input_files import TINY, tiny_model, write_payload


def _with_weight(path, value):
    model = tiny_model()
    state = model.state_on_cpu()
    name = next(k for k, v in state.items() if v.is_floating_point() and v.ndim > 1)
    state[name].view(-1)[3] = value
    meta = model_file.model_metadata(model)
    return write_payload(path, json.dumps(meta), state)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_weights_with_nan_or_inf_are_refused(tmp_path, value):
    with pytest.raises(ModelFileError, match="NaN or infinite weights"):
        load_model(_with_weight(tmp_path / "bad.pt", value))


class _Hostile:
    marker = None

    def __reduce__(self):
        return (os.system, (f"touch {_Hostile.marker}",))


def test_unsafe_pickle_is_refused_without_advice_to_load_it_unsafely(tmp_path):
    _Hostile.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "napari-unet", "format_version": 1, "metadata": _Hostile()}, path)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "never runs code" in message
    assert "weights_only" not in message and "trust" not in message.lower()
    assert not _Hostile.marker.exists()


def test_unreadable_model_says_cannot_read_not_corrupt(tmp_path, monkeypatch):
    path = save_model(tiny_model(), tmp_path / "m.pt")
    if os.geteuid() == 0:  # root reads any file: make reading this one fail as for a user

        def deny(file, *args, **kwargs):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return builtins.open(file, *args, **kwargs)

        from napari_unet.core.io import image_files  # where model files are checked for reading

        monkeypatch.setattr(image_files, "open", deny, raising=False)
    else:
        path.chmod(0)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert "Cannot read" in str(info.value) and "Permission denied" in str(info.value)
    assert "corrupt" not in str(info.value)


def test_directory_given_as_model_says_is_a_directory(tmp_path):
    with pytest.raises(ModelFileError) as info:
        load_model(tmp_path)
    assert "is a directory" in str(info.value) and "does not exist" not in str(info.value)


def test_metadata_claiming_a_huge_network_is_refused_before_building_it(tmp_path, monkeypatch):
    model = tiny_model()
    meta = model_file.model_metadata(model)
    meta["unet"] = dict(TINY.to_dict(), base_channels=1024, depth=6)
    path = write_payload(tmp_path / "huge.pt", json.dumps(meta), model.state_on_cpu())
    built = []
    real_unet = checks.UNet

    def counting_unet(config):
        net = real_unet(config)
        if next(net.parameters()).device.type != "meta":
            built.append(config)
        return net

    monkeypatch.setattr(checks, "UNet", counting_unet)
    with pytest.raises(ModelFileError, match="do not match its metadata"):
        load_model(path)
    assert built == []  # no real network was allocated from the claim


def test_metadata_with_tensors_of_other_shapes_is_refused(tmp_path):
    model = tiny_model()
    meta = model_file.model_metadata(model)
    meta["unet"] = dict(TINY.to_dict(), base_channels=8)
    path = write_payload(tmp_path / "wide.pt", json.dumps(meta), model.state_on_cpu())
    with pytest.raises(ModelFileError, match="has shape"):
        load_model(path)


def test_is_model_file_tells_models_from_other_files(tmp_path):
    model_path = save_model(tiny_model(), tmp_path / "m.pt")
    (tmp_path / "labels.tif").write_bytes(b"II*\x00" + b"\x00" * 100)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    assert model_file.is_model_file(model_path)
    assert not model_file.is_model_file(tmp_path / "labels.tif")
    assert not model_file.is_model_file(tmp_path / "foreign.pt")
    assert not model_file.is_model_file(tmp_path)
