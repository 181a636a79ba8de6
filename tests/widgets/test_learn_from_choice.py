"""Retrain learns exactly what the user chose: strokes and the pixels they corrected in
the segmentation, never the attack's outputs nor the uncorrected prediction; and Segment
never writes into a layer the user made, tagged copy or not."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.widgets._layers import find_output, write_output
from napari_unet.widgets.model_store import store_for


@pytest.fixture
def trained(make_napari_viewer, dock_widget, isbi_crop, fast_training, wait_for):
    """A viewer with the ISBI crop, strokes, a 5-step model and a Segment widget."""
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em")
    painted = viewer.add_labels(strokes.copy(), name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 5
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training
    wait_for(train.start_training())
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    return viewer, em, painted, train, segment


def _segment(viewer, segment, wait_for):
    wait_for(segment.segment())
    return find_output(viewer, segment.control("Image").value, "segmentation")


def _ticked(train) -> list[str]:
    return [lay.name for lay in train.control("Learn from").value]


def _correct(seg, n: int = 40, seed: int = 0) -> np.ndarray:
    """Flip the class of ``n`` pixels of the segmentation (what the brush would do)."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(seg.data.size, n, replace=False)
    where = np.zeros(seg.data.shape, bool)
    where.flat[flat] = True
    seg.data[where] = 3 - seg.data[where]  # 1 <-> 2
    seg.refresh()
    return where


def test_uncorrected_segmentation_alone_is_refused_as_nothing_corrected(
    trained, wait_for, notifications
):
    viewer, _em, painted, train, segment = trained
    seg = _segment(viewer, segment, wait_for)
    assert _ticked(train) == ["strokes", "em segmentation"]
    train.control("Learn from").value = [seg]
    assert train.start_retraining() is None
    errors = [msg for sev, msg in notifications if "error" in sev.lower()]
    assert any("Nothing corrected" in m and "em segmentation" in m for m in errors), errors
    assert len(store_for(viewer).model.rounds) == 1 and not train.running


def test_only_corrected_pixels_and_strokes_are_learned(trained, wait_for, isbi_crop):
    viewer, _em, painted, train, segment = trained
    strokes = isbi_crop[2]
    seg = _segment(viewer, segment, wait_for)
    corrected = _correct(seg)
    corrected[strokes > 0] = False  # where both have a value, the strokes win
    expected = np.where(strokes > 0, strokes, np.where(corrected, seg.data, 0))
    labels = train.retrain_labels()
    np.testing.assert_array_equal(labels, expected)
    assert np.count_nonzero(labels) < 0.2 * labels.size  # not the 65,536 predicted pixels
    wait_for(train.start_retraining())
    retrained = train.last_outcome.result.model  # current, or offered if it validates worse
    assert retrained.rounds[-1]["painted_pixels"] == np.count_nonzero(expected)


def test_the_whole_layer_counts_only_when_asked(trained, wait_for):
    viewer, _em, painted, train, segment = trained
    seg = _segment(viewer, segment, wait_for)
    train.control("Learn from").value = [seg]
    train.control("Use the whole segmentation layer").value = True
    np.testing.assert_array_equal(train.retrain_labels(), seg.data)


def test_attack_outputs_and_previews_are_never_offered(trained, wait_for):
    viewer, em, painted, train, segment = trained
    seg = _segment(viewer, segment, wait_for)
    for role in ("adversarial prediction", "changed pixels", "preview", "instances"):
        write_output(viewer, em, role, np.ones(seg.data.shape, np.uint8))
    write_output(viewer, em, "quick labels", np.ones(seg.data.shape, np.uint8))
    offered = [lay.name for lay in train.control("Learn from").choices]
    assert set(offered) == {"strokes", "em segmentation", "em quick labels"}
    assert _ticked(train) == ["strokes", "em segmentation"]  # quick labels: only if ticked
    viewer.add_labels(np.zeros(seg.data.shape, np.uint8), name="more strokes")
    assert _ticked(train) == ["strokes", "em segmentation", "more strokes"]


def test_segment_never_overwrites_a_corrected_duplicate(trained, wait_for):
    from napari.layers._layer_actions import _duplicate_layer

    viewer, em, painted, train, segment = trained
    seg = _segment(viewer, segment, wait_for)
    viewer.layers.selection = {seg}
    _duplicate_layer(viewer.layers)
    copy = viewer.layers["em segmentation copy"]
    corrected = _correct(copy, seed=1)
    mine = np.array(copy.data, copy=True)
    viewer.layers.remove(seg)
    copy.name = "em segmentation"  # the user takes the plugin's name too
    new = _segment(viewer, segment, wait_for)
    assert new is not copy and new.name != "em segmentation"
    np.testing.assert_array_equal(copy.data, mine)  # the user's corrections are intact
    # the copy still knows the prediction it came from: only its corrections count
    train.control("Learn from").value = [copy]
    np.testing.assert_array_equal(train.retrain_labels() > 0, corrected)
