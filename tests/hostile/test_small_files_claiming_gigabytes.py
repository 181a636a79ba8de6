"""Small files that claim gigabytes are refused on their claim, before anything is
allocated: exit code 2, ONE line naming the file, the claim and the limit, and a peak
resident memory (measured in a fresh process) far below the claim.

Print the figures: ``python -m tests.hostile.test_small_files_claiming_gigabytes``."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
import tifffile

from napari_unet.core import save_model
from tests.cli.bad_input_files import tiny_model
from tests.conftest import isbi_slice
from tests.hostile import _files as hf
from tests.hostile._measure import error_lines, run_measured

PEAK_MIB = 600  # a fresh `napari-unet predict` with torch imported is ~350 MiB


def _big_chunk(path: Path) -> Path:
    return hf.huge_claim_zarr(path, shape=(60000, 60000), chunks=(60000, 60000))


def _huge_metadata(path: Path) -> Path:
    hf.huge_claim_zarr(path, shape=(64, 64), chunks=(64, 64))
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"] = {"padding": "x" * (20 << 20)}
    (path / "zarr.json").write_text(json.dumps(meta))
    return path


def _predict(image, root):
    return [
        "predict",
        "--model",
        root / "m.pt",
        "--images",
        image,
        "--out-dir",
        root / "out",
        "--device",
        "cpu",
    ]


# id: (file name, maker, command builder, words of the one line)
CASES = {
    "zarr-1PB-3d-claim": ("huge.zarr", hf.huge_claim_zarr, _predict, "bookkeeping"),
    "zarr-one-3.4GiB-chunk": ("chunk.zarr", _big_chunk, _predict, "one chunk claims"),
    "zarr-20MiB-metadata": ("meta.zarr", _huge_metadata, _predict, "zarr metadata of"),
    "tiff-3GiB-tiled-predict": ("claim.tif", hf.claiming_tiff, _predict, "TIFF outputs"),
    "tiff-3GiB-tiled-evaluate": (
        "claim.tif",
        hf.claiming_tiff,
        lambda p, r: ["evaluate", "--pred", p, "--truth", p],
        "read whole",
    ),
    "tiff-3GiB-tiled-attack": (
        "claim.tif",
        hf.claiming_tiff,
        lambda p, r: [
            "attack",
            "--model",
            r / "m.pt",
            "--images",
            p,
            "--attack",
            "fgsm",
            "--eps",
            "0.01",
            "--out-dir",
            r / "out",
            "--device",
            "cpu",
        ],
        "held whole",
    ),
    "tiff-sparse-4.7GiB-predict": ("sparse.tif", hf.sparse_tiff, _predict, "TIFF outputs"),
    "png-13GiB-header-evaluate": (
        "claim.png",
        hf.claiming_png,
        lambda p, r: ["evaluate", "--pred", p, "--truth", p],
        "read whole",
    ),
    "zarr-1PB-train": (
        "huge.zarr",
        hf.huge_claim_zarr,
        lambda p, r: [
            "train",
            "--images",
            p,
            "--labels",
            p,
            "--out",
            r / "new.pt",
            "--steps",
            "1",
            "--device",
            "cpu",
        ],
        "bookkeeping",
    ),
}


def prepare(root: Path) -> None:
    """The model and a genuine image every command needs, in ``root``."""
    save_model(tiny_model(), root / "m.pt")
    tifffile.imwrite(root / "img.tif", isbi_slice(0, crop=64)[0])


def measure(case: str, root: Path) -> dict:
    """Make the hostile file of ``case`` in ``root`` and run its command, measured."""
    name, make, command, _ = CASES[case]
    path = root / name
    if not path.exists():
        make(path)
    return run_measured(command(path, root))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("claims")
    prepare(folder)
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_small_file_claiming_gigabytes_is_refused_with_low_peak_memory(case, root):
    result = measure(case, root)
    lines = error_lines(result["stderr"])
    assert result["code"] == 2 and len(lines) == 1, result
    assert CASES[case][0] in lines[0] and CASES[case][3] in lines[0], result
    assert "memory limit" in lines[0] or "zarr metadata" in lines[0], result
    assert "please report" not in lines[0] and "Traceback" not in result["stderr"], result
    assert result["peak_mib"] < PEAK_MIB, result
    print(f"{case}: peak {result['peak_mib']:.0f} MiB")


def test_the_genuine_image_predicts_in_the_same_measure(root):
    result = run_measured(_predict(root / "img.tif", root))
    assert result["code"] == 0, result
    print(f"genuine 64x64 TIFF (baseline): peak {result['peak_mib']:.0f} MiB")


def main() -> None:
    """Print the peak memory of every case and of the genuine baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder)
        base = run_measured(_predict(folder / "img.tif", folder))
        print(
            f"{'genuine 64x64 TIFF (baseline)':32s} exit {base['code']}  "
            f"peak {base['peak_mib']:4.0f} MiB"
        )
        for case in CASES:
            result = measure(case, folder)
            line = (error_lines(result["stderr"]) or [""])[0]
            print(
                f"{case:32s} exit {result['code']}  peak {result['peak_mib']:4.0f} MiB  "
                f"{line[:110]}"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
