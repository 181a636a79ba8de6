"""``napari-unet export``: a bioimage.io package that passes ``bioimageio.core.test_model``
offline and that napari-unet loads back to predict the same labels as the ``.pt``."""

from __future__ import annotations

import socket
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from napari_unet.cli import main
from napari_unet.core import save_model
from tests.conftest import isbi_slice

pytest.importorskip("bioimageio.core", reason="bioimage.io export needs napari-unet[bioimageio]")


@pytest.fixture(scope="module")
def exported(isbi_model, tmp_path_factory):
    """(model file, package, sample image file): the session's ISBI model exported with a
    128x128 crop of slice 0, an image it was trained on."""
    root = tmp_path_factory.mktemp("export")
    model_path = save_model(isbi_model, root / "isbi.pt")
    image, _ = isbi_slice(0, crop=128)
    tifffile.imwrite(root / "slice0.tif", image)
    package = root / "isbi.zip"
    assert (
        main(
            [
                "export",
                "--model",
                str(model_path),
                "--out",
                str(package),
                "--sample-image",
                str(root / "slice0.tif"),
                "--author",
                "Ada Tester",
                "--trained-on",
                "ISBI 2012 slices 0 and 1",
            ]
        )
        == 0
    )
    return model_path, package, root / "slice0.tif"


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a network connection fails, and is recorded."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network access attempted during an offline test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_exported_package_passes_bioimageio_test_model_offline(exported, no_network):
    from bioimageio.core import test_model

    summary = test_model(exported[1])
    failures = [
        (d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"
    ]
    assert summary.status == "passed", failures
    assert no_network == []
    names = {d.name for d in summary.details}
    assert any("pytorch_state_dict" in n for n in names)
    assert any("torchscript" in n for n in names)


def test_package_describes_weights_tensors_and_documentation(exported):
    with zipfile.ZipFile(exported[1]) as archive:
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
        doc = archive.read(rdf["documentation"]["source"]).decode()
        members = set(archive.namelist())
    arch = rdf["weights"]["pytorch_state_dict"]["architecture"]
    assert (arch["import_from"], arch["callable"]) == ("napari_unet.core.model", "UNet")
    assert arch["kwargs"]["depth"] == 2 and "torchscript" in rdf["weights"]
    raw, probs = rdf["inputs"][0], rdf["outputs"][0]
    assert [a["type"] for a in raw["axes"]] == ["batch", "channel", "space", "space"]
    size, halo = raw["axes"][2]["size"], probs["axes"][2]["halo"]
    assert size["step"] == 2**2  # no internal padding for a depth-2 U-Net
    assert size["min"] % size["step"] == 0 and size["min"] > 2 * halo > 0
    scale = next(p for p in raw["preprocessing"] if p["id"] == "scale_range")["kwargs"]
    assert (scale["min_percentile"], scale["max_percentile"]) == (1.0, 99.8)
    assert any(p["id"] == "softmax" for p in probs["postprocessing"])
    assert rdf["authors"][0]["name"] == "Ada Tester" and len(rdf["cite"]) >= 2
    assert "ISBI 2012 slices 0 and 1" in doc and "validation Dice" in doc
    assert rdf["covers"][0]["source"] in members


def test_package_predicts_the_same_labels_as_the_model_file(exported, tmp_path):
    model_path, package, image = exported
    for model, out in ((model_path, tmp_path / "pt"), (package, tmp_path / "zip")):
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(model),
                    "--images",
                    str(image),
                    "--out-dir",
                    str(out),
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
    from_pt, from_zip = (tifffile.imread(tmp_path / d / "slice0.tif") for d in ("pt", "zip"))
    assert set(np.unique(from_pt)) == {1, 2}
    np.testing.assert_array_equal(from_zip, from_pt)


def test_export_without_sample_image_exits_2_with_one_line(exported, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_unet.cli",
            "export",
            "--model",
            str(exported[0]),
            "--out",
            str(tmp_path / "p.zip"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "--sample-image" in proc.stderr
    assert "Traceback" not in proc.stderr
