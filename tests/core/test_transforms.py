"""Natural perturbations (core/transforms.py): neutral = identity, units, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_unet.core import transforms as T


def _random(shape, seed=0, dtype=torch.float32):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


NEUTRAL = [
    ("rotate", lambda x: T.rotate(x, 0.0)),
    ("zoom", lambda x: T.zoom(x, 1.0)),
    ("blur", lambda x: T.gaussian_blur(x, 0.0)),
    ("noise", lambda x: T.gaussian_noise(x, 0.0)),
    ("poisson", lambda x: T.poisson_noise(x, math.inf)),
    ("gamma", lambda x: T.gamma(x, 1.0)),
    ("low_resolution", lambda x: T.downsample_upsample(x, 1.0)),
    ("warp_identity", lambda x: T.warp(x, T.affine_grid_for(x.shape, 0.0, 1.0))),
]


@pytest.mark.parametrize("shape", [(2, 1, 23, 30), (1, 2, 5, 12, 9)])
@pytest.mark.parametrize("name,fn", NEUTRAL, ids=[n for n, _ in NEUTRAL])
def test_neutral_strength_returns_the_input_exactly(name, fn, shape):
    x = _random(shape) * 3 - 1  # values outside [0, 1] too
    assert torch.equal(fn(x), x)


def test_per_sample_strengths_leave_neutral_samples_exact_and_change_the_others():
    x = _random((3, 1, 20, 20))
    outs = [
        T.rotate(x, torch.tensor([0.0, 20.0, 0.0])),
        T.zoom(x, torch.tensor([1.0, 1.3, 1.0])),
        T.gaussian_blur(x, torch.tensor([0.0, 1.0, 0.0])),
        T.gaussian_noise(x, torch.tensor([0.0, 0.1, 0.0])),
        T.gamma(x, torch.tensor([1.0, 2.0, 1.0])),
        T.downsample_upsample(x, torch.tensor([1.0, 2.0, 1.0])),
    ]
    for out in outs:
        assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
        assert (out[1] - x[1]).abs().max() > 0.01


def test_rotate_90_degrees_turns_a_horizontal_line_vertical_counter_clockwise():
    x = torch.zeros(1, 1, 31, 31)
    x[0, 0, 15, 15:26] = 1  # from the centre to the right
    out = T.rotate(x, 90.0, mode="nearest", padding="zeros")[0, 0]
    rows, cols = np.nonzero(out.numpy() > 0.5)
    assert set(cols.tolist()) == {15}
    assert sorted(rows.tolist()) == list(range(5, 16))  # now from the centre upwards


def test_rotate_a_volume_turns_every_z_plane_the_same_way_and_keeps_z():
    plane = torch.zeros(31, 31)
    plane[15, 15:26] = 1
    vol = torch.stack([plane, 2 * plane, 3 * plane]).view(1, 1, 3, 31, 31)
    out = T.rotate(vol, 90.0, mode="nearest", padding="zeros")
    ref = T.rotate(plane.view(1, 1, 31, 31), 90.0, mode="nearest", padding="zeros")[0, 0]
    for z in range(3):
        assert torch.equal(out[0, 0, z], (z + 1) * ref)


def test_rotate_by_any_angle_matches_scipy_rotate():
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    x[0, 0, 12:30, 18:24] = 1
    out = T.rotate(x, 30.0, padding="zeros")[0, 0].numpy()
    ref = ndimage.rotate(x[0, 0].numpy(), 30.0, reshape=False, order=1, mode="constant")
    assert np.abs(out - ref).max() < 1e-6


def test_zoom_2_doubles_the_side_of_a_centred_square():
    x = torch.zeros(1, 1, 64, 64)
    x[0, 0, 27:37, 27:37] = 1  # 10 x 10 about the centre 31.5
    out = T.zoom(x, 2.0, mode="nearest", padding="zeros")[0, 0].numpy() > 0.5
    assert out.any(1).sum() == 20 and out.any(0).sum() == 20
    half = T.zoom(x, 0.5, mode="nearest", padding="zeros")[0, 0].numpy() > 0.5
    assert half.any(1).sum() == 5


def test_images_and_labels_share_one_grid():
    labels = torch.randint(0, 3, (2, 1, 32, 40), generator=torch.Generator().manual_seed(1))
    grid = T.affine_grid_for(labels.shape, torch.tensor([12.0, -25.0]), torch.tensor([0.9, 1.2]))
    warped = T.warp(labels, grid, mode="nearest", padding="zeros")
    as_image = T.warp(labels.float(), grid, mode="nearest", padding="zeros")
    assert warped.dtype == labels.dtype
    assert torch.equal(warped.float(), as_image)
    assert set(warped.unique().tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("sigma", [0.7, 2.0, 25.0])
def test_blur_matches_scipy_gaussian_filter(sigma):
    x = _random((2, 1, 40, 50), dtype=torch.float64)
    out = T.gaussian_blur(x, sigma)
    for i in range(2):
        ref = ndimage.gaussian_filter(x[i, 0].numpy(), sigma, mode="reflect", truncate=4.0)
        assert np.abs(out[i, 0].numpy() - ref).max() < 1e-10


def test_blur_of_a_volume_blurs_each_plane_in_y_and_x_only():
    x = _random((1, 1, 4, 20, 24), dtype=torch.float64)
    out = T.gaussian_blur(x, 1.5)[0, 0].numpy()
    ref = ndimage.gaussian_filter(x[0, 0].numpy(), (0, 1.5, 1.5))
    assert np.abs(out - ref).max() < 1e-10


def test_gaussian_noise_has_standard_deviation_sigma_and_follows_the_generator():
    x = torch.full((2, 1, 256, 256), 0.3)
    sigma = torch.tensor([0.05, 0.2])
    out = T.gaussian_noise(x, sigma, torch.Generator().manual_seed(0))
    std = (out - x).flatten(1).std(1)
    assert torch.allclose(std, sigma, rtol=0.02)
    again = T.gaussian_noise(x, sigma, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_poisson_noise_variance_is_intensity_over_peak():
    x = torch.full((1, 1, 200, 200), 0.5)
    out = T.poisson_noise(x, 50.0, torch.Generator().manual_seed(0))
    assert abs(float((out - x).var()) - 0.5 / 50.0) < 0.001
    assert abs(float((out - x).mean())) < 0.002


def test_gamma_powers_intensities_inside_0_1_and_keeps_the_tails():
    x = torch.tensor([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5]).view(1, 1, 1, 6)
    out = T.gamma(x, 2.0).flatten().tolist()
    assert out == pytest.approx([-0.5, 0.0, 0.0625, 0.25, 1.0, 1.5])
    assert T.gamma(x, 0.5).flatten()[3] == pytest.approx(math.sqrt(0.5))


def test_downsample_upsample_by_2_removes_a_one_pixel_checkerboard():
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    board = ((yy + xx) % 2).float().view(1, 1, 32, 32)
    out = T.downsample_upsample(board, 2.0)
    assert torch.allclose(out, torch.full_like(board, 0.5))
    assert out.shape == board.shape


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: T.rotate(x, 17.0),
        lambda x: T.zoom(x, 0.8),
        lambda x: T.gaussian_blur(x, 1.2),
        lambda x: T.gaussian_noise(x, 0.1),
        lambda x: T.poisson_noise(x, 30.0),
        lambda x: T.gamma(x, 0.7),
        lambda x: T.downsample_upsample(x, 2.5),
    ],
    ids=["rotate", "zoom", "blur", "noise", "poisson", "gamma", "low_resolution"],
)
def test_gradients_flow_to_the_image(fn):
    x = (_random((2, 1, 16, 16)) * 1.2 - 0.1).requires_grad_(True)
    fn(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: T.zoom(x, 0.0), "zoom factor"),
        (lambda x: T.rotate(x, float("nan")), "NaN"),
        (lambda x: T.gaussian_blur(x, -1.0), "sigma"),
        (lambda x: T.gaussian_noise(x, -0.1), "sigma"),
        (lambda x: T.gamma(x, 0.0), "gamma"),
        (lambda x: T.downsample_upsample(x, 0.5), "factor"),
        (lambda x: T.poisson_noise(x, 0.0), "peak"),
        (lambda x: T.rotate(x, torch.tensor([1.0, 2.0, 3.0])), "shape"),
    ],
)
def test_bad_strengths_raise_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.zeros(2, 1, 8, 8))
