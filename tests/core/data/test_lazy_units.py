"""Training on lazily opened stacks reads only what it samples: the painted pixels are
found chunk by chunk of the labels (never the whole label stack at once), the image is
read at the sampled windows (and the few planes of the intensity statistics), and the
patches equal those of the NumPy path for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import (
    LabelSource,
    SourceKind,
    Trainer,
    TrainingConfig,
    UNetConfig,
    merge_label_sources,
    run_to_completion,
)
from napari_unet.core.data.images import Normalization
from napari_unet.core.data.labels import TargetEncoder, class_info_from_labels
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.training.training_data import (
    PatchSampler,
    build_training_data,
    validation_windows,
)
from tests.conftest import isbi_slice

SLICES, SIZE, PAINTED = 200, 128, (37, 150)
PATCH = (64, 64)


class CountingArray:
    """A chunked on-disk-like array (as a zarr array is): ``__getitem__`` reads a region,
    ``__array__`` reads everything. Counts the elements read and the largest single read,
    and records whether the whole array was ever materialized."""

    def __init__(self, data: np.ndarray, chunks: tuple[int, ...]) -> None:
        self._data = data
        self.shape, self.dtype, self.ndim, self.chunks = data.shape, data.dtype, data.ndim, chunks
        self.elements_read = 0
        self.largest_read = 0
        self.materialized = False

    def __getitem__(self, key):
        part = np.array(self._data[key])
        self.elements_read += part.size
        self.largest_read = max(self.largest_read, part.size)
        return part

    def __array__(self, dtype=None, copy=None):
        self.materialized = True
        self.elements_read += self._data.size
        return self._data if dtype is None else self._data.astype(dtype)


@pytest.fixture(scope="module")
def stack():
    """200 real ISBI slices (3 crops cycled, shifted) with strokes on 2 slices only."""
    crops = [isbi_slice(i, crop=SIZE) for i in range(3)]
    image = np.stack([np.roll(crops[i % 3][0], i, axis=1) for i in range(SLICES)])
    strokes = np.zeros(image.shape, np.uint8)
    for n, z in enumerate(PAINTED):
        classes = np.roll(crops[z % 3][1], z, axis=1)
        strokes[z] = simulate_strokes(
            classes, strokes_per_class=5, stroke_length=40, max_fraction=0.03, seed=n
        )
    return image, strokes


def _counting(image, strokes):
    chunks = (1, SIZE // 2, SIZE // 2)
    return CountingArray(image, chunks), CountingArray(strokes, chunks)


def _data(image, labels, seed=0, spatial_dims=2, patch=PATCH):
    classes = class_info_from_labels([labels], dense=False)
    return build_training_data(
        [image],
        [labels],
        TargetEncoder(classes),
        Normalization(),
        spatial_dims,
        patch,
        1,
        0.2,
        np.random.default_rng(seed),
    )


def _train(image, labels):
    trainer = Trainer(
        [image],
        [labels],
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None,
            max_steps=3,
            seed=0,
            device="cpu",
            batch_size=4,
            patch_size=PATCH,
            validate_every_steps=3,
        ),
    )
    return trainer, run_to_completion(trainer.run())


def test_training_a_few_steps_on_a_lazy_stack_never_reads_it_whole(stack):
    image, labels = _counting(*stack)
    trainer, result = _train(image, labels)
    _, eager = _train(*stack)  # the same training in memory: the same model and summary
    for name, weights in eager.model.network.state_dict().items():
        torch.testing.assert_close(result.model.network.state_dict()[name], weights, rtol=0, atol=0)
    assert result.model.summary == eager.model.summary | {
        "rounds": result.model.summary["rounds"]
    }  # all but the timings
    assert result.steps == 3 and len(trainer.data.units) == len(PAINTED)
    assert not image.materialized and not labels.materialized
    chunk = int(np.prod(labels.chunks))
    assert labels.largest_read <= chunk  # painted pixels found chunk by chunk
    # the image is read at the statistics' planes and the sampled windows only
    assert image.largest_read <= chunk and image.elements_read < 0.15 * image._data.size


def test_lazy_patches_and_validation_windows_equal_the_numpy_ones(stack):
    image, strokes = stack
    lazy, eager = _data(*_counting(image, strokes)), _data(image, strokes)
    assert [u.shape for u in lazy.units] == [u.shape for u in eager.units]
    np.testing.assert_array_equal(lazy.class_pixels, eager.class_pixels)
    assert lazy.validation_pixels == eager.validation_pixels > 0
    for context in (None, (1.5, 1.5)):  # plain patches, and larger windows mirrored at edges
        samplers = [PatchSampler(d, np.random.default_rng(1), context) for d in (lazy, eager)]
        for _ in range(3):
            (x_lazy, y_lazy), (x_eager, y_eager) = (s.sample(4) for s in samplers)
            np.testing.assert_array_equal(x_lazy, x_eager)
            np.testing.assert_array_equal(y_lazy, y_eager)
    for (xl, yl), (xe, ye) in zip(validation_windows(lazy), validation_windows(eager), strict=True):
        np.testing.assert_array_equal(xl, xe)
        np.testing.assert_array_equal(yl, ye)


def test_a_3d_volume_is_sampled_lazily_with_the_numpy_patches():
    crops = [isbi_slice(i, crop=256) for i in range(3)]
    image = np.stack([np.roll(crops[z % 3][0], z, axis=0) for z in range(64)])
    strokes = np.zeros(image.shape, np.uint8)
    for z in (20, 40):
        strokes[z] = simulate_strokes(
            np.roll(crops[z % 3][1], z, axis=0),
            strokes_per_class=4,
            stroke_length=30,
            max_fraction=0.03,
            seed=z,
        )
    counting_image, counting_labels = (
        CountingArray(image, (1, 64, 64)),
        CountingArray(strokes, (1, 64, 64)),
    )
    lazy = _data(counting_image, counting_labels, spatial_dims=3, patch=(8, 64, 64))
    eager = _data(image, strokes, spatial_dims=3, patch=(8, 64, 64))
    samplers = [PatchSampler(d, np.random.default_rng(2)) for d in (lazy, eager)]
    (x_lazy, y_lazy), (x_eager, y_eager) = (s.sample(4) for s in samplers)
    np.testing.assert_array_equal(x_lazy, x_eager)
    np.testing.assert_array_equal(y_lazy, y_eager)
    assert not counting_image.materialized and not counting_labels.materialized
    # the volume is one unit: read at the statistics' 8 planes and the sampled windows only
    assert counting_image.elements_read < 0.5 * image.size
    assert counting_labels.largest_read <= 64 * 64


def test_retraining_from_a_zarr_backed_segmentation_merges_and_trains_lazily(stack):
    """Retrain after a lazy Segment: the whole-layer segmentation (on disk) and the strokes
    merge into a lazy array, equal to the NumPy merge, and training reads it by chunk."""
    image, strokes = (a[:40] for a in stack)
    segmentation = np.where(image > image.mean(), 2, 1).astype(np.uint8)
    segmentation[:, :, : SIZE // 2] = 0  # unlabelled half: the strokes count there
    on_disk = CountingArray(segmentation, (1, SIZE // 2, SIZE // 2))
    sources = [
        LabelSource("strokes", strokes, SourceKind.STROKES),
        LabelSource("segmentation", on_disk, SourceKind.SEED),
    ]
    merged = merge_label_sources(sources)
    eager = merge_label_sources(
        [
            LabelSource("strokes", strokes, SourceKind.STROKES),
            LabelSource("segmentation", segmentation, SourceKind.SEED),
        ]
    )
    assert not isinstance(merged, np.ndarray) and not on_disk.materialized
    np.testing.assert_array_equal(merged.compute(), eager)
    counting_image = CountingArray(image, on_disk.chunks)
    trainer = Trainer(
        [counting_image],
        [merged],
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None,
            max_steps=1,
            seed=0,
            device="cpu",
            batch_size=2,
            patch_size=PATCH,
            validation_fraction=0.0,
        ),
    )
    assert run_to_completion(trainer.run()).steps == 1
    assert not on_disk.materialized and not counting_image.materialized
    assert on_disk.largest_read <= int(np.prod(on_disk.chunks))
