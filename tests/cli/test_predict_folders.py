"""``napari-unet predict --images`` takes folders and quoted glob patterns: one output
per image found; a folder without images or a pattern matching nothing is one line and
exit 2."""

from __future__ import annotations

import pytest

from napari_unet.core import save_model
from tests.cli.bad_input_files import run_cli
from tests.scale_helpers import small_model, write_isbi_tiffs


@pytest.fixture()
def files(tmp_path):
    source = tmp_path / "plate"
    write_isbi_tiffs(source, 3, prefix="well")
    return {"dir": source, "model": save_model(small_model(), tmp_path / "m.pt")}


def _predict(files, images, out, capsys):
    argv = ["predict", "--model", files["model"], "--images", *images, "--out-dir", out]
    return run_cli([*argv, "--device", "cpu"], capsys)


def test_a_folder_gives_one_output_per_image(files, tmp_path, capsys):
    code, _lines, err = _predict(files, [files["dir"]], tmp_path / "out", capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "well0.tif",
        "well1.tif",
        "well2.tif",
    ]


def test_a_quoted_pattern_gives_its_matches(files, tmp_path, capsys):
    code, _lines, err = _predict(files, [files["dir"] / "well[12].tif"], tmp_path / "out", capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["well1.tif", "well2.tif"]


@pytest.mark.parametrize("name", ["empty", "nothing*.tif"])
def test_a_folder_or_pattern_without_images_is_one_line(files, tmp_path, capsys, name):
    (files["dir"] / "empty").mkdir()
    code, lines, err = _predict(files, [files["dir"] / name], tmp_path / "out", capsys)
    messages = [line for line in lines if not line.startswith("usage")]
    assert code == 2 and len(messages) == 1 and "image" in messages[0], err
