"""Results read well over the image: the background class (1) is drawn transparent while
the layer's values stay 1..K, objects have the colour their class has in the strokes,
and the plots use napari's theme colours."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from napari.utils.theme import get_theme

from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for


def _alpha(layer, value: int) -> float:
    return float(np.asarray(layer.colormap.map(np.array([value])))[0, 3])


def test_segmentation_draws_background_transparent_and_objects_opaque(
    make_napari_viewer, dock_widget, tiny_isbi_model, wait_for
):
    image, model = tiny_isbi_model
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    strokes = viewer.add_labels(np.zeros(image.shape, np.uint8), name="strokes")
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    wait_for(segment.segment())
    seg = find_output(viewer, em, "segmentation")
    assert set(np.unique(seg.data)) <= {1, 2} and 1 in seg.data  # values stay 1..K
    assert _alpha(seg, 0) == 0 and _alpha(seg, 1) == 0
    assert _alpha(seg, 2) == 1 and _alpha(seg, 3) == 1 and seg.opacity > 0.5
    # an object class has the colour it has in a new strokes layer (class 2 cyan in both)
    np.testing.assert_allclose(seg.get_color(2), strokes.get_color(2), atol=1e-6)
    np.testing.assert_allclose(seg.get_color(3), strokes.get_color(3), atol=1e-6)


def test_probability_and_uncertainty_layers_add_light_over_the_image(
    make_napari_viewer, dock_widget, tiny_isbi_model, wait_for
):
    image, model = tiny_isbi_model
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Class probabilities layer").value = segment.control(
        "Uncertainty layer"
    ).value = True
    wait_for(segment.segment())
    for role in ("probabilities", "uncertainty"):
        layer = find_output(viewer, em, role)
        assert layer.blending == "additive" and layer.opacity < 1, role
        assert tuple(layer.contrast_limits) == (0.0, 1.0)
        assert np.allclose(layer.colormap.map(np.array([0.0]))[0, :3], 0, atol=0.02)  # adds ~0


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_plots_take_napari_theme_colours_and_follow_changes(make_napari_viewer, dock_widget, theme):
    viewer = make_napari_viewer()
    viewer.theme = "dark" if theme == "light" else "light"
    plot = dock_widget(viewer, "Adversarial attack")._plot
    viewer.theme = theme
    colours = get_theme(theme)
    assert to_hex(plot.figure.get_facecolor()) == colours.background.as_hex()
    assert to_hex(plot.ax.get_facecolor()) == colours.background.as_hex()
    tick = plot.ax.get_xticklabels()[0]
    assert to_hex(tick.get_color()) == colours.text.as_hex()
    assert to_hex(plot.ax.xaxis.label.get_color()) == colours.text.as_hex()


def test_class_swatches_have_the_colours_of_strokes_and_results(
    make_napari_viewer, dock_widget, isbi_crop, tiny_isbi_model, wait_for
):
    from napari_unet.widgets._layers import colour_hex

    image, _truth, strokes_data = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    strokes = viewer.add_labels(strokes_data, name="strokes")
    train = dock_widget(viewer, "Train")
    text = train.control("Classes painted").value
    for value in (1, 2):
        assert f"color:{colour_hex(strokes, value)}" in text  # the strokes' own colours
    assert "clear in results" in text
    # the segmentation draws class 2 in the swatch's colour, class 1 not at all
    store_for(viewer).set(tiny_isbi_model[1])
    wait_for(dock_widget(viewer, "Segment").segment())
    seg = find_output(viewer, em, "segmentation")
    assert colour_hex(seg, 2) == colour_hex(strokes, 2) and colour_hex(seg, 1) is None
    # learning from the corrected segmentation: a hollow swatch
    train.control("Strokes").value = seg
    train.data.update_classes()
    assert "&#9633; 1 background" in train.control("Classes painted").value


def test_live_preview_appears_before_the_first_validation_without_background_colour(
    make_napari_viewer, dock_widget, qtbot, isbi_crop, fast_training, wait_for
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Live preview of the slice in view").value = True
    train.control("Time budget").value = 0
    train.control("Max steps").value = 100_000
    train.training_overrides = {**fast_training, "validate_every_steps": 100_000}
    job = train.start_training()
    qtbot.waitUntil(
        lambda: (
            find_output(viewer, em, "preview") is not None  # made at Start,
            and find_output(viewer, em, "preview").data.any()
        ),  # filled
        timeout=120_000,
    )
    assert train._plot.dice == [] and len(train._plot.losses) > 0  # no validation yet
    train.stop()
    wait_for(job)
    preview = find_output(viewer, em, "preview")
    assert _alpha(preview, 1) == 0 and _alpha(preview, 2) == 1
    assert set(np.unique(preview.data)) <= {0, 1, 2}
