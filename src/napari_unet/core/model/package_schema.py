"""The types of napari-unet's metadata in a model file or package, checked before use.

:func:`check_marker` checks the JSON marker of a bioimage.io package (see
:mod:`.bioimageio_package`): its ``weights`` must name a member, its ``metadata`` sections
must be objects. :func:`checked_summary` checks a training summary (both model files and
packages carry one): an object whose ``rounds`` is a list of objects with numbers where
numbers are read. A field of the wrong type is one :class:`ModelFileError` naming it,
never a TypeError later on.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelFileError

SECTIONS = ("unet", "classes", "normalization")
ROUND_NUMBERS = ("round", "steps", "seconds", "painted_pixels", "validation_dice")


def _kind(value: Any) -> str:
    from ..io.ome_metadata import json_type

    return json_type(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_marker(marker: Any, names: set[str], where: str) -> None:
    """Refuse a package marker whose fields have the wrong types (``names``: the
    archive's member names; ``where``: "PKG.zip: napari_unet.json")."""
    if not isinstance(marker, dict):
        raise ModelFileError(f"{where} is {_kind(marker)}, not an object.")
    weights = marker.get("weights")
    if not isinstance(weights, str):
        raise ModelFileError(
            f"{where}: 'weights' is {_kind(weights)}, not the name of the "
            "weights file in the package."
        )
    if weights not in names:
        raise ModelFileError(f"{where}: the weights file {weights!r} is not in the package.")
    meta = marker.get("metadata")
    if not isinstance(meta, dict):
        raise ModelFileError(f"{where}: 'metadata' is {_kind(meta)}, not an object.")
    for key in SECTIONS:
        if not isinstance(meta.get(key), dict):
            raise ModelFileError(
                f"{where}: metadata.{key} is {_kind(meta.get(key))}, not an object."
            )
    checked_summary(meta.get("summary", {}), f"{where}: metadata.summary")


def checked_summary(summary: Any, where: str) -> dict[str, Any]:
    """A copy of a training ``summary`` whose types were checked (see the module docstring)."""
    if summary is None:
        return {}
    if not isinstance(summary, dict):
        raise ModelFileError(f"{where} is {_kind(summary)}, not an object.")
    rounds = summary.get("rounds", [])
    if not isinstance(rounds, list):
        raise ModelFileError(f"{where}.rounds is {_kind(rounds)}, not a list.")
    for i, round_ in enumerate(rounds):
        if not isinstance(round_, dict):
            raise ModelFileError(f"{where}.rounds[{i}] is {_kind(round_)}, not an object.")
        for key in ROUND_NUMBERS:
            if round_.get(key) is not None and not _number(round_[key]):
                raise ModelFileError(
                    f"{where}.rounds[{i}].{key} is {_kind(round_[key])}, not a number."
                )
        pixels = round_.get("validation_pixels")
        if pixels is not None and not (
            isinstance(pixels, list) and all(_number(n) for n in pixels)
        ):
            raise ModelFileError(f"{where}.rounds[{i}].validation_pixels is not a list of numbers.")
    return dict(summary)
