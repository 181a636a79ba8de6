"""Checks shared by model files (:mod:`.model_file`) and bioimage.io packages
(:mod:`.bioimageio_package`): the network their metadata describes is rebuilt only after
the metadata is checked against the tensors actually stored, so a small file cannot claim
a huge network, and weights holding NaN or infinity are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..data.images import Normalization
from ..data.labels import MAX_CLASSES, ClassInfo
from ..errors import ModelFileError
from .package_schema import checked_summary
from .trained_model import TrainedModel
from .unet import UNet, UNetConfig

MAX_IN_CHANNELS = 64
MAX_BASE_CHANNELS = 1024
# what a damaged file or package raises while its metadata is read and its network built
DAMAGE = (
    KeyError,
    TypeError,
    ValueError,
    RuntimeError,
    AttributeError,
    OverflowError,
    IndexError,
    RecursionError,
)


def damaged_message(path: Path, err: BaseException) -> str:
    """ "``path`` is damaged or incomplete: <error type>: <its first line>"."""
    return (
        f"{path} is damaged or incomplete: "
        f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    )


def trained_model_from(
    path: Path, meta: Any, state: Any, expected_channels: int | None
) -> TrainedModel:
    """The :class:`TrainedModel` that metadata ``meta`` (``unet``, ``classes``,
    ``normalization`` and ``summary`` sections) and weights ``state`` describe, in eval
    mode; :class:`ModelFileError` naming ``path`` when they are damaged, disagree, hold
    NaN or infinity, or the model is not for ``expected_channels`` channels."""
    try:
        for key in ("unet", "classes", "normalization"):
            if not isinstance(meta, dict) or not isinstance(meta.get(key), dict):
                raise ModelFileError(f"its metadata has no valid {key!r} section.")
        config = UNetConfig.from_dict(meta["unet"])
        classes = ClassInfo.from_dict(meta["classes"])
        normalization = Normalization(**meta["normalization"])
        summary = checked_summary(meta.get("summary", {}), "its metadata.summary")
        check_state_matches(config, state)
        network = UNet(config)
        network.load_state_dict(state)
    except ModelFileError as err:
        raise ModelFileError(f"{path} is damaged: {err}") from None
    except DAMAGE as err:
        raise ModelFileError(damaged_message(path, err)) from None
    if classes.num_classes != config.num_classes:
        raise ModelFileError(
            f"{path} is inconsistent: {classes.num_classes} class names for "
            f"{config.num_classes} outputs."
        )
    check_finite_weights(path, state)
    if expected_channels is not None and config.in_channels != expected_channels:
        raise ModelFileError(
            f"{path} is a model for {config.in_channels}-channel images, but the image has "
            f"{expected_channels} channel(s). Pick another model or train one for this image."
        )
    network.eval()
    return TrainedModel(network, classes, normalization, summary)


def check_state_matches(config: UNetConfig, state: Any) -> None:
    """The metadata's network must have exactly the stored tensors' names and shapes.

    The expected shapes come from a network built on PyTorch's ``meta`` device (no
    memory is allocated), after capping the sizes the metadata may claim.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError("its weights are not a dictionary of tensors.")
    limits = {
        "in_channels": MAX_IN_CHANNELS,
        "num_classes": MAX_CLASSES,
        "base_channels": MAX_BASE_CHANNELS,
    }
    for name, limit in limits.items():
        if getattr(config, name) > limit:
            raise ModelFileError(
                f"its metadata claims {name}={getattr(config, name)} "
                f"(at most {limit} is supported)."
            )
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in UNet(config).state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    if expected.keys() != stored.keys():
        missing = sorted(expected.keys() - stored.keys())
        raise ModelFileError(
            f"its weights do not match its metadata "
            f"({len(missing)} tensor(s) missing, e.g. {missing[:1]})."
        )
    wrong = [k for k in expected if expected[k] != stored[k]]
    if wrong:
        raise ModelFileError(
            f"its weights do not match its metadata ({wrong[0]} has shape "
            f"{stored[wrong[0]]}, the metadata implies {expected[wrong[0]]})."
        )


def check_finite_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"{path} holds NaN or infinite weights ({name}): the training that wrote it "
                "diverged or the file is damaged, and it would predict one class everywhere. "
                "Retrain the model."
            )
