"""One self-contained model file: weights plus everything needed to predict.

Layout (a PyTorch zip archive read with ``torch.load(weights_only=True)``, so loading
never runs code from the file: only tensors, numbers, strings, lists and dicts):

    {"format": "napari-unet", "format_version": 1,
     "metadata": "<JSON: unet config, classes, normalization, summary>",
     "state_dict": {name: tensor}}

Writes are atomic: the file is written next to its destination under a temporary name,
flushed to disk, then renamed over the destination.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import ModelFileError
from .images import Normalization
from .labels import ClassInfo
from .model import UNet, UNetConfig
from .trained_model import TrainedModel

FORMAT = "napari-unet"
FORMAT_VERSION = 1
SUFFIX = ".pt"


def model_metadata(model: TrainedModel) -> dict[str, Any]:
    return {
        "unet": model.config.to_dict(),
        "classes": model.classes.to_dict(),
        "normalization": model.normalization.to_dict(),
        "summary": model.summary,
        "torch_version": torch.__version__,
    }


def save_model(model: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": json.dumps(model_metadata(model)),
        "state_dict": model.state_on_cpu(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | os.PathLike, expected_channels: int | None = None) -> TrainedModel:
    """Read a model file safely; raise :class:`ModelFileError` with a clear message.

    A ``.zip`` is a bioimage.io package, read by :mod:`.bioimageio_package` (only those
    napari-unet exported).
    """
    path = Path(path)
    if path.suffix.lower() == ".zip":
        from .bioimageio_package import load_package

        return load_package(path, expected_channels)
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a napari-unet model file (not a PyTorch archive); "
                             "it may be corrupt or truncated.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError,
            AttributeError, TypeError) as err:
        raise ModelFileError(
            f"{path} could not be loaded safely: it is corrupt, or it holds objects other than "
            f"weights (which napari-unet never executes). Details: {str(err).splitlines()[0]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a napari-unet model file.")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version}; this napari-unet reads version "
            f"{FORMAT_VERSION}. Update napari-unet or retrain the model."
        )
    try:
        meta = json.loads(payload["metadata"])
        config = UNetConfig.from_dict(meta["unet"])
        classes = ClassInfo.from_dict(meta["classes"])
        normalization = Normalization(**meta["normalization"])
        network = UNet(config)
        network.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{path} is damaged or incomplete: {str(err).splitlines()[0]}") from None
    if classes.num_classes != config.num_classes:
        raise ModelFileError(f"{path} is inconsistent: {classes.num_classes} class names for "
                             f"{config.num_classes} outputs.")
    if expected_channels is not None and config.in_channels != expected_channels:
        raise ModelFileError(
            f"{path} is a model for {config.in_channels}-channel images, but the image has "
            f"{expected_channels} channel(s). Pick another model or train one for this image."
        )
    network.eval()
    return TrainedModel(network, classes, normalization, dict(meta.get("summary", {})))
