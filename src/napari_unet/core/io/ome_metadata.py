"""One validated reader of OME-Zarr (NGFF 0.4 / 0.5) image metadata.

:func:`read_level0` checks, field by field, the ``multiscales`` metadata of a zarr group
(NGFF 0.5 nests it under ``"ome"``, 0.4 does not) and returns the full-resolution level:
the path of its array, its axes and its scale. Every malformed field is one
:class:`UserInputError` naming the file, the field and what the specification needs::

    img.zarr: multiscales[0].datasets[0] has no 'path' (OME-Zarr 0.4/0.5 needs each
    dataset to name its array with a relative 'path')

A dataset path that leaves the group (absolute, ``..``, a link pointing elsewhere) or
names a group or nothing is refused. Older metadata (NGFF 0.1-0.3, axes as plain names,
no axes) is accepted as it was written.

Why not ``ome-zarr-models``: its releases pin pydantic to a narrow range (``<2.13`` for
1.7), which would force a pydantic version on every user of napari-unet (and its
bioimage.io export has pins of its own), and it refuses whole files over fields napari-unet
never reads. This reader checks exactly what is read, with the spec's words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import UserInputError
from .image_claims import check_metadata_files

LEGACY_VERSIONS = ("0.1", "0.2", "0.3")  # axes optional, or a list of names
SPEC = "OME-Zarr 0.4/0.5"
_JSON_TYPES = {
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "true/false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


@dataclass(frozen=True)
class Level0:
    """The full-resolution level of an OME-Zarr image: ``component`` (the path of its
    array in the group), ``array`` (opened, nothing read), ``axes`` (NGFF axis objects,
    or None when the metadata has none) and ``scale`` (or None)."""

    component: str
    array: Any
    axes: list[dict[str, Any]] | None
    scale: list[float] | None


def json_type(value: Any) -> str:
    """``"a string"``, ``"an object"``, ... : how a JSON reader would name ``value``."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


class _Checker:
    """Raises the one-line errors of one file; ``prefix`` is ``"ome."`` for NGFF 0.5."""

    def __init__(self, path: Path, prefix: str = "") -> None:
        self.path, self.prefix = path, prefix

    def fail(self, where: str, problem: str, need: str) -> UserInputError:
        return UserInputError(f"{self.path}: {self.prefix}{where} {problem} ({SPEC} needs {need}).")

    def of_type(self, value: Any, kind: type, where: str, need: str) -> Any:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(where, f"is {json_type(value)}, not {_JSON_TYPES[kind]}", need)
        return value

    def field(self, parent: dict, key: str, kind: type, where: str, need: str) -> Any:
        """``parent[key]``, which must exist and be of ``kind`` (``where``: "" at the top)."""
        if key not in parent:
            raise self.fail(where or "the metadata", f"has no '{key}'", need)
        return self.of_type(parent[key], kind, f"{where}.{key}" if where else key, need)


def ome_attributes(path: Path, attrs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The OME attributes of a group and the prefix of their field names: NGFF 0.5 keeps
    them in an ``"ome"`` object, 0.4 at the top level."""
    if "ome" not in attrs:
        return attrs, ""
    ome = attrs["ome"]
    if not isinstance(ome, dict):
        raise UserInputError(
            f"{path}: attribute 'ome' is {json_type(ome)}, not an object "
            f"({SPEC} keeps the image metadata in an 'ome' object)."
        )
    return ome, "ome."


def has_multiscales(attrs: dict[str, Any]) -> bool:
    """Whether a group's attributes hold OME-Zarr ``multiscales`` (valid or not)."""
    ome = attrs.get("ome")
    return (
        "multiscales" in attrs
        or (isinstance(ome, dict) and "multiscales" in ome)
        or ("ome" in attrs and not isinstance(ome, dict))
    )


def read_level0(group: Any, path: str | Path) -> Level0:
    """The validated full-resolution level of the OME-Zarr image ``group`` at ``path``."""
    path = Path(path)
    ome, prefix = ome_attributes(path, dict(group.attrs))
    check = _Checker(path, prefix)
    multiscales = check.field(
        ome, "multiscales", list, "", "'multiscales', a list of multiscale objects"
    )
    if not multiscales:
        raise check.fail("multiscales", "is an empty list", "at least one multiscale object")
    first = check.of_type(
        multiscales[0],
        dict,
        "multiscales[0]",
        "each multiscale to be an object with 'axes' and 'datasets'",
    )
    version = first.get("version", ome.get("version"))
    legacy = isinstance(version, str) and version in LEGACY_VERSIONS
    axes = _axes(check, first, legacy)
    datasets = check.field(
        first,
        "datasets",
        list,
        "multiscales[0]",
        "'datasets', a list of the resolution levels, full resolution first",
    )
    if not datasets:
        raise check.fail(
            "multiscales[0].datasets",
            "is an empty list",
            "at least one dataset (the full-resolution level)",
        )
    scales = [_dataset(check, d, i, axes) for i, d in enumerate(datasets)]
    _transformations(
        check,
        first.get("coordinateTransformations"),
        "multiscales[0].coordinateTransformations",
        axes,
    )
    component = datasets[0]["path"]
    array = _level_array(check, group, path, component)
    if axes is not None and len(axes) != len(array.shape):
        raise check.fail(
            "multiscales[0].axes",
            f"names {len(axes)} axes but the array "
            f"'{component}' has {len(array.shape)} (shape {tuple(array.shape)})",
            "one axis per array dimension",
        )
    return Level0(component, array, axes, scales[0])


def _axes(check: _Checker, multiscale: dict, legacy: bool) -> list[dict[str, Any]] | None:
    """The validated axes as objects (legacy names become ``{"name": ...}``)."""
    where = "multiscales[0].axes"
    need = "'axes', a list of objects with a 'name' and a 'type'"
    if legacy and "axes" not in multiscale:
        return None
    raw = check.field(multiscale, "axes", list, "multiscales[0]", need)
    axes, names = [], set()
    for i, axis in enumerate(raw):
        if legacy and isinstance(axis, str):
            axis = {"name": axis}
        check.of_type(axis, dict, f"{where}[{i}]", "each axis to be an object with a 'name'")
        name = check.field(axis, "name", str, f"{where}[{i}]", "each axis to have a 'name'")
        if not name or name in names:
            raise check.fail(
                f"{where}[{i}].name",
                f"is {'empty' if not name else 'repeated'} ({name!r})",
                "a distinct name for each axis",
            )
        names.add(name)
        for key in ("type", "unit"):
            if key in axis and axis[key] is not None:
                check.of_type(axis[key], str, f"{where}[{i}].{key}", f"'{key}' to be a string")
        axes.append(dict(axis))
    if not axes:
        raise check.fail(where, "is an empty list", "one axis per array dimension")
    return axes


def _dataset(check: _Checker, dataset: Any, i: int, axes: list | None) -> list[float] | None:
    """Check dataset ``i`` (an object with a safe relative 'path'); returns its scale."""
    where = f"multiscales[0].datasets[{i}]"
    check.of_type(dataset, dict, where, "each dataset to be an object with a 'path'")
    need = "each dataset to name its array with a relative 'path'"
    component = check.field(dataset, "path", str, where, need)
    _safe_component(check, component, f"{where}.path")
    return _transformations(
        check, dataset.get("coordinateTransformations"), f"{where}.coordinateTransformations", axes
    )


def _safe_component(check: _Checker, component: str, where: str) -> None:
    """A path inside the group: relative, no ``..``, no empty or ``.`` parts, no ``\\``."""
    parts = component.split("/")
    if (
        not component
        or component.startswith("/")
        or "\\" in component
        or ":" in component
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise check.fail(
            where,
            f"{component!r} leaves the group or is not a plain path",
            "a relative path inside the image group, such as '0'",
        )


def _transformations(
    check: _Checker, value: Any, where: str, axes: list | None
) -> list[float] | None:
    """Check a ``coordinateTransformations`` list (None: absent); returns its scale."""
    if value is None:
        return None
    check.of_type(value, list, where, "a list of transformation objects")
    scale = None
    for j, entry in enumerate(value):
        at = f"{where}[{j}]"
        check.of_type(entry, dict, at, "each transformation to be an object with a 'type'")
        kind = check.field(entry, "type", str, at, "each transformation to have a 'type'")
        if kind in ("scale", "translation"):
            numbers = _vector(check, entry, kind, at, axes)
            if kind == "scale" and scale is None:
                scale = numbers
    return scale


def _vector(check: _Checker, entry: dict, kind: str, at: str, axes: list | None) -> list[float]:
    """The numbers of a scale (finite, > 0) or translation (finite), one per axis."""
    need = f"'{kind}' to be a list of numbers, one per axis"
    values = check.field(entry, kind, list, at, need)
    if axes is not None and len(values) != len(axes):
        raise check.fail(f"{at}.{kind}", f"has {len(values)} values for {len(axes)} axes", need)
    out = []
    for k, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise check.fail(f"{at}.{kind}[{k}]", f"is {json_type(v)}, not a number", need)
        if not math.isfinite(v) or (kind == "scale" and v <= 0):
            raise check.fail(
                f"{at}.{kind}[{k}]",
                f"is {v!r}",
                "scales that are positive finite numbers"
                if kind == "scale"
                else "finite translations",
            )
        out.append(float(v))
    return out


def _level_array(check: _Checker, group: Any, path: Path, component: str) -> Any:
    """The array at ``component``, which must stay inside the group and be an array."""
    import zarr

    where = "multiscales[0].datasets[0].path"
    root = path.resolve()
    target = (root / PurePosixPath(component)).resolve()
    if target != root and root not in target.parents:
        raise check.fail(
            where,
            f"{component!r} leads outside the group (to {target})",
            "a relative path inside the image group",
        )
    check_metadata_files(target)  # the level's own metadata, before zarr parses it
    try:
        node = group[component]
    except KeyError:
        raise check.fail(
            where, f"{component!r} names nothing in the group", "the path of an existing array"
        ) from None
    except Exception as err:  # noqa: BLE001 - unreadable node metadata: one line
        raise check.fail(
            where,
            f"{component!r} cannot be opened ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]})",
            "a readable zarr array",
        ) from None
    if not isinstance(node, zarr.Array):
        raise check.fail(
            where, f"{component!r} names a group, not an array", "the path of an array"
        )
    return node
