"""A huge 2D plane is predicted block by block: memory holds one block's float scores,
never a ``K x H x W`` accumulator (nor a float copy of the plane).

The plane is 4096 x 8192 (real ISBI texture) cut into 512² blocks, so one block's
accumulator is a few MiB while a whole-plane one is 256 MiB (K = 2, float32). Torch
tensors are invisible to tracemalloc, so the peak resident memory (``ru_maxrss``) is
measured in a fresh process, after a warm-up prediction of a 1024² plane the same way
(same blocks, same outputs) has paid for the libraries' own buffers and first-use costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from napari_unet.core import (
    ClassInfo,
    PredictionConfig,
    TrainedModel,
    UNet,
    UNetConfig,
    predict,
    run_to_completion,
)

ROOT = Path(__file__).resolve().parents[3]
SHAPE = (4096, 8192)
BLOCK = 512
MIB = 1 << 20
WHOLE_PLANE_SCORES_MIB = 2 * SHAPE[0] * SHAPE[1] * 4 / MIB  # K x H x W float32: 256 MiB
PER_BLOCK_BUDGET_MIB = 96  # blocks in flight, tiles, batches, stitching tables


def plane(shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """``shape`` uint8: the real ISBI slice 0 (256² crop) tiled."""
    from tests.conftest import isbi_slice

    crop = isbi_slice(0, crop=256)[0]
    return np.tile(crop, (shape[0] // 256, shape[1] // 256))


def calibrated_model() -> TrainedModel:
    """A fast depth-1 U-Net with fixed random weights whose output bias is set so that
    half of the ISBI pixels go to each class: many objects, some crossing block faces."""
    torch.manual_seed(1)
    net = UNet(UNetConfig(depth=1, base_channels=2)).eval()
    model = TrainedModel(net, ClassInfo(("background", "object"), (1, 2)))
    probs = run_to_completion(
        predict(
            model,
            plane((256, 256)),
            config=PredictionConfig(device="cpu", threads=1, probabilities=True),
        )
    ).probabilities
    margin = np.log(probs[0] + 1e-12) - np.log(probs[1] + 1e-12)
    net.head.bias.data[1] += float(np.median(margin))
    return model


def measure(mode: str, folder: str) -> None:
    """Runs in a fresh process: prints the growth of peak RSS (MiB) over a warm-up's, the
    number of pixels left unpredicted, the classes' pixel counts and the object count.
    ``mode``: "numpy" (plane in memory, NumPy outputs) or "zarr" (``folder/plane.zarr`` in,
    zarr labels, instances and probabilities out; the plane is never in memory)."""
    import resource

    from tests.scale_helpers import write_zarr

    model = calibrated_model()
    cfg = PredictionConfig(
        device="cpu",
        threads=1,
        block=BLOCK,
        instances=mode == "zarr",
        probabilities=mode == "zarr",
        split_touching=False,
    )  # connected components: seconds, not minutes
    if mode == "zarr":
        write_zarr(Path(folder) / "warm.zarr", plane((1024, 1024)), chunks=(1024, 1024))
        _predict_zarr(model, cfg, folder, "warm")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = _predict_zarr(model, cfg, folder, "plane")
    else:
        run_to_completion(predict(model, plane((1024, 1024)), config=cfg))
        image = plane()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = run_to_completion(predict(model, image, config=cfg))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    labels = np.asarray(result.labels)  # read back after the measurement
    objects = int(np.asarray(result.instances).max()) if cfg.instances else 0
    print(
        json.dumps(
            {
                "grown_mib": grown,
                "unpredicted": int((labels == 0).sum()),
                "counts": np.bincount(labels.ravel(), minlength=3)[1:].tolist(),
                "objects": objects,
            }
        )
    )


def _predict_zarr(model: TrainedModel, cfg: PredictionConfig, folder: str, stem: str):
    import zarr

    from napari_unet.core.io.zarr_files import zarr_sink
    from napari_unet.core.prediction.engine import block_plan

    source = zarr.open_array(f"{folder}/{stem}.zarr", mode="r")
    sink = zarr_sink(
        f"{folder}/out",
        stem,
        block_plan(model, source.shape, cfg),
        model.num_classes,
        cfg,
        fingerprint={},
    )
    return run_to_completion(predict(model, source, config=cfg, output=sink))


def _in_fresh_process(mode: str, folder: Path) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    )
    code = (
        "from tests.core.prediction.test_blockwise import measure; "
        f"measure({mode!r}, {str(folder)!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _assert_every_pixel_predicted(row: dict) -> None:
    assert row["unpredicted"] == 0
    assert min(row["counts"]) > 0.1 * SHAPE[0] * SHAPE[1], row["counts"]  # both classes


def test_numpy_plane_allocates_its_labels_but_no_whole_plane_float_scores(tmp_path):
    row = _in_fresh_process("numpy", tmp_path)
    _assert_every_pixel_predicted(row)
    labels_mib = SHAPE[0] * SHAPE[1] / MIB  # uint8 output: must exist in memory
    assert row["grown_mib"] < labels_mib + PER_BLOCK_BUDGET_MIB < WHOLE_PLANE_SCORES_MIB, row


def test_zarr_plane_to_zarr_with_instances_and_probabilities_stays_within_a_few_blocks(tmp_path):
    from tests.scale_helpers import write_zarr

    write_zarr(tmp_path / "plane.zarr", plane(), chunks=(1024, 1024))
    row = _in_fresh_process("zarr", tmp_path)
    _assert_every_pixel_predicted(row)
    assert row["objects"] > 100  # stitched across the 128 blocks' faces
    assert row["grown_mib"] < PER_BLOCK_BUDGET_MIB < WHOLE_PLANE_SCORES_MIB, row
