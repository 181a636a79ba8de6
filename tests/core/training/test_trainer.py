"""Real training on small crops of real data (ISBI EM, plant 3D stack)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import (
    StopFlag,
    Trainer,
    TrainingConfig,
    TrainingStarted,
    TrainingStep,
    UNetConfig,
    UserInputError,
    ValidationScores,
    load_model,
    predict,
    run_to_completion,
)
from napari_unet.core.metrics import dice_iou_per_class

FAST = dict(max_time=None, device="cpu", batch_size=4, validate_every_steps=10)


def test_events_are_typed_and_training_learns(trained, isbi_crops):
    assert trained.steps == 60 and trained.stop_reason == "max_steps"
    assert trained.validations and all(isinstance(v, ValidationScores) for v in trained.validations)
    assert np.mean(trained.losses[-10:]) < np.mean(trained.losses[:10])
    image, truth = isbi_crops[2]  # a crop never painted
    labels = run_to_completion(predict(trained.model, image)).labels
    assert set(np.unique(labels)) <= {1, 2}
    dice = dice_iou_per_class(labels, truth)
    assert dice[2]["dice"] > 0.75, dice  # cell interior on an unseen crop


def test_event_stream_order(isbi_crops, isbi_strokes):
    trainer = Trainer(
        [isbi_crops[0][0]], [isbi_strokes[0]], config=TrainingConfig(max_steps=3, seed=0, **FAST)
    )
    events = []
    result = run_to_completion(trainer.run(), events.append)
    assert isinstance(events[0], TrainingStarted)
    steps = [e for e in events if isinstance(e, TrainingStep)]
    assert [s.step for s in steps] == [1, 2, 3]
    assert steps[-1].progress == 1.0 and steps[-1].eta == pytest.approx(0.0, abs=1e-6)
    assert result.model.rounds[-1]["round"] == 1


def test_seeded_runs_are_reproducible_on_cpu(isbi_crops, isbi_strokes):
    def weights():
        trainer = Trainer(
            [isbi_crops[0][0]],
            [isbi_strokes[0]],
            config=TrainingConfig(max_steps=4, seed=123, **FAST),
        )
        return run_to_completion(trainer.run()).model.state_on_cpu()

    a, b = weights(), weights()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_request_ends_the_run_and_keeps_the_best_model(isbi_crops, isbi_strokes):
    stop = StopFlag()
    trainer = Trainer(
        [isbi_crops[0][0]],
        [isbi_strokes[0]],
        stop=stop,
        config=TrainingConfig(max_steps=1000, seed=0, **FAST),
    )

    def on_event(event):
        if isinstance(event, TrainingStep) and event.step == 12:
            stop.request_stop()

    result = run_to_completion(trainer.run(), on_event)
    assert result.stop_reason == "stopped" and result.steps == 12
    assert result.model.rounds[-1]["steps"] in (10, 12)


def test_an_error_mid_run_leaves_the_best_model(isbi_crops, isbi_strokes, tmp_path):
    checkpoint = tmp_path / "best.pt"
    trainer = Trainer(
        [isbi_crops[0][0]],
        [isbi_strokes[0]],
        config=TrainingConfig(max_steps=100, seed=0, checkpoint=str(checkpoint), **FAST),
    )
    work = trainer.run()
    for event in work:
        if isinstance(event, ValidationScores):
            break
    with pytest.raises(RuntimeError, match="simulated crash"):
        work.throw(RuntimeError("simulated crash"))  # the error propagates ...
    assert trainer.best.rounds[-1]["steps"] == 10  # ... the best model is still there
    assert load_model(checkpoint).rounds[-1]["steps"] == 10


def test_finetuning_starts_from_the_given_model(trained, isbi_crops, isbi_strokes):
    trainer = Trainer(
        [isbi_crops[2][0]],
        [isbi_strokes[2]],
        init=trained.model,
        config=TrainingConfig(max_steps=5, seed=0, **FAST),
    )
    before = trained.model.state_on_cpu()
    start = trainer.network.state_dict()
    assert all(torch.equal(before[k], start[k].cpu()) for k in before)
    result = run_to_completion(trainer.run())
    assert [r["round"] for r in result.model.rounds] == [1, 2]
    assert result.model.rounds[-1]["finetuned"]
    after = result.model.state_on_cpu()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_dense_labels_train_with_their_mapping(isbi_crops):
    image, classes = isbi_crops[0]
    mask = np.where(classes == 2, 255, 0).astype(np.uint8)  # the ISBI 0/255 convention
    trainer = Trainer(
        [image], [mask], dense=True, config=TrainingConfig(max_steps=3, seed=0, **FAST)
    )
    model = run_to_completion(trainer.run()).model
    assert model.classes.source_values == (0, 255) and model.classes.dense


def test_bad_inputs_name_the_fix(isbi_crops):
    image, _ = isbi_crops[0]
    cfg = TrainingConfig(max_steps=1, **FAST)
    with pytest.raises(UserInputError, match="No strokes"):
        Trainer([image], [np.zeros(image.shape, np.uint8)], config=cfg)
    one_class = np.zeros(image.shape, np.uint8)
    one_class[:5, :5] = 1
    with pytest.raises(UserInputError, match="Only class 1"):
        Trainer([image], [one_class], config=cfg)
    with pytest.raises(UserInputError, match="shape"):
        Trainer([image], [np.ones((10, 10), np.uint8)], config=cfg)
    bad = image.astype(np.float32)
    bad[3, 3] = np.inf
    strokes = np.zeros(image.shape, np.uint8)
    strokes[:4, :4], strokes[-4:, -4:] = 1, 2
    with pytest.raises(UserInputError, match="NaN or infinite"):
        Trainer([bad], [strokes], config=cfg)


def test_channel_count_of_an_existing_model_is_checked(trained, isbi_crops, isbi_strokes):
    rgb = np.stack([isbi_crops[0][0]] * 3, axis=-1)
    with pytest.raises(UserInputError, match="3 channel"):
        Trainer(
            [rgb],
            [isbi_strokes[0]],
            rgb=True,
            init=trained.model,
            config=TrainingConfig(max_steps=1, **FAST),
        )


def test_2d_model_trains_on_the_painted_slices_of_a_stack(isbi_crops, isbi_strokes):
    stack = np.stack([c[0] for c in isbi_crops])  # (3, 192, 192) Z stack
    labels = np.zeros(stack.shape, np.uint8)
    labels[1] = isbi_strokes[1]  # only the middle slice is painted
    trainer = Trainer([stack], [labels], config=TrainingConfig(max_steps=2, seed=0, **FAST))
    assert len(trainer.data.units) == 1
    run_to_completion(trainer.run())


def test_multichannel_images_train(isbi_crops, isbi_strokes):
    image = np.stack([isbi_crops[0][0], 255 - isbi_crops[0][0]])  # (2, Y, X)
    trainer = Trainer(
        [image],
        [isbi_strokes[0]],
        channel_axis=0,
        config=TrainingConfig(max_steps=2, seed=0, **FAST),
    )
    model = run_to_completion(trainer.run()).model
    assert model.in_channels == 2
    out = run_to_completion(predict(model, image, channel_axis=0))
    assert out.labels.shape == image.shape[1:]


def test_3d_model_on_the_plant_stack(shared_data):
    import tifffile

    raw = tifffile.imread(shared_data / "plant3d" / "raw.tif")[:24, :64, :64]
    cells = tifffile.imread(shared_data / "plant3d" / "label.tif")[:24, :64, :64]
    from scipy import ndimage as ndi

    boundary = ndi.morphological_gradient(cells.astype(np.int32), size=3) > 0
    strokes = np.zeros(raw.shape, np.uint8)
    strokes[::4][boundary[::4]] = 2  # membranes painted on every 4th plane
    strokes[::4][ndi.binary_erosion(~boundary, iterations=3)[::4]] = 1
    trainer = Trainer(
        [raw],
        [strokes],
        model_config=UNetConfig(spatial_dims=3, depth=2, base_channels=8),
        config=TrainingConfig(max_steps=3, seed=0, patch_size=(16, 32, 32), **FAST),
    )
    model = run_to_completion(trainer.run()).model
    assert model.spatial_dims == 3
    out = run_to_completion(predict(model, raw))
    assert out.labels.shape == raw.shape and set(np.unique(out.labels)) <= {1, 2}


def test_3d_models_default_to_two_patches_a_step_and_2d_to_four(shared_data):
    import tifffile

    raw = tifffile.imread(shared_data / "plant3d" / "raw.tif")[:16, :64, :64]
    strokes = np.zeros(raw.shape, np.uint8)
    strokes[8, 10:20, 10:20], strokes[8, 40:50, 40:50] = 1, 2
    config = TrainingConfig(max_steps=1, seed=0, device="cpu")
    volume = Trainer([raw], [strokes], model_config=UNetConfig(spatial_dims=3), config=config)
    planes = Trainer([raw], [strokes], model_config=UNetConfig(spatial_dims=2), config=config)
    assert (volume.batch_size, planes.batch_size) == (2, 4)
    explicit = Trainer(
        [raw],
        [strokes],
        model_config=UNetConfig(spatial_dims=3),
        config=TrainingConfig(max_steps=1, device="cpu", batch_size=5),
    )
    assert explicit.batch_size == 5
