"""Malformed OME-Zarr metadata on ``predict --images X.zarr``: a table of broken fields,
each exit code 2 and ONE stderr line naming the file and the field, never a traceback
nor "please report". Real pixels (an ISBI 2012 crop), metadata edited as JSON files."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import zarr

from napari_unet.core import save_model
from tests.cli.bad_input_files import predict_cli, tiny_model
from tests.conftest import isbi_slice

AXES = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
GOOD = {
    "version": "0.4",
    "axes": AXES,
    "name": "img",
    "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}
    ],
}


def _set(where: list, value):
    """A mutation of the first multiscale: set the item at the key path ``where``."""

    def mutate(ms: dict) -> dict:
        node = ms
        for key in where[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[where[-1]]
        else:
            node[where[-1]] = value
        return ms

    return mutate


_DELETE = object()
DS = ["datasets", 0]
CT = DS + ["coordinateTransformations"]
# id: (attributes maker (multiscale -> group attributes), words in the one line)
CASES = {
    "multiscales-string": (lambda ms: {"multiscales": "0"}, "multiscales is a string"),
    "multiscales-dict": (lambda ms: {"multiscales": ms}, "multiscales is an object"),
    "multiscales-null": (lambda ms: {"multiscales": None}, "multiscales is null"),
    "multiscales-number": (lambda ms: {"multiscales": 4}, "multiscales is a number"),
    "multiscales-empty": (lambda ms: {"multiscales": []}, "multiscales is an empty list"),
    "multiscale-not-object": (lambda ms: {"multiscales": ["0"]}, "multiscales[0] is a string"),
    "no-datasets": (_set(["datasets"], _DELETE), "multiscales[0] has no 'datasets'"),
    "datasets-empty": (_set(["datasets"], []), "multiscales[0].datasets is an empty list"),
    "datasets-string": (_set(["datasets"], "0"), "multiscales[0].datasets is a string"),
    "dataset-not-object": (_set(DS, "0"), "multiscales[0].datasets[0] is a string"),
    "dataset-without-path": (
        _set(DS + ["path"], _DELETE),
        "multiscales[0].datasets[0] has no 'path'",
    ),
    "path-number": (_set(DS + ["path"], 0), "datasets[0].path is a number"),
    "path-null": (_set(DS + ["path"], None), "datasets[0].path is null"),
    "path-names-group": (_set(DS + ["path"], "grp"), "names a group"),
    "path-missing": (_set(DS + ["path"], "9"), "names nothing"),
    "path-absolute": (_set(DS + ["path"], "/etc/passwd"), "leaves the group"),
    "path-dotdot": (_set(DS + ["path"], "../outside.zarr"), "leaves the group"),
    "path-dotdot-inside": (_set(DS + ["path"], "grp/../0"), "leaves the group"),
    "path-empty": (_set(DS + ["path"], ""), "leaves the group"),
    "path-backslash": (_set(DS + ["path"], "..\\0"), "leaves the group"),
    "path-url": (_set(DS + ["path"], "file:///etc"), "leaves the group"),
    "second-level-without-path": (
        lambda ms: _set(["datasets"], ms["datasets"] + [{}])(ms),
        "multiscales[0].datasets[1] has no 'path'",
    ),
    "axes-int": (_set(["axes"], 2), "multiscales[0].axes is a number"),
    "axes-strings": (_set(["axes"], ["y", "x"]), "multiscales[0].axes[0] is a string"),
    "axes-missing": (_set(["axes"], _DELETE), "multiscales[0] has no 'axes'"),
    "axes-empty": (_set(["axes"], []), "multiscales[0].axes is an empty list"),
    "axis-without-name": (_set(["axes", 0], {"type": "space"}), "axes[0] has no 'name'"),
    "axis-name-number": (_set(["axes", 0, "name"], 3), "axes[0].name is a number"),
    "axis-type-list": (_set(["axes", 1, "type"], ["space"]), "axes[1].type is a list"),
    "axes-repeated": (_set(["axes", 1, "name"], "y"), "axes[1].name is repeated"),
    "axes-too-many": (
        lambda ms: _set(CT + [0, "scale"], [1, 1, 1])(_set(["axes"], [{"name": "z"}] + AXES)(ms)),
        "names 3 axes but the array '0' has 2",
    ),
    "transformations-dict": (
        _set(CT, {"type": "scale", "scale": [1, 1]}),
        "coordinateTransformations is an object",
    ),
    "transformation-string": (_set(CT + [0], "scale"), "coordinateTransformations[0] is a string"),
    "transformation-without-type": (
        _set(CT + [0, "type"], _DELETE),
        "coordinateTransformations[0] has no 'type'",
    ),
    "scale-short": (_set(CT + [0, "scale"], [1.0]), "has 1 values for 2 axes"),
    "scale-string-value": (_set(CT + [0, "scale"], [1.0, "big"]), "scale[1] is a string"),
    "scale-string": (_set(CT + [0, "scale"], "1,1"), "scale is a string"),
    "scale-missing": (_set(CT + [0, "scale"], _DELETE), "has no 'scale'"),
    "scale-zero": (_set(CT + [0, "scale"], [0, 1]), "scale[0] is 0"),
    "scale-negative": (_set(CT + [0, "scale"], [1, -2.5]), "scale[1] is -2.5"),
    "scale-bool": (_set(CT + [0, "scale"], [True, 1]), "scale[0] is true/false"),
    "translation-short": (
        _set(CT, [{"type": "scale", "scale": [1, 1]}, {"type": "translation", "translation": [0]}]),
        "translation has 1 values",
    ),
    "multiscale-transformations-string": (
        _set(["coordinateTransformations"], "x"),
        "multiscales[0].coordinateTransformations is a",
    ),
}
CASES_05 = {  # NGFF 0.5: the metadata lives in an "ome" object
    "ome-string": (lambda ms: {"ome": "0.5"}, "attribute 'ome' is a string"),
    "ome-list": (lambda ms: {"ome": [ms]}, "attribute 'ome' is a list"),
    "ome-multiscales-string": (
        lambda ms: {"ome": {"version": "0.5", "multiscales": "0"}},
        "ome.multiscales is a string",
    ),
    "ome-dataset-without-path": (
        lambda ms: {"ome": {"version": "0.5", "multiscales": [_set(DS + ["path"], _DELETE)(ms)]}},
        "ome.multiscales[0].datasets[0] has no 'path'",
    ),
    "ome-scale-short": (
        lambda ms: {"ome": {"version": "0.5", "multiscales": [_set(CT + [0, "scale"], [2.0])(ms)]}},
        "has 1 values for 2 axes",
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ome")
    return {"model": save_model(tiny_model(), root / "model.pt"), "root": root}


def _image(root: Path, name: str, fmt: int) -> Path:
    """A real 64x64 image as OME-Zarr (array ``0``, an empty subgroup ``grp``); attributes
    are written by the test."""
    path = root / f"{name}.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    group.create_array("0", shape=(64, 64), chunks=(32, 32), dtype="uint8")[:] = isbi_slice(
        0, crop=64
    )[0]
    group.create_group("grp")
    return path


def _write_attrs(path: Path, attrs: dict, fmt: int) -> None:
    if fmt == 2:
        (path / ".zattrs").write_text(json.dumps(attrs))
    else:
        meta = json.loads((path / "zarr.json").read_text())
        meta["attributes"] = attrs
        (path / "zarr.json").write_text(json.dumps(meta))


def _predict(files, image: Path, tmp_path, capsys) -> tuple[int, list[str], str]:
    return predict_cli(files["model"], image, tmp_path / "out", capsys)


def _assert_one_line(code, lines, err, image: Path, words: str) -> None:
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "please report" not in err, err
    assert image.name in lines[0] and words in lines[0], err


@pytest.mark.parametrize(
    "fmt, make, words",
    [
        *[pytest.param(2, *case, id=f"0.4-{name}") for name, case in CASES.items()],
        *[pytest.param(3, *case, id=f"0.5-{name}") for name, case in CASES_05.items()],
    ],
)
def test_malformed_ome_zarr_metadata_is_one_line_naming_the_field(
    fmt, make, words, files, tmp_path, capsys
):
    image = _image(tmp_path, "img", fmt)
    attrs = make(copy.deepcopy(GOOD))
    if "multiscales" not in attrs and "ome" not in attrs:  # a mutated multiscale
        attrs = {"multiscales": [attrs]}
    _write_attrs(image, attrs, fmt)
    code, lines, err = _predict(files, image, tmp_path, capsys)
    _assert_one_line(code, lines, err, image, words)
    assert not (tmp_path / "out" / "img.zarr").exists()


def test_dataset_path_linking_outside_the_group_is_refused(files, tmp_path, capsys):
    outside = _image(tmp_path, "outside", 2)
    image = _image(tmp_path, "img", 2)
    os.symlink(outside / "0", image / "elsewhere")
    _write_attrs(image, {"multiscales": [_set(DS + ["path"], "elsewhere")(copy.deepcopy(GOOD))]}, 2)
    code, lines, err = _predict(files, image, tmp_path, capsys)
    _assert_one_line(code, lines, err, image, "leads outside the group")


@pytest.mark.parametrize("fmt", [2, 3])
def test_valid_ome_zarr_metadata_still_predicts(fmt, files, tmp_path, capsys):
    image = _image(tmp_path, "img", fmt)
    attrs = {"multiscales": [GOOD]}
    _write_attrs(image, attrs if fmt == 2 else {"ome": {"version": "0.5", **attrs}}, fmt)
    code, lines, err = _predict(files, image, tmp_path, capsys)
    assert code == 0, err
    assert zarr.open_array(str(tmp_path / "out" / "img.zarr" / "0"), mode="r").shape == (64, 64)


def test_legacy_ome_zarr_axes_as_names_still_read(files, tmp_path, capsys):
    image = _image(tmp_path, "img", 2)
    _write_attrs(image, {"multiscales": [dict(GOOD, version="0.3", axes=["y", "x"])]}, 2)
    code, lines, err = _predict(files, image, tmp_path, capsys)
    assert code == 0, err
