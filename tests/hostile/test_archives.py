"""Malformed and hostile model archives (bioimage.io packages, ``.pt`` files): exit code 2
and ONE stderr line naming the file and the problem; nothing in them runs; a zip bomb is
refused on its claim, before it inflates (peak memory measured in a fresh process)."""

from __future__ import annotations

import json
import zipfile

import pytest
import tifffile

from napari_unet.core import load_model, save_model
from napari_unet.core.model.bioimageio_package import MARKER
from tests.cli.bad_input_files import predict_cli, tiny_model
from tests.conftest import isbi_slice
from tests.hostile import _files as hf
from tests.hostile._measure import error_lines, run_measured

PEAK_MIB = 600  # a fresh `napari-unet predict` with torch imported is ~350 MiB
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("archives") / "img.tif"
    tifffile.imwrite(path, isbi_slice(0, crop=64)[0])
    return path


def _marker(**changes) -> str:
    return json.dumps(hf.marker(**changes))


def _metadata(**changes) -> dict:
    meta = hf.marker()["metadata"]
    meta.update(changes)
    return meta


PACKAGES = {  # id: (package maker arguments, words in the one line)
    "weights-list": ({"marker_text": _marker(weights=["weights.pt"])}, "'weights' is a list"),
    "weights-number": ({"marker_text": _marker(weights=5)}, "'weights' is a number"),
    "weights-null": ({"marker_text": _marker(weights=None)}, "'weights' is null"),
    "weights-absent-member": ({"marker_text": _marker(weights="w.pt")}, "not in the package"),
    "metadata-list": ({"marker_text": _marker(metadata=[1])}, "'metadata' is a list"),
    "metadata-unet-string": (
        {"marker_text": _marker(metadata=_metadata(unet="big"))},
        "metadata.unet is a string",
    ),
    "summary-string": (
        {"marker_text": _marker(metadata=_metadata(summary="fast"))},
        "metadata.summary is a string",
    ),
    "summary-rounds-dict": (
        {"marker_text": _marker(metadata=_metadata(summary={"rounds": {"round": 1}}))},
        "summary.rounds is an object",
    ),
    "summary-round-string": (
        {"marker_text": _marker(metadata=_metadata(summary={"rounds": ["1"]}))},
        "summary.rounds[0] is a string",
    ),
    "summary-dice-string": (
        {
            "marker_text": _marker(
                metadata=_metadata(summary={"rounds": [{"validation_dice": "0.9"}]})
            )
        },
        "validation_dice is a string",
    ),
    "summary-pixels-string": (
        {
            "marker_text": _marker(
                metadata=_metadata(summary={"rounds": [{"validation_pixels": "many"}]})
            )
        },
        "validation_pixels is not a list",
    ),
    "marker-deeply-nested": ({"marker_text": DEEP}, "nested more than"),
    "marker-deep-inside": (
        {
            "marker_text": _marker(
                metadata=_metadata(summary={"x": json.loads("[" * 80 + "]" * 80)})
            )
        },
        "nested more than",
    ),
    "marker-not-json": ({"marker_text": "{format: napari"}, "not valid JSON"),
    "marker-not-utf8": ({"marker_text": b"\xff\xfe{}"}, "not valid JSON"),
    "weights-not-an-archive": ({"members": {"weights.pt": b"not a zip"}}, "weights"),
    "weights-legacy-pickle": (
        {"members": {"weights.pt": b"(" * 50_000}},
        "not a PyTorch zip archive",
    ),
    "weights-deeply-nested-pickle": (
        {"members": {"weights.pt": hf.deep_pickle_weights()}},
        "weights",
    ),
}


@pytest.mark.parametrize(
    "kwargs, words", [pytest.param(*case, id=name) for name, case in PACKAGES.items()]
)
def test_malformed_package_is_one_line_naming_the_field(kwargs, words, image, tmp_path, capsys):
    pkg = hf.package(tmp_path / "model.zip", **kwargs)
    code, lines, err = predict_cli(pkg, image, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in err and "please report" not in err, err
    assert "model.zip" in lines[0] and words in lines[0], err


@pytest.mark.parametrize("member, stored", [(MARKER, True), (MARKER, False), ("weights.pt", False)])
def test_damaged_package_member_is_one_line_naming_it(member, stored, image, tmp_path, capsys):
    pkg = hf.package(tmp_path / "model.zip", stored_marker=stored)
    hf.corrupt_member(pkg, member)
    code, lines, err = predict_cli(pkg, image, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1, err
    assert "please report" not in err and "model.zip" in lines[0], err
    assert member in lines[0] and "damaged" in lines[0], err


def test_package_rdf_yaml_is_never_parsed(tmp_path):
    """A Python object tag in rdf.yaml would run code if parsed unsafely; it is not read."""
    marker_file = tmp_path / "ran"
    yaml = f"!!python/object/apply:os.system ['touch {marker_file}']\n".encode()
    pkg = hf.package(tmp_path / "model.zip", members={"rdf.yaml": yaml})
    assert load_model(pkg).num_classes == 2
    assert not marker_file.exists()


def test_model_file_metadata_nested_deep_is_one_line(image, tmp_path, capsys):
    from tests.cli.bad_input_files import write_payload

    path = write_payload(tmp_path / "deep.pt", DEEP, tiny_model().state_on_cpu())
    code, lines, err = predict_cli(path, image, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1 and "deep.pt" in lines[0], err
    assert "nested more than" in lines[0] and "please report" not in err, err


def test_model_file_summary_of_the_wrong_type_is_one_line(image, tmp_path, capsys):
    from tests.cli.bad_input_files import write_payload

    model = tiny_model()
    meta = dict(hf.marker(model)["metadata"], summary={"rounds": 3})
    path = write_payload(tmp_path / "m.pt", json.dumps(meta), model.state_on_cpu())
    code, lines, err = predict_cli(path, image, tmp_path / "out", capsys)
    assert code == 2 and len(lines) == 1 and "m.pt" in lines[0], err
    assert "summary.rounds is a number" in lines[0], err


def _assert_refused_small(result: dict, name: str, words: str) -> None:
    lines = error_lines(result["stderr"])
    assert result["code"] == 2 and len(lines) == 1, result
    assert name in lines[0] and words in lines[0], result
    assert "please report" not in lines[0] and "Traceback" not in result["stderr"], result
    assert result["peak_mib"] < PEAK_MIB, result


def test_package_zip_bomb_is_refused_before_inflating(image, tmp_path):
    bomb = hf.bomb_package(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 16 << 20
    result = run_measured(
        [
            "predict",
            "--model",
            bomb,
            "--images",
            image,
            "--out-dir",
            tmp_path / "out",
            "--device",
            "cpu",
        ]
    )
    _assert_refused_small(result, "bomb.zip", "inflates to 1.25 GiB")
    print(f"package zip bomb: peak {result['peak_mib']:.0f} MiB")


def test_model_file_zip_bomb_is_refused_before_inflating(image, tmp_path):
    genuine = save_model(tiny_model(), tmp_path / "genuine.pt")
    bomb = hf.bomb_model_file(tmp_path / "bomb.pt", genuine)
    assert bomb.stat().st_size < 16 << 20
    result = run_measured(
        [
            "predict",
            "--model",
            bomb,
            "--images",
            image,
            "--out-dir",
            tmp_path / "out",
            "--device",
            "cpu",
        ]
    )
    _assert_refused_small(result, "bomb.pt", "inflates to 1.25 GiB")
    print(f".pt zip bomb: peak {result['peak_mib']:.0f} MiB")


def test_genuine_archives_still_load(tmp_path):
    pkg = hf.package(tmp_path / "model.zip")
    pt = save_model(tiny_model(), tmp_path / "model.pt")
    assert load_model(pkg).num_classes == load_model(pt).num_classes == 2
    with zipfile.ZipFile(pt) as archive:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
