"""Segmenting a data set in the engine: a folder's images are found (hidden and other
files left out), each written to the output folder, a broken file is skipped and named
while the others go on, the input folder is never the output folder, and a file's
channels are read as napari shows them."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.core import PredictionConfig, UserInputError, predict, run_to_completion
from napari_unet.core.io.image_files import OpenedImage, find_images
from napari_unet.core.prediction.batch import ImageFinished, file_layout, folder_jobs, run_batch
from tests.scale_helpers import small_model, write_isbi_tiffs


@pytest.fixture()
def folder(tmp_path):
    source = tmp_path / "in"
    write_isbi_tiffs(source, 2)
    (source / "notes.txt").write_text("not an image")
    (source / ".hidden.tif").write_bytes(b"")
    return source


def test_a_folder_names_its_images_and_a_pattern_its_matches(folder):
    assert [p.name for p in find_images(folder)] == ["img0.tif", "img1.tif"]
    assert [p.name for p in find_images(folder / "img1*")] == ["img1.tif"]
    with pytest.raises(UserInputError, match="No TIFF, PNG or zarr image matches"):
        find_images(folder / "nothing*.tif")
    empty = folder / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="holds no TIFF, PNG or zarr image"):
        find_images(empty)


def test_each_image_is_written_and_a_broken_file_is_skipped_and_named(folder, tmp_path):
    (folder / "broken.tif").write_bytes(b"not a tiff")
    model, out = small_model(), tmp_path / "out"
    events: list = []
    summary = run_to_completion(
        run_batch(folder_jobs(folder, model, PredictionConfig(), out)), events.append
    )
    assert summary.finished == ["img0.tif", "img1.tif"] and not summary.stopped
    assert [name for name, _why in summary.skipped] == ["broken.tif"]
    assert "broken.tif" in summary.message()
    finished = [e for e in events if isinstance(e, ImageFinished)]
    assert [e.outputs for e in finished] == [[out / "img0.tif"], [out / "img1.tif"]]
    image = tifffile.imread(folder / "img1.tif")
    expected = run_to_completion(predict(model, image, config=PredictionConfig())).labels
    np.testing.assert_array_equal(tifffile.imread(out / "img1.tif"), expected)


def test_the_input_folder_is_never_the_output_folder(folder):
    with pytest.raises(UserInputError, match="is the input folder"):
        folder_jobs(folder, small_model(), PredictionConfig(), folder)


@pytest.mark.parametrize(
    ("shape", "model_channels", "rgb", "channel_axis", "grey"),
    [
        ((32, 32, 3), 3, True, None, False),
        ((32, 32, 4), 1, False, None, True),
        ((2, 32, 32), 2, False, 0, False),
        ((5, 32, 32), 1, False, None, False),
    ],
)
def test_a_files_channels_are_read_as_napari_shows_them(
    shape, model_channels, rgb, channel_axis, grey
):
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    opened = OpenedImage(data, None, {}, "x")
    image, got_rgb, got_axis = file_layout(opened, model_channels)
    assert (got_rgb, got_axis) == (rgb, channel_axis)
    assert image.shape == (shape[:2] if grey else shape)
