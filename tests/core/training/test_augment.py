"""Labels stay aligned with the image under every augmentation (real ISBI data).

The label map is carried through the warp twice: as the targets (nearest neighbour,
the training path) and as a second *image* channel (bilinear). Wherever the bilinear
copy is a whole number (inside a region, away from class edges) both must agree.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_unet.core.data.images import Normalization
from napari_unet.core.data.labels import IGNORE, TargetEncoder, class_info_from_labels
from napari_unet.core.training.augment import (
    LEGACY_AUGMENT,
    AugmentConfig,
    augment_batch,
    context_factor,
)
from napari_unet.core.training.training_data import PatchSampler, build_training_data
from tests.conftest import isbi_slice

GEOMETRY_ONLY = replace(
    AugmentConfig(),
    intensity_scale=0.0,
    intensity_shift=0.0,
    gamma=0.0,
    blur=0.0,
    low_resolution=0.0,
    noise=0.0,
)
PATCH = (64, 64)


def _batch(cfg: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Four ISBI windows, large enough for ``cfg``'s warps: x (4, 2, W, W) with the
    label map as channel 1; y (4, W, W) class indices 0/1 with an ignored square."""
    w = math.ceil(PATCH[0] * context_factor(cfg))
    image, classes = isbi_slice(0)
    xs, ys = [], []
    for k in range(4):
        im = image[40 * k : 40 * k + w, 50 * k : 50 * k + w].astype(np.float32) / 255
        target = classes[40 * k : 40 * k + w, 50 * k : 50 * k + w].astype(np.int64) - 1
        target[w // 2 - 5 : w // 2 + 5, w // 2 - 5 : w // 2 + 5] = IGNORE
        xs.append(np.stack([im, target.astype(np.float32)]))
        ys.append(target)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _agreement(x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    """Fraction of checkable pixels where the bilinear label copy equals the targets."""
    carried = x[:, 1]
    whole = (carried - carried.round()).abs() < 1e-3
    checked = whole & (y != IGNORE) & (carried.round() != IGNORE)
    return float((carried.round()[checked] == y[checked]).float().mean()), int(checked.sum())


@pytest.mark.parametrize(
    "name, cfg",
    [
        ("zoom", replace(GEOMETRY_ONLY, rotate=False, flips=False)),
        ("rotation", replace(GEOMETRY_ONLY, zoom=(1.0, 1.0), flips=False)),
        ("flips", replace(GEOMETRY_ONLY, zoom=(1.0, 1.0), rotate=False)),
        ("zoom, rotation and flips", GEOMETRY_ONLY),
        (
            "legacy flips and 90-degree turns",
            replace(LEGACY_AUGMENT, intensity_scale=0.0, intensity_shift=0.0),
        ),
    ],
)
def test_targets_follow_the_image_under_each_geometric_augmentation(name, cfg):
    x, y = _batch(cfg)
    for seed in range(3):
        xa, ya = augment_batch(x, y, cfg, torch.Generator().manual_seed(seed), PATCH)
        assert xa.shape == (4, 2) + PATCH and ya.shape == (4,) + PATCH
        agreement, checked = _agreement(xa, ya)
        assert checked > 0.5 * ya.numel(), name
        assert agreement > 0.999, (name, agreement)
        # the augmentation did move the data (else the check above proves nothing)
        assert name.startswith(("flips", "legacy")) or not torch.equal(
            ya,
            y[
                (slice(None),)
                + tuple(slice((w - p) // 2, (w - p) // 2 + p) for w, p in zip(y.shape[1:], PATCH))
            ],
        )


def test_a_misaligned_label_map_is_detected():
    """The check above fails when the targets are warped differently from the image."""
    x, y = _batch(GEOMETRY_ONLY)
    xa, _ = augment_batch(x, y, GEOMETRY_ONLY, torch.Generator().manual_seed(0), PATCH)
    _, ya = augment_batch(x, y, GEOMETRY_ONLY, torch.Generator().manual_seed(1), PATCH)
    assert _agreement(xa, ya)[0] < 0.95


@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", 0.5),
        ("intensity_scale", 0.3),
        ("blur", 1.5),
        ("low_resolution", 2.0),
        ("noise", 0.15),
    ],
)
def test_intensity_augmentations_change_the_image_and_leave_targets_alone(field, value):
    off = replace(GEOMETRY_ONLY, zoom=(1.0, 1.0), rotate=False, flips=False)
    cfg = replace(off, **{field: value})
    x, y = _batch(off)
    x = x.repeat(4, 1, 1, 1)  # 16 patches: each intensity change hits some of them
    y = y.repeat(4, 1, 1)
    xa, ya = augment_batch(x, y, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(ya, y)
    assert not torch.allclose(xa[:, 0], x[:, 0], atol=1e-3), field
    assert torch.isfinite(xa).all()


def test_sampler_windows_keep_the_painted_pixel_in_the_central_patch():
    image, classes = isbi_slice(1, crop=160)
    strokes = np.zeros_like(classes)
    strokes[80, 80] = classes[80, 80]
    strokes[10, 150] = 3 - classes[80, 80]
    info = class_info_from_labels([strokes], dense=False)
    data = build_training_data(
        [image],
        [strokes],
        TargetEncoder(info),
        Normalization(),
        2,
        PATCH,
        1,
        0.0,
        np.random.default_rng(0),
    )
    sampler = PatchSampler(data, np.random.default_rng(0), (2.0, 2.0))
    x, y = sampler.sample(16)
    assert x.shape == (16, 1, 128, 128) and y.shape == (16, 128, 128)
    for target in y:
        painted = np.argwhere(target != IGNORE)
        assert len(painted) == 1
        assert (np.abs(painted[0] - 64) <= PATCH[0] // 4).all()
