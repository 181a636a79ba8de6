"""The project manifest: written and read back unchanged, versioned, and hostile or
damaged content refused with a message naming the field (never executed)."""

from __future__ import annotations

import json

import pytest

from napari_unet.core.project import ProjectError
from napari_unet.core.project.manifest import (
    MAX_MANIFEST_BYTES,
    VERSION,
    ImageEntry,
    LabelsRef,
    ProjectManifest,
    RoundLabels,
    RoundRecord,
    manifest_from_json,
    manifest_to_json,
)

HASH = "blake2b-128:" + "0123456789abcdef" * 2


def _manifest() -> ProjectManifest:
    labels = LabelsRef("strokes", f"labels/{HASH[12:]}.zarr", HASH, "sparse")
    images = (
        ImageEntry(
            "em",
            "file",
            "../data/em.tif",
            (4, 64, 64),
            "uint8",
            False,
            (1.0, 2.0, 2.0),
            (0.0, 5.0, 5.0),
            "/abs/data/em.tif",
            labels,
        ),
        ImageEntry("rgb", "copy", "images/rgb-1a2b3c4d.zarr", (32, 32, 3), "uint8", True),
    )
    rounds = (
        RoundRecord(
            1,
            "models/round-001.pt",
            None,
            "Training",
            {"max_steps": 5, "seed": 0},
            0,
            (RoundLabels("em", HASH, labels.path),),
            0.5,
            (120, 80),
            300,
            5,
            1.25,
            "cpu",
            "2025-01-01T10:00:00+0000",
        ),
        RoundRecord(2, "models/round-002.pt", 1, "Retraining", {}, 7),
    )
    return ProjectManifest(images, rounds, current_round=1)


def _document(**changes) -> dict:
    document = json.loads(manifest_to_json(_manifest()))
    document.update(changes)
    return document


def _refused(document: object, *words: str) -> str:
    text = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(ProjectError) as caught:
        manifest_from_json(text, "p/project.json")
    message = str(caught.value)
    assert "p/project.json" in message and all(w in message for w in words), message
    return message


def test_manifest_round_trip_gives_equal_manifest():
    manifest = _manifest()
    assert manifest_from_json(manifest_to_json(manifest)) == manifest


def test_manifest_records_format_and_version():
    document = json.loads(manifest_to_json(_manifest()))
    assert document["format"] == "napari-unet-project" and document["version"] == VERSION


def test_newer_version_is_refused_asking_for_an_update():
    _refused(_document(version=VERSION + 1), f"version {VERSION + 1}", "Update napari-unet")


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, None])
def test_invalid_version_is_refused(version):
    _refused(_document(version=version), "version")


def test_other_json_is_not_a_project():
    _refused({"format": "something else", "version": 1}, "not a napari-unet project")
    _refused([1, 2, 3], "manifest")


def test_invalid_json_and_nan_are_refused():
    _refused("{not json", "not valid JSON")
    _refused('{"format": "napari-unet-project", "version": 1, "current_round": NaN}', "JSON")


def test_deeply_nested_json_is_refused_without_crash():
    _refused("[" * 100_000 + "]" * 100_000, "not valid JSON")


def test_manifest_over_size_limit_is_refused_before_parsing():
    _refused(" " * (MAX_MANIFEST_BYTES + 1), "bytes")


@pytest.mark.parametrize(
    "path",
    [
        "../outside.pt",
        "/etc/passwd",
        "models/../../x.pt",
        "models\\..\\x.pt",
        "C:/x.pt",
        "other/round.pt",
        "models/sub/round.pt",
    ],
)
def test_model_path_leaving_the_project_is_refused(path):
    document = _document()
    document["rounds"][0]["model"] = path
    _refused(document, "rounds[0].model", "models/")


def test_labels_path_outside_labels_folder_is_refused():
    document = _document()
    document["images"][0]["labels"]["path"] = "../../home/user/.bashrc"
    _refused(document, "images[0].labels.path")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("shape", [1] * 20, "images[0].shape"),
        ("shape", [64, -1], "images[0].shape[1]"),
        ("shape", [2**60, 2**60], "images[0].shape"),
        ("dtype", "object", "images[0].dtype"),
        ("source", "url", "images[0].source"),
        ("scale", [1.0, 2.0], "images[0].scale"),
        ("name", "", "images[0].name"),
        ("name", "x" * 5000, "images[0].name"),
    ],
)
def test_bad_image_fields_are_refused_naming_the_field(field, value, named):
    document = _document()
    document["images"][0][field] = value
    _refused(document, named)


def test_bad_round_fields_are_refused_naming_the_field():
    for field, value in [
        ("seed", -1),
        ("seed", 2**40),
        ("steps", "many"),
        ("seconds", -3),
        ("validation_dice", "0.9"),
        ("settings", [1]),
        ("number", 0),
    ]:
        document = _document()
        document["rounds"][0][field] = value
        _refused(document, f"rounds[0].{field}")


def test_bad_hash_is_refused():
    document = _document()
    document["rounds"][0]["labels"][0]["hash"] = "md5:abc"
    _refused(document, "rounds[0].labels[0].hash")


def test_inconsistent_manifest_is_refused():
    _refused(_document(current_round=9), "current_round")
    document = _document()
    document["rounds"][1]["number"] = 1
    _refused(document, "rounds[].number")
    document = _document()
    document["rounds"][1]["model"] = document["rounds"][0]["model"]
    _refused(document, "rounds[].model")
    document = _document()
    document["images"][1]["name"] = "em"
    _refused(document, "images[].name")


def test_too_many_rounds_is_refused():
    _refused(_document(rounds=[{}] * 100_001), "rounds")
