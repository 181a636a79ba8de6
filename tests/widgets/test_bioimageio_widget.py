"""bioimage.io packages in the widgets: export from the image in view, then Load model...
reads the package back into the viewer's model store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.widgets._export import (
    export_from_widget,
    export_job,
    sample_from_layer,
)
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice

pytest.importorskip("bioimageio.spec", reason="bioimage.io export needs napari-unet[bioimageio]")


def test_package_exported_from_the_view_loads_back_with_the_same_weights(
    make_napari_viewer, dock_widget, isbi_model, wait_for, tmp_path
):
    viewer = make_napari_viewer()
    stack = np.stack([isbi_slice(i, crop=128)[0] for i in (0, 1)])
    layer = viewer.add_image(stack, name="em")
    viewer.dims.set_current_step(0, 1)
    sample = sample_from_layer(viewer, layer, isbi_model)
    assert sample.shape[0] == 1 and np.array_equal(
        sample[0],
        stack[1][tuple(slice((128 - n) // 2, (128 - n) // 2 + n) for n in sample.shape[1:])],
    )
    job = export_job(viewer, layer, isbi_model, tmp_path / "em.zip")
    wait_for(job)
    assert (tmp_path / "em.zip").is_file()
    segment = dock_widget(viewer, "Segment")
    segment.load_model_from(tmp_path / "em.zip")
    loaded = store_for(viewer).model
    assert loaded is not None and loaded is not isbi_model
    for name, tensor in isbi_model.network.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[name].cpu(), tensor.cpu()), name


def test_train_widget_export_button_sits_under_save_and_refuses_without_a_model(
    make_napari_viewer, dock_widget, notifications, tmp_path
):
    viewer = make_napari_viewer()
    viewer.add_image(isbi_slice(0, crop=128)[0], name="em")
    train = dock_widget(viewer, "Train")
    button = train._export  # a Qt line of its own under Save/Load, not a magicgui control
    assert button.text.startswith("Export for bioimage.io")
    assert button.native.isVisibleTo(train.native)
    assert export_from_widget(train, tmp_path / "m.zip") is None
    assert any("No model yet" in message for _severity, message in notifications)
    assert not (tmp_path / "m.zip").exists()
