"""Results read well over the image: the background class (1) is drawn transparent while
the layer's values stay 1..K, objects have the colour their class has in the strokes,
and the plots use napari's theme colours."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from napari.utils.theme import get_theme

from napari_unet.core import PRESETS, Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.widgets._layers import find_output
from napari_unet.widgets.adversarial_widget import AdversarialWidget
from napari_unet.widgets.model_store import store_for
from napari_unet.widgets.segment_widget import SegmentWidget


@pytest.fixture(scope="module")
def small_model():
    """The tiny preset trained for 10 steps on strokes of a real ISBI crop, and its image."""
    from tests.conftest import isbi_slice
    from napari_unet.core.simulated_strokes import simulate_strokes

    image, truth = isbi_slice(0, crop=256)
    strokes = simulate_strokes(truth, seed=0).astype(np.uint8)
    trainer = Trainer([image], [strokes], model_config=UNetConfig(**PRESETS["tiny"]),
                      config=TrainingConfig(max_time=None, max_steps=10, seed=0, batch_size=2,
                                            patch_size=(64, 64)))
    return image, run_to_completion(trainer.run()).model


def _alpha(layer, value: int) -> float:
    return float(np.asarray(layer.colormap.map(np.array([value])))[0, 3])


def test_segmentation_draws_background_transparent_and_objects_opaque(
        make_napari_viewer, small_model, wait_for):
    image, model = small_model
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    strokes = viewer.add_labels(np.zeros(image.shape, np.uint8), name="strokes")
    store_for(viewer).set(model)
    segment = SegmentWidget(viewer)
    segment._scope.value = "stack"
    wait_for(segment.segment())
    seg = find_output(viewer, em, "segmentation")
    assert set(np.unique(seg.data)) <= {1, 2} and 1 in seg.data  # values stay 1..K
    assert _alpha(seg, 0) == 0 and _alpha(seg, 1) == 0
    assert _alpha(seg, 2) == 1 and _alpha(seg, 3) == 1 and seg.opacity > 0.5
    # an object class has the colour it has in a new strokes layer (class 2 cyan in both)
    np.testing.assert_allclose(seg.get_color(2), strokes.get_color(2), atol=1e-6)
    np.testing.assert_allclose(seg.get_color(3), strokes.get_color(3), atol=1e-6)


def test_probability_and_uncertainty_layers_add_light_over_the_image(
        make_napari_viewer, small_model, wait_for):
    image, model = small_model
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    store_for(viewer).set(model)
    segment = SegmentWidget(viewer)
    segment._probabilities.value = segment._uncertainty.value = True
    wait_for(segment.segment())
    for role in ("probabilities", "uncertainty"):
        layer = find_output(viewer, em, role)
        assert layer.blending == "additive" and layer.opacity < 1, role
        assert tuple(layer.contrast_limits) == (0.0, 1.0)
        assert np.allclose(layer.colormap.map(np.array([0.0]))[0, :3], 0, atol=0.02)  # adds ~0


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_plots_take_napari_theme_colours_and_follow_changes(make_napari_viewer, theme):
    viewer = make_napari_viewer()
    viewer.theme = "dark" if theme == "light" else "light"
    plot = AdversarialWidget(viewer)._plot
    viewer.theme = theme
    colours = get_theme(theme)
    assert to_hex(plot.figure.get_facecolor()) == colours.background.as_hex()
    assert to_hex(plot.ax.get_facecolor()) == colours.background.as_hex()
    tick = plot.ax.get_xticklabels()[0]
    assert to_hex(tick.get_color()) == colours.text.as_hex()
    assert to_hex(plot.ax.xaxis.label.get_color()) == colours.text.as_hex()
