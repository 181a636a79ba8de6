"""The Adversarial widget warns when eps is below one grey level of a dim image (the
attacked image then equals the clean one), marks such curve points, and its *Float
output* keeps the perturbation."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def dim_isbi():
    """A real ISBI crop made dim (16 grey levels of uint8) and a briefly trained model."""
    image, classes = isbi_slice(0, crop=96)
    truth = np.where(classes == 2, 255, 0).astype(np.uint8)
    trainer = Trainer(
        [image],
        [truth],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None,
            max_steps=10,
            seed=0,
            batch_size=2,
            patch_size=(64, 64),
            validate_every_steps=10,
        ),
    )
    return (image // 16).astype(np.uint8), run_to_completion(trainer.run()).model


@pytest.fixture
def adversarial(make_napari_viewer, dim_isbi):
    viewer = make_napari_viewer()
    viewer.add_image(dim_isbi[0], name="dim")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Adversarial attack")
    store_for(viewer).set(dim_isbi[1])
    widget.control("Attack").value = "pgd"
    widget.control("eps").value = 4.0
    widget.control("Steps").value = 2
    return viewer, widget


def test_attack_below_one_grey_level_warns_and_float_output_keeps_it(
    adversarial, wait_for, notifications
):
    viewer, widget = adversarial
    wait_for(widget.run_attack())
    warnings = [m for s, m in notifications if "below one grey level" in m]
    assert warnings and "Float output" in warnings[0]
    assert widget.result.metrics.fraction_changed == 0.0
    assert "grey levels" in widget.status
    widget.control("Float output").value = True
    wait_for(widget.run_attack())
    assert widget.result.adversarial.dtype == np.float32
    assert widget.result.metrics.linf_raw > 0


def test_curve_marks_eps_below_one_grey_level(adversarial, wait_for, notifications):
    _viewer, widget = adversarial
    widget.control("Curve levels").value = "4, 64"
    wait_for(widget.run_curve())
    assert widget.curve.below_quantization == [pytest.approx(4 / 255)]
    assert any("below one grey level" in m for _s, m in notifications)
    labels = [line.get_label() for line in widget._plot.ax.get_lines()]
    assert "below 1 grey level" in labels
