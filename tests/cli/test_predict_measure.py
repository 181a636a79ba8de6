"""``napari-unet predict --instances --measure``: ``<stem>_objects.csv`` holds one row per
object of each slice, measured in the file's pixel size (ImageJ TIFF resolution), equal
to measuring the written instances slice by slice; ``--measure`` without ``--instances``
is one line and exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core import save_model
from napari_unet.core.analysis.measurements import measure_objects
from napari_unet.core.analysis.measurements_csv import read_table_csv
from tests.cli.bad_input_files import run_cli
from tests.conftest import isbi_slice
from tests.core.prediction.test_blockwise import calibrated_model

PIXEL_UM = 0.5


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("measure")
    stack = np.stack([isbi_slice(i, crop=96)[0] for i in range(2)])
    tifffile.imwrite(
        root / "stack.tif",
        stack,
        imagej=True,
        resolution=(1 / PIXEL_UM, 1 / PIXEL_UM),
        metadata={"unit": "um", "axes": "ZYX"},
    )
    return {"img": root / "stack.tif", "model": save_model(calibrated_model(), root / "m.pt")}


def _predict(files: dict, out, *options: str) -> int:
    argv = ["predict", "--model", files["model"], "--images", files["img"], "--out-dir", out]
    return main([str(a) for a in [*argv, "--device", "cpu", *options]])


def test_objects_csv_equals_measuring_each_written_slice_in_micrometres(files, tmp_path):
    assert _predict(files, tmp_path, "--instances", "--measure") == 0
    table = read_table_csv(tmp_path / "stack_objects.csv")
    instances = tifffile.imread(tmp_path / "stack_instances.tif")
    image = tifffile.imread(files["img"])
    for z in range(2):
        rows = [i for i, value in enumerate(table["index_0"]) if int(value) == z]
        want = measure_objects(instances[z], image[z], spacing=(PIXEL_UM, PIXEL_UM), unit="µm")
        assert [int(table["label"][i]) for i in rows] == want["label"].tolist()
        got_area = [float(table["area [µm^2]"][i]) for i in rows]
        np.testing.assert_allclose(got_area, want["area [µm^2]"])
        pixels = np.bincount(instances[z].ravel())[want["label"]]
        np.testing.assert_allclose(got_area, pixels * PIXEL_UM**2)
    assert len(table["label"]) > 10 and "class" in table


def test_measure_without_instances_is_one_line_and_exit_2(files, tmp_path, capsys):
    argv = ["predict", "--model", files["model"], "--images", files["img"], "--out-dir", tmp_path]
    code, lines, err = run_cli([*argv, "--measure"], capsys)
    assert code == 2 and len(lines) == 1 and "--instances" in lines[0], err
