"""Small real files for the command-line safety tests (ISBI and DSB 2018 crops, tiny models)."""

from __future__ import annotations

import glob
import json
import warnings
from pathlib import Path

import numpy as np
import tifffile
import torch
from skimage.io import imread, imsave

from napari_unet.cli import main
from napari_unet.core import save_model
from napari_unet.core.data.images import Normalization
from napari_unet.core.data.labels import ClassInfo
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.model.trained_model import TrainedModel
from napari_unet.core.model.unet import UNet, UNetConfig
from tests.conftest import data_root, isbi_slice

TINY = UNetConfig(depth=1, base_channels=4)


def tiny_model(config: UNetConfig = TINY, steps: int = 5) -> TrainedModel:
    """An untrained small network with a history that says it took ``steps`` steps."""
    torch.manual_seed(0)
    net = UNet(config).eval()
    classes = ClassInfo(("background", "object"), (1, 2))
    summary = {"rounds": [{"round": 1, "steps": steps, "validation_dice": 0.5}]}
    return TrainedModel(net, classes, Normalization(), summary)


def write_payload(path: Path, metadata, state) -> Path:
    torch.save(
        {"format": "napari-unet", "format_version": 1, "metadata": metadata, "state_dict": state},
        path,
    )
    return path


def make_files(root: Path) -> dict[str, Path]:
    """Every file the tables of bad invocations need, written once into ``root``."""
    image, classes = isbi_slice(0, crop=64)
    f = {"img": root / "img.tif", "strokes": root / "strokes.tif"}
    tifffile.imwrite(f["img"], image)
    tifffile.imwrite(f["strokes"], simulate_strokes(classes, seed=0, max_fraction=0.05))
    rgb_png = sorted(glob.glob(str(data_root() / "dsb2018-dev" / "images" / "*.png")))[0]
    f["rgb"] = root / "rgb.png"
    imsave(f["rgb"], imread(rgb_png)[:64, :64], check_contrast=False)
    arrays = {
        "empty": np.zeros((0, 5), np.uint8),
        "nan_labels": np.where(classes == 2, np.nan, 1.0).astype(np.float32),
        "complex": classes.astype(np.complex64),
        "fraction": classes.astype(np.float32) / 4,
        "negative": classes.astype(np.int16) - 2,
        "many": np.arange(100 * 100, dtype=np.uint32).reshape(100, 100),
        "huge_value": np.where(classes == 2, 500_000_000, 0).astype(np.uint32),
    }
    for name, array in arrays.items():
        f[name] = root / f"{name}.tif"
        with warnings.catch_warnings():  # the zero-size one is "nonconformant": on purpose
            warnings.simplefilter("ignore")
            tifffile.imwrite(f[name], array)
    f["model"] = save_model(tiny_model(), root / "model.pt")
    f["text"] = root / "notes.txt"
    f["text"].write_text("a file, not a folder")
    f["dir"] = root / "folder"
    f["dir"].mkdir()
    f.update(bad_models(root))
    return f


def bad_models(root: Path) -> dict[str, Path]:
    """Model files that must be refused with one line: malformed metadata, NaN weights,
    metadata claiming a network much larger than the stored tensors."""
    model = tiny_model()
    meta = {
        "unet": TINY.to_dict(),
        "classes": model.classes.to_dict(),
        "normalization": model.normalization.to_dict(),
        "summary": {},
    }
    state = model.state_on_cpu()
    nan_state = {k: v.clone() for k, v in state.items()}
    first = next(k for k, v in nan_state.items() if v.is_floating_point() and v.ndim > 1)
    nan_state[first][0] = float("nan")
    huge = dict(meta, unet=dict(meta["unet"], base_channels=1024, depth=6))
    variants = {
        "meta_not_json": ("{not json", state),
        "meta_not_text": (5, state),
        "meta_list": (json.dumps([1, 2]), state),
        "meta_unet_text": (json.dumps(dict(meta, unet="big")), state),
        "meta_unknown_key": (json.dumps(dict(meta, unet=dict(meta["unet"], wings=2))), state),
        "meta_classes_int": (json.dumps(dict(meta, classes=7)), state),
        "meta_bad_percentiles": (
            json.dumps(dict(meta, normalization={"low_percentile": 50, "high_percentile": 5})),
            state,
        ),
        "meta_huge_claim": (json.dumps(huge), state),
        "meta_channels_claim": (
            json.dumps(dict(meta, unet=dict(meta["unet"], in_channels=10**7))),
            state,
        ),
        "state_not_dict": (json.dumps(meta), [1, 2, 3]),
        "nan_weights": (json.dumps(meta), nan_state),
    }
    return {name: write_payload(root / f"{name}.pt", m, s) for name, (m, s) in variants.items()}


def predict_cli(model, image, out_dir, capsys, *options: str) -> tuple[int, list[str], str]:
    """:func:`run_cli` of ``napari-unet predict`` of one image on the CPU, with ``options``."""
    argv = ["predict", "--model", model, "--images", image, "--out-dir", out_dir]
    return run_cli([*argv, "--device", "cpu", *options], capsys)


def run_cli(argv: list[str], capsys) -> tuple[int, list[str], str]:
    """Exit code, stderr lines and the whole stderr of ``napari-unet ARGV`` run in process."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err.strip().splitlines(), err
