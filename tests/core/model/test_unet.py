import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_unet.core import PRESETS, UNet, UNetConfig, count_parameters


def test_classic_configuration_has_31_million_parameters():
    net = UNet(UNetConfig(in_channels=1, num_classes=2, depth=4, base_channels=64))
    assert count_parameters(net) == pytest.approx(31.0e6, rel=0.01)


def test_presets_build_and_default_is_fast():
    for name, preset in PRESETS.items():
        assert count_parameters(UNet(**preset)) > 0, name
    assert count_parameters(UNet()) < count_parameters(UNet(**PRESETS["classic"])) / 10


@pytest.mark.parametrize(
    "variant",
    [
        {"up_mode": "interpolate"},
        {"separable": True},
        {"norm": "group"},
        {"norm": "instance"},
        {"norm": "none"},
        {"dropout": 0.2},
    ],
)
def test_variants_keep_the_input_size(variant):
    net = UNet(UNetConfig(**variant)).eval()
    assert net(torch.rand(2, 1, 37, 51)).shape == (2, 2, 37, 51)


def test_separable_convolutions_use_fewer_parameters():
    assert count_parameters(UNet(separable=True)) < count_parameters(UNet()) / 2


@settings(max_examples=15, deadline=None)
@given(y=st.integers(1, 70), x=st.integers(1, 70), depth=st.integers(1, 4))
def test_any_2d_size_works(y, x, depth):
    net = UNet(UNetConfig(depth=depth, base_channels=4)).eval()
    with torch.inference_mode():
        assert net(torch.rand(1, 1, y, x)).shape == (1, 2, y, x)


@settings(max_examples=8, deadline=None)
@given(z=st.integers(1, 12), y=st.integers(1, 20), x=st.integers(1, 20))
def test_any_3d_size_works(z, y, x):
    net = UNet(UNetConfig(spatial_dims=3, depth=2, base_channels=4, num_classes=3)).eval()
    with torch.inference_mode():
        assert net(torch.rand(1, 1, z, y, x)).shape == (1, 3, z, y, x)


def test_multichannel_input():
    net = UNet(UNetConfig(in_channels=3, num_classes=4)).eval()
    assert net(torch.rand(1, 3, 40, 40)).shape == (1, 4, 40, 40)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"num_classes": 1}, "num_classes"),
        ({"depth": 0}, "depth"),
        ({"norm": "layer"}, "norm"),
        ({"up_mode": "pixelshuffle"}, "up_mode"),
        ({"dropout": 1.5}, "dropout"),
        ({"in_channels": 0}, "in_channels"),
    ],
)
def test_impossible_configurations_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        UNetConfig(**bad)


def test_wrong_input_shape_is_named():
    with pytest.raises(ValueError, match=r"Expected input of shape \(B, 1"):
        UNet()(torch.rand(1, 3, 16, 16))
