"""The Segment widget on several images, opened from the Plugins menu: every open image
gets its own result layers (images of different sizes), a folder of files is written to
another folder with one result (and one objects table) per file, a broken file is
skipped and named in the summary, and Stop keeps the images already done."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet.core import PredictionConfig, predict, run_to_completion
from napari_unet.core.prediction.batch import ImageFinished
from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice
from tests.scale_helpers import small_model, stop_after_first, write_isbi_tiffs


def _segment(viewer, dock_widget, mode: str):
    model = small_model()
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Images").value = mode
    return segment, model


def test_every_open_image_gets_its_own_segmentation_layer(
    make_napari_viewer, dock_widget, wait_for
):
    viewer = make_napari_viewer()
    images = {"a": isbi_slice(0, crop=96)[0], "b": isbi_slice(1, crop=128)[0]}
    layers = {name: viewer.add_image(data, name=name) for name, data in images.items()}
    segment, model = _segment(viewer, dock_widget, "open")
    wait_for(segment.segment())
    for name, layer in layers.items():
        expected = run_to_completion(predict(model, images[name], config=PredictionConfig()))
        np.testing.assert_array_equal(
            find_output(viewer, layer, "segmentation").data, expected.labels
        )
    assert segment.status.startswith("2 of 2 image(s) segmented")


def test_a_folder_is_written_file_by_file_and_a_broken_file_is_named(
    make_napari_viewer, dock_widget, wait_for, tmp_path
):
    source, target = tmp_path / "in", tmp_path / "out"
    write_isbi_tiffs(source, 2, crop=96)
    (source / "broken.tif").write_bytes(b"not a tiff")
    viewer = make_napari_viewer()
    segment, model = _segment(viewer, dock_widget, "folder")
    segment.control("Input folder").value, segment.control("Output folder").value = (
        str(source),
        str(target),
    )
    segment.control("Separate objects").value = segment.control("Measure objects").value = True
    wait_for(segment.segment())
    for i in range(2):
        image = tifffile.imread(source / f"img{i}.tif")
        config = PredictionConfig(instances=True)
        expected = run_to_completion(predict(model, image, config=config))
        np.testing.assert_array_equal(tifffile.imread(target / f"img{i}.tif"), expected.labels)
        assert (target / f"img{i}_instances.tif").is_file()
        assert (target / f"img{i}_objects.csv").is_file()
    assert not (target / "broken.tif").exists()
    status = segment.status
    assert status.startswith("2 of 3 image(s) segmented") and "broken.tif" in status, status


def test_stop_keeps_the_images_already_segmented(
    make_napari_viewer, dock_widget, wait_for, monkeypatch, tmp_path
):
    from napari_unet.widgets import segment_batch

    source, target = tmp_path / "in", tmp_path / "out"
    write_isbi_tiffs(source, 3, crop=96)
    stopped = stop_after_first(segment_batch.run_batch, ImageFinished)
    monkeypatch.setattr(segment_batch, "run_batch", stopped)
    viewer = make_napari_viewer()
    segment, _model = _segment(viewer, dock_widget, "folder")
    segment.control("Input folder").value, segment.control("Output folder").value = (
        str(source),
        str(target),
    )
    wait_for(segment.segment())
    assert sorted(p.name for p in target.iterdir()) == ["img0.tif"]
    assert segment.status.startswith("1 of 3 image(s) segmented before Stop")


def test_a_folder_run_without_folders_chosen_asks_for_them_and_writes_nothing(
    make_napari_viewer, dock_widget, notifications, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # an empty file field reads as the current folder
    write_isbi_tiffs(tmp_path, 1)
    viewer = make_napari_viewer()
    segment, _model = _segment(viewer, dock_widget, "folder")
    assert segment.segment() is None
    assert any("Choose an input folder and an output folder" in m for _s, m in notifications)
    segment.control("Input folder").value = str(tmp_path)
    assert segment.segment() is None  # an input folder alone is not enough either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img0.tif"]
