"""Loading bioimage.io packages: only those napari-unet exported, never code from the file;
export refuses a sample image that does not fit the model."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from napari_unet.core import ClassInfo, ModelFileError, TrainedModel, UNet, UNetConfig, load_model
from napari_unet.core.errors import UserInputError
from napari_unet.core.model import bioimageio_package as package


class _Payload:  # a pickled object: what a malicious weights file would hold
    def __reduce__(self):
        return (print, ("code from the file ran",))


def _zip(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_package_from_another_tool_is_refused_naming_napari_unet(tmp_path):
    foreign = _zip(tmp_path / "other.zip", {"rdf.yaml": b"type: model\n", "w.pt": b"0"})
    with pytest.raises(ModelFileError, match="not exported by napari-unet"):
        load_model(foreign)


def test_package_weights_holding_objects_are_refused_without_running_them(tmp_path, capsys):
    from napari_unet.core.model.model_file import model_metadata

    model = TrainedModel(
        UNet(UNetConfig(depth=1, base_channels=4)), ClassInfo(("background", "object"), (1, 2))
    )
    marker = {
        "format": package.PACKAGE_FORMAT,
        "format_version": package.PACKAGE_FORMAT_VERSION,
        "weights": "weights.pt",
        "metadata": model_metadata(model),
    }  # valid: up to weights
    evil = _zip(
        tmp_path / "evil.zip",
        {
            "rdf.yaml": b"type: model\n",
            package.MARKER: json.dumps(marker).encode(),
            "weights.pt": pickle.dumps(_Payload(), protocol=2),
        },
    )
    with pytest.raises(ModelFileError, match="could not be loaded safely"):
        load_model(evil)
    assert "code from the file ran" not in capsys.readouterr().out


def test_a_zip_that_is_not_an_archive_is_a_clear_error(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(tmp_path / "broken.zip")


def test_export_refuses_a_sample_with_the_wrong_channels_or_too_small(tmp_path):
    pytest.importorskip("bioimageio.spec", reason="export needs napari-unet[bioimageio]")
    from napari_unet.core.model.bioimageio_export import export_bioimageio

    model = TrainedModel(
        UNet(UNetConfig(depth=2, base_channels=4)), ClassInfo(("background", "object"), (1, 2))
    )
    with pytest.raises(UserInputError, match="1 channel"):
        export_bioimageio(model, np.zeros((3, 64, 64), np.uint8), tmp_path / "p.zip")
    with pytest.raises(UserInputError, match="too small"):
        export_bioimageio(model, np.zeros((1, 64, 8), np.uint8), tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()


def test_export_never_overwrites_a_file_that_is_not_its_package(tmp_path):
    from napari_unet.core.model.bioimageio_export import export_bioimageio

    model = TrainedModel(
        UNet(UNetConfig(depth=2, base_channels=4)), ClassInfo(("background", "object"), (1, 2))
    )
    mine = tmp_path / "holiday photos.zip"
    mine.write_bytes(b"the user's archive")
    with pytest.raises(UserInputError, match="left untouched"):
        export_bioimageio(model, np.zeros((1, 64, 64), np.uint8), mine)
    assert mine.read_bytes() == b"the user's archive"
