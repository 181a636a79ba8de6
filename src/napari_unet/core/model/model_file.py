"""One self-contained model file: weights plus everything needed to predict.

Layout (a PyTorch zip archive read with ``torch.load(weights_only=True)``, so loading
never runs code from the file: only tensors, numbers, strings, lists and dicts):

    {"format": "napari-unet", "format_version": 1,
     "metadata": "<JSON: unet config, classes, normalization, summary>",
     "state_dict": {name: tensor}}

Writes are atomic: the file is written next to its destination under a temporary name,
flushed to disk, then renamed over the destination (:mod:`.atomic_write`).
:func:`save_model_or_rescue` keeps the model in a rescue folder when the disk refuses.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelFileError
from ..io.atomic_write import atomic_write
from ..io.image_files import unreadable_message
from .archive_checks import check_archive, load_json
from .bioimageio_package import load_package
from .checks import DAMAGE, damaged_message, trained_model_from
from .trained_model import TrainedModel

FORMAT = "napari-unet"
FORMAT_VERSION = 1
SUFFIX = ".pt"
RESCUE_ENV = "NAPARI_UNET_RESCUE_DIR"


def model_metadata(model: TrainedModel) -> dict[str, Any]:
    return {
        "unet": model.config.to_dict(),
        "classes": model.classes.to_dict(),
        "normalization": model.normalization.to_dict(),
        "summary": model.summary,
        "torch_version": torch.__version__,
    }


def save_model(model: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (see :mod:`.atomic_write`); returns the path."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": json.dumps(model_metadata(model)),
        "state_dict": model.state_on_cpu(),
    }
    buffer = io.BytesIO()  # serialized in memory first: torch's zip writer reports a full
    torch.save(payload, buffer)  # disk as RuntimeError("unexpected pos"), a write as OSError
    return atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def rescue_folders() -> list[Path]:
    """Where :func:`save_model_or_rescue` keeps a model it could not write where asked:
    ``$NAPARI_UNET_RESCUE_DIR``, then the user cache, then the system temporary folder."""
    folders = []
    if os.environ.get(RESCUE_ENV):
        folders.append(Path(os.environ[RESCUE_ENV]))
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    folders += [Path(cache) / "napari-unet" / "rescued", Path(tempfile.gettempdir())]
    return folders


@dataclass(frozen=True)
class SaveOutcome:
    """Where a model went: ``path`` is the requested file if ``error`` is None, else a
    rescue copy (``error`` is why the requested file could not be written, and that file
    is unchanged)."""

    path: Path
    error: OSError | None = None


def save_model_or_rescue(model: TrainedModel, path: str | os.PathLike) -> SaveOutcome:
    """Save ``model`` to ``path``; if the disk refuses (full, read-only, permissions), save
    it into the first :func:`rescue_folders` that works instead. Raises the original
    ``OSError`` only if no folder at all can take the model."""
    path = Path(path)
    try:
        return SaveOutcome(save_model(model, path))
    except OSError as err:
        first = err
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in rescue_folders():
        target = folder / f"{path.stem}-rescued-{stamp}-{os.getpid()}{path.suffix or SUFFIX}"
        try:
            return SaveOutcome(save_model(model, target), first)
        except OSError:
            continue
    raise first


def is_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a napari-unet model file (read safely, weights memory-mapped)."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        check_archive(path, str(path))
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - anything unreadable is not a model file
        return False
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def load_model(path: str | os.PathLike, expected_channels: int | None = None) -> TrainedModel:
    """Read a model file safely; raise :class:`ModelFileError` with a clear message.

    Loading never runs code from the file (``weights_only=True``); the metadata is checked
    against the tensors actually stored before any network is built, so a small file
    cannot claim a huge network; weights holding NaN or infinity are refused (see
    :mod:`.checks`). A ``.zip`` is a bioimage.io package, read by
    :mod:`.bioimageio_package` (only those napari-unet made).
    """
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return load_package(path, expected_channels)
    payload = _read_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a napari-unet model file.")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version}; this napari-unet reads version "
            f"{FORMAT_VERSION}. Update napari-unet or retrain the model."
        )
    try:
        meta = load_json(payload["metadata"], "its metadata")
        state = payload["state_dict"]
    except ModelFileError as err:
        raise ModelFileError(f"{path} is damaged: {err}") from None
    except DAMAGE as err:
        raise ModelFileError(damaged_message(path, err)) from None
    return trained_model_from(path, meta, state, expected_channels)


def _read_payload(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with messages that say what is wrong and never
    suggest loading untrusted files unsafely."""
    message = unreadable_message(path, "Model file")
    if message is not None:
        raise ModelFileError(message)
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a napari-unet model file (not a PyTorch archive); "
            "it may be corrupt or truncated."
        )
    check_archive(path, str(path))  # every member's claimed size, before inflating any
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{path} holds Python objects other than weights. napari-unet never runs code from "
            "a model file, so it refuses to load it; use a model saved by napari-unet."
        ) from None
    except MemoryError:
        raise ModelFileError(f"{path} does not fit in memory.") from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        AttributeError,
        TypeError,
        KeyError,
        IndexError,
        RecursionError,
    ) as err:
        raise ModelFileError(
            f"{path} is corrupt or truncated and cannot be loaded ({type(err).__name__})."
        ) from None
