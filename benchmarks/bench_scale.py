"""Scaling of prediction with stack length: in memory, zarr in-process, dask clusters.

Run from the repository root::

    python benchmarks/bench_scale.py                          # table
    python benchmarks/bench_scale.py --slices 4 16 64 --size 1024 --json out.json

For each stack length (slices of ``--size``², real ISBI slices tiled to that size) and
each way of running, one fresh process predicts the stack with a model of
``--preset`` (random weights: speed does not depend on them) and reports:

* ``numpy``: the stack in memory, labels in memory (:func:`napari_unet.core.predict`);
* ``zarr``: a zarr stack in, OME-Zarr labels out, in-process, block by block;
* ``cluster-1`` / ``cluster-2``: the same on a ``distributed.LocalCluster`` of 1 or 2
  worker processes (one thread each, the cores shared out as ``predict --workers``).

Columns: seconds, megapixels per second, peak resident memory of the process (MiB; for
clusters the largest worker and the client). The per-block overhead of a cluster is its
time minus the zarr in-process time, over the number of blocks.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODES = ("numpy", "zarr", "cluster-1", "cluster-2")


def make_stack(folder: Path, slices: int, size: int):
    """A zarr stack of real ISBI slices tiled to ``size``², written slice by slice."""
    import zarr

    sys.path.insert(0, str(ROOT))
    from tests.conftest import isbi_slice

    plane = isbi_slice(0)[0]
    plane = np.tile(plane, (-(-size // plane.shape[0]), -(-size // plane.shape[1])))[:size, :size]
    array = zarr.create_array(store=str(folder / "stack.zarr"), shape=(slices, size, size),
                              chunks=(1, min(size, 1024), min(size, 1024)), dtype=np.uint8)
    for i in range(slices):
        array[i] = np.roll(plane, 7 * i, axis=1)
    return array


def model_of(preset: str):
    import torch

    from napari_unet.core import PRESETS, ClassInfo, TrainedModel, UNet, UNetConfig

    torch.manual_seed(0)
    net = UNet(UNetConfig(**PRESETS[preset])).eval()
    return TrainedModel(net, ClassInfo(("background", "object"), (1, 2)))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(mode: str, slices: int, size: int, preset: str) -> dict:
    """One measurement in this (fresh) process."""
    from napari_unet.core import PredictionConfig, predict, run_to_completion
    from napari_unet.core.device import available_cpu_cores
    from napari_unet.core.prediction import block_plan
    from napari_unet.core.sources import SourceSpec
    from napari_unet.core.zarr_io import zarr_sink

    folder = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    array = make_stack(folder, slices, size)
    model = model_of(preset)
    cfg = PredictionConfig(device="cpu")
    base = peak_mib()
    start = time.perf_counter()
    worker_peak = 0.0
    if mode == "numpy":
        run_to_completion(predict(model, array[:], config=cfg))
    elif mode == "zarr":
        sink = zarr_sink(folder / "out", "stack", block_plan(model, array.shape, cfg), 2, cfg,
                         fingerprint={})
        run_to_completion(predict(model, array, config=cfg, output=sink))
    else:
        from distributed import Client, LocalCluster

        from napari_unet.core.distributed import predict_on_cluster

        n = int(mode.split("-")[1])
        threads = max(1, available_cpu_cores() // n)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            start = time.perf_counter()  # the cluster's start-up is not prediction time
            run_to_completion(predict_on_cluster(
                client, model, SourceSpec(str(folder / "stack.zarr")), folder / "out", "stack",
                config=PredictionConfig(device="cpu", threads=threads)))
            seconds = time.perf_counter() - start
            worker_peak = max(client.run(peak_mib).values())
    seconds = time.perf_counter() - start if mode in ("numpy", "zarr") else seconds
    megapixels = slices * size * size / 1e6
    return {"mode": mode, "slices": slices, "size": size, "seconds": round(seconds, 2),
            "MP/s": round(megapixels / seconds, 3), "blocks": slices,
            "peak_MiB": round(max(peak_mib(), worker_peak), 1),
            "client_peak_MiB": round(peak_mib(), 1), "before_MiB": round(base, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "SLICES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.size, args.preset)))
        return 0
    rows = []
    print(f"{'mode':<10} {'slices':>6} {'seconds':>8} {'MP/s':>7} {'peak MiB':>9}")
    for slices in args.slices:
        for mode in args.modes:
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode, str(slices), "--size", str(args.size),
                 "--preset", args.preset], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{mode:<10} {slices:>6} {row['seconds']:>8} {row['MP/s']:>7} "
                  f"{row['peak_MiB']:>9}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
