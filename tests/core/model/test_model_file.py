"""Model files: round trip, safety against hostile files, atomic writes, clear errors."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from napari_unet.core import ModelFileError, load_model, predict, run_to_completion, save_model
from napari_unet.core.model import model_file


def test_round_trip_keeps_everything_needed_to_predict(trained, isbi_crops, tmp_path):
    path = save_model(trained.model, tmp_path / "m.pt")
    loaded = load_model(path)
    assert loaded.config == trained.model.config
    assert loaded.classes == trained.model.classes
    assert loaded.normalization == trained.model.normalization
    assert loaded.rounds == trained.model.rounds
    image = isbi_crops[2][0]
    a = run_to_completion(predict(trained.model, image)).labels
    b = run_to_completion(predict(loaded, image)).labels
    np.testing.assert_array_equal(a, b)


class _Hostile:
    def __reduce__(self):
        return (os.system, (f"touch {_Hostile.marker}",))


def test_hostile_file_runs_nothing_and_fails_clearly(tmp_path):
    marker = tmp_path / "pwned"
    _Hostile.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"format": "napari-unet", "format_version": 1, "metadata": _Hostile()}, path)
    with pytest.raises(ModelFileError, match="never runs code from a model file"):
        load_model(path)
    assert not marker.exists()


def test_raw_pickle_file_is_rejected(tmp_path):
    path = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    _Hostile.marker = marker
    path.write_bytes(pickle.dumps(_Hostile()))
    with pytest.raises(ModelFileError, match="not a napari-unet model file"):
        load_model(path)
    assert not marker.exists()


def test_corrupt_and_foreign_files(tmp_path, trained):
    truncated = tmp_path / "cut.pt"
    data = save_model(trained.model, tmp_path / "ok.pt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="not a napari-unet model file"):
        load_model(foreign)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_other_format_version_and_channel_count(tmp_path, trained, monkeypatch):
    monkeypatch.setattr(model_file, "FORMAT_VERSION", 99)
    path = save_model(trained.model, tmp_path / "future.pt")
    monkeypatch.setattr(model_file, "FORMAT_VERSION", 1)
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(path)
    path = save_model(trained.model, tmp_path / "m.pt")
    with pytest.raises(ModelFileError, match="1-channel images, but the image has 3"):
        load_model(path, expected_channels=3)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, trained, monkeypatch):
    path = save_model(trained.model, tmp_path / "m.pt")
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(trained.model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    assert zipfile.is_zipfile(path)


def test_a_named_boundary_class_survives_save_and_load(trained, tmp_path):
    model = trained.model.copy()
    model.classes = model.classes.with_boundary_class(1)
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert loaded.boundary_class == 1
    assert loaded.classes == model.classes


def test_an_older_file_without_a_boundary_class_loads_with_none(trained, tmp_path):
    path = save_model(trained.model, tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["metadata"])
    meta["classes"].pop("boundary_class", None)
    assert set(meta["classes"]) == {"names", "source_values", "dense"}  # as before issue 22
    payload["metadata"] = json.dumps(meta)
    torch.save(payload, path)
    assert load_model(path).boundary_class is None


def test_a_boundary_class_outside_the_classes_is_reported_as_damage(trained, tmp_path):
    path = save_model(trained.model, tmp_path / "bad.pt")
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["metadata"])
    meta["classes"]["boundary_class"] = 7
    payload["metadata"] = json.dumps(meta)
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="damaged.*boundary_class must be a class value 1..2"):
        load_model(path)
