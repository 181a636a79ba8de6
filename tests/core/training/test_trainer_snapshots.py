"""Live-preview snapshots of training: copies of the current weights, made in the
training thread every ``snapshot_every`` seconds, long before the first validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import (
    PRESETS,
    ModelSnapshot,
    Trainer,
    TrainingConfig,
    TrainingStep,
    UNetConfig,
    ValidationScores,
    predict,
    run_to_completion,
)


def _trainer(isbi_crops, isbi_strokes, **config) -> Trainer:
    settings = dict(
        max_time=None,
        max_steps=8,
        seed=0,
        device="cpu",
        batch_size=2,
        patch_size=(64, 64),
        validate_every_steps=25,
    )
    settings.update(config)
    return Trainer(
        [isbi_crops[0][0]],
        isbi_strokes[:1],
        model_config=UNetConfig(**PRESETS["tiny"]),
        config=TrainingConfig(**settings),
    )


def test_snapshots_come_before_the_first_validation_and_hold_current_weights(
    isbi_crops, isbi_strokes
):
    trainer = _trainer(isbi_crops, isbi_strokes, snapshot_every=1e-6)
    events: list = []
    run_to_completion(trainer.run(), events.append)
    kinds = [type(e) for e in events]
    first_validation = kinds.index(ValidationScores)
    snapshots = [e for e in events if isinstance(e, ModelSnapshot)]
    assert snapshots and kinds.index(ModelSnapshot) < first_validation
    steps = [e.step for e in events if isinstance(e, TrainingStep)]
    assert [s.step for s in snapshots] == steps  # a tiny interval: one per step
    # each snapshot froze the weights of its step: consecutive ones differ, and training
    # went on without changing an earlier snapshot
    first, last = snapshots[0].model.network.state_dict(), snapshots[-1].model.network.state_dict()
    assert any(not torch.equal(first[k], last[k]) for k in first)
    live = trainer.network.state_dict()
    assert all(torch.equal(last[k].cpu(), live[k].cpu()) for k in last)


def test_a_snapshot_predicts_the_image(isbi_crops, isbi_strokes):
    trainer = _trainer(isbi_crops, isbi_strokes, snapshot_every=1e-6, max_steps=2)
    snapshots: list[ModelSnapshot] = []
    run_to_completion(
        trainer.run(), lambda e: snapshots.append(e) if isinstance(e, ModelSnapshot) else None
    )
    image = isbi_crops[0][0]
    result = run_to_completion(predict(snapshots[0].model, image))
    assert result.labels.shape == image.shape and set(np.unique(result.labels)) <= {1, 2}


def test_no_snapshots_unless_asked(isbi_crops, isbi_strokes):
    events: list = []
    run_to_completion(_trainer(isbi_crops, isbi_strokes, max_steps=3).run(), events.append)
    assert not any(isinstance(e, ModelSnapshot) for e in events)


@pytest.mark.parametrize("every", [0.0, -1.0])
def test_snapshot_interval_must_be_positive(every):
    with pytest.raises(ValueError, match="snapshot_every"):
        TrainingConfig(max_steps=1, snapshot_every=every)
