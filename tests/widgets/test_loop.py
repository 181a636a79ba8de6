"""The human-in-the-loop workflow on a crop of a real ISBI slice: paint (simulated
strokes), train, segment, correct part of the segmentation, retrain."""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels

from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for
from napari_unet.widgets.train_widget import merge_training_labels


def _weights(model):
    return {k: v.clone() for k, v in model.network.state_dict().items()}


def test_paint_train_segment_correct_retrain(
    make_napari_viewer, dock_widget, isbi_crop, wait_for, fast_training
):
    image, truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    em = viewer.add_image(image, name="em", scale=(2.0, 2.0), translate=(10.0, 5.0))
    painted = viewer.add_labels(
        strokes.copy(), name="strokes", scale=(2.0, 2.0), translate=(10.0, 5.0)
    )
    train = dock_widget(viewer, "Train")
    segment = dock_widget(viewer, "Segment")
    # the image and strokes picked (or proxies of them), the classes painted listed
    assert train.control("Image").value == em and train.control("Strokes").value == painted
    classes = train.control("Classes painted").value
    assert "background" in classes and "object" in classes

    # --- train a new tiny model for 20 steps
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 20
    train.training_overrides = fast_training
    wait_for(train.start_training())
    wait_for(train.projects.saving)  # the round kept in a project, written in a worker
    model = store_for(viewer).model
    assert model is not None and len(model.rounds) == 1
    assert len(train._plot.losses) == 20 and train._plot.dice
    assert train.history.table.shape[0] == 1
    assert "2 classes" in segment.control("Model").value  # the Segment widget sees the model

    # --- segment with every output
    segment.control("Segment").value = "stack"
    for box in (
        segment.control("Separate objects"),
        segment.control("Class probabilities layer"),
        segment.control("Uncertainty layer"),
    ):
        box.value = True
    wait_for(segment.segment())
    seg = find_output(viewer, em, "segmentation")
    assert isinstance(seg, Labels) and seg.name == "em segmentation"
    assert seg.data.dtype == np.uint8 and seg.data.shape == image.shape
    assert set(np.unique(seg.data)) <= {1, 2} and seg.data.min() >= 1
    np.testing.assert_allclose(seg.scale, em.scale)
    np.testing.assert_allclose(seg.translate, em.translate)
    probs = find_output(viewer, em, "probabilities")
    assert isinstance(probs, Image) and probs.data.shape == (2, *image.shape)
    np.testing.assert_allclose(probs.data.sum(0), 1.0, atol=1e-3)
    unc = find_output(viewer, em, "uncertainty")
    assert unc.data.dtype == np.float32 and 0.0 <= unc.data.min() and unc.data.max() <= 1.0
    inst = find_output(viewer, em, "instances")
    assert inst.name == "em instances" and inst.data.dtype == np.uint32

    # --- correct part of the segmentation with the truth (what the brush would do)
    seg.data[:96, :96] = truth[:96, :96]
    before = _weights(model)
    train.control("Learn from").value = [painted, seg]
    merged = merge_training_labels([painted, seg])
    assert np.array_equal(merged[strokes > 0], strokes[strokes > 0])  # strokes win
    wait_for(train.start_retraining())
    wait_for(train.projects.saving)
    retrained = store_for(viewer).model
    assert retrained is not model and len(retrained.rounds) == 2
    assert retrained.rounds[-1]["painted_pixels"] > model.rounds[0]["painted_pixels"]
    after = _weights(retrained)
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)
    assert train.history.table.shape[0] == 2

    # --- segment again: the same layers are updated in place, nothing piles up
    names = [lay.name for lay in viewer.layers]
    segment.control("Segment").value = "slice"
    wait_for(segment.segment())
    assert [lay.name for lay in viewer.layers] == names
    assert find_output(viewer, em, "segmentation") is seg
    # the user's layers are untouched
    assert np.array_equal(painted.data, strokes) and np.array_equal(em.data, image)


def test_segment_stack_stop_keeps_finished_slices(
    make_napari_viewer, dock_widget, qtbot, isbi_crop, wait_for, fast_training
):
    image, truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    stack = np.stack([image[:128, :128]] * 6)
    lab = np.zeros(stack.shape, np.uint8)
    lab[0] = simulate_strokes(truth[:128, :128], seed=1)
    viewer.add_image(stack, name="stack")
    viewer.add_labels(lab, name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 3
    train.training_overrides = fast_training
    wait_for(train.start_training())
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    job = segment.segment()
    qtbot.waitUntil(lambda: job.done or "slice 1 of" in segment.status, timeout=60_000)
    segment.stop()
    wait_for(job)
    seg = find_output(viewer, viewer.layers["stack"], "segmentation")
    done = [bool(seg.data[i].any()) for i in range(6)]
    assert done[0]  # the finished slices are kept ...
    assert all(np.isin(seg.data[i], [1, 2]).all() for i in range(6) if done[i])
    assert all(not seg.data[i].any() for i in range(6) if not done[i])  # ... the rest stay 0


def test_robust_training_option_trains_on_adversarial_batches(
    make_napari_viewer, dock_widget, isbi_crop, wait_for, fast_training, monkeypatch
):
    from napari_unet.core.training.adversarial_training import AdversarialBatch

    made: list[tuple[float, int]] = []
    perturb = AdversarialBatch.perturb

    def counting_perturb(self, network, x, y, class_weights=None):
        made.append((self.eps, x.shape[0]))
        out = perturb(self, network, x, y, class_weights)
        assert out.shape == x.shape and (out - x).abs().max() <= self.eps + 1e-6
        return out

    monkeypatch.setattr(AdversarialBatch, "perturb", counting_perturb)
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 5
    train.control("Robust eps").value = 4.0
    train.training_overrides = fast_training
    wait_for(train.start_training())
    assert store_for(viewer).model is not None
    assert len(made) == 5 and all(abs(eps - 4 / 255) < 1e-9 for eps, _n in made)
    reopened = dock_widget(viewer, "Train", reopen=True)  # closed, then opened again
    assert reopened is not train and reopened.control("Robust eps").value == 4.0  # remembered
