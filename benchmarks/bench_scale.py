"""Scaling of prediction with stack length: in memory, zarr in-process, dask clusters.

Run from the repository root::

    python benchmarks/bench_scale.py                       # 2, 8, 32 slices of 1024², tiny
    python benchmarks/bench_scale.py --slices 4 16 64 --size 1024 --repeats 3 --json out.json

For each way of running, one fresh process predicts stacks of growing length (slices of
``--size``², real ISBI slices tiled to that size) one after the other with a model of
``--preset`` (random weights: speed does not depend on them):

* ``numpy``: the stack in memory, labels in memory (:func:`napari_unet.core.predict`);
* ``zarr``: a zarr stack in, OME-Zarr labels out, in-process, block by block;
* ``cluster-1`` / ``cluster-2``: the same on one ``distributed.LocalCluster`` of 1 or 2
  worker processes (the cluster's start-up is not counted, its first task is).

Every process and worker uses one thread, so figures are per core. CPU seconds (user +
system, of this process and the workers; the scheduler runs in this process) are the
main measure: unlike wall seconds they hardly change when other jobs load the machine.
One table, one line per way: CPU seconds at each stack length (median over
``--repeats``, which run interleaved so load changes hit every way alike), the
least-squares fit ``CPU s = fixed + per_block x blocks`` (one block per slice up to
4096²), megapixels per CPU second from the slope (range over repeats), the cluster's
extra CPU seconds per block over the zarr in-process run, wall seconds of the longest
stack, and peak resident memory after the shortest and the longest stack (MiB; for
clusters the largest of this process and the workers).
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
    array = zarr.create_array(
        store=str(folder / "stack.zarr"),
        shape=(slices, size, size),
        chunks=(1, min(size, 1024), min(size, 1024)),
        dtype=np.uint8,
    )
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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_way(mode: str, lengths: list[int], size: int, preset: str) -> list[dict]:
    """Stacks of ``lengths`` slices predicted one after the other in this fresh process
    (and, for clusters, on one cluster) after a one-slice warm-up: per stack, wall and CPU
    seconds (this process, which also runs the scheduler, plus the workers) and peak
    resident memory so far of the largest process."""
    from napari_unet.core import PredictionConfig, predict, run_to_completion
    from napari_unet.core.io.image_files import SourceSpec
    from napari_unet.core.io.zarr_files import zarr_sink
    from napari_unet.core.prediction.engine import block_plan

    model = model_of(preset)
    cfg = PredictionConfig(device="cpu", threads=1)  # one core per process or worker
    client, cluster, rows = None, None, []
    if mode.startswith("cluster"):
        from distributed import Client, LocalCluster

        from napari_unet.core.prediction.distributed import predict_on_cluster

        cluster = LocalCluster(
            n_workers=int(mode.split("-")[1]),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)  # its start-up is not counted; its first task is
    temp = tempfile.TemporaryDirectory(prefix="bench_scale_")
    for n, slices in enumerate([1] + lengths):  # the first pays for first use: not reported
        folder = Path(temp.name) / str(n)
        folder.mkdir()
        array = make_stack(folder, slices, size)
        image = array[:] if mode == "numpy" else array
        workers = client.run(cpu_seconds) if client else {}
        cpu, start = cpu_seconds(), time.perf_counter()
        if client:
            run_to_completion(
                predict_on_cluster(
                    client,
                    model,
                    SourceSpec(str(folder / "stack.zarr")),
                    folder / "out",
                    "stack",
                    config=cfg,
                )
            )
        else:
            sink = (
                None
                if mode == "numpy"
                else zarr_sink(
                    folder / "out",
                    "stack",
                    block_plan(model, array.shape, cfg),
                    2,
                    cfg,
                    fingerprint={},
                )
            )
            run_to_completion(predict(model, image, config=cfg, output=sink))
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        worker_cpu = (
            sum(t - workers[w] for w, t in client.run(cpu_seconds).items()) if client else 0.0
        )
        peak = max([peak_mib()] + (list(client.run(peak_mib).values()) if client else []))
        rows.append(
            {
                "mode": mode,
                "slices": slices,
                "size": size,
                "blocks": slices,
                "seconds": round(seconds, 2),
                "cpu_s": round(cpu + worker_cpu, 2),
                "client_cpu_s": round(cpu, 2),
                "peak_MiB": round(peak, 1),
            }
        )
        del image, array
    if client:
        client.close()
        cluster.close()
    temp.cleanup()
    return rows[1:]


def _fit(slices: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_block x slices``: (per_block, fixed)."""
    if len(slices) == 1:
        return seconds[0] / slices[0], 0.0
    slope, fixed = np.polyfit(slices, seconds, 1)
    return float(slope), float(fixed)


def summary(rows: list[dict], slices: list[int], size: int) -> str:
    """One table, one line per way: CPU seconds at each stack length (median over
    repeats), their linear fit per block, megapixels per CPU second (spread over
    repeats), the cluster's extra CPU seconds per block over zarr in-process, wall
    seconds of the longest stack and peak memory at the shortest and longest."""
    mp = size * size / 1e6
    head = (
        "way       "
        + "".join(f"{f'CPU s {n}':>10}" for n in slices)
        + "  CPU s/block  fixed  MP/CPU-s (range)  extra/block"
        + f"{f'wall s {slices[-1]}':>11}   peak MiB"
    )
    lines, per_block = [head], {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        pick = lambda n, key: [r[key] for r in mine if r["slices"] == n]  # noqa: E731
        med = [float(np.median(pick(n, "cpu_s"))) for n in slices]
        slope, fixed = _fit(slices, med)
        rates = [
            mp
            / _fit(
                slices,
                [
                    next(r["cpu_s"] for r in mine if r["slices"] == n and r["repeat"] == k)
                    for n in slices
                ],
            )[0]
            for k in sorted({r["repeat"] for r in mine})
        ]
        per_block[mode] = slope
        extra = (
            f"{slope - per_block['zarr']:+.2f} s"
            if mode.startswith("cluster") and "zarr" in per_block
            else "-"
        )
        peaks = [max(pick(n, "peak_MiB")) for n in (slices[0], slices[-1])]
        lines.append(
            f"{mode:<10}"
            + "".join(f"{m:>10.1f}" for m in med)
            + f"{slope:>13.2f}{fixed:>7.1f}{mp / slope:>10.2f}"
            + f" ({min(rates):.2f}-{max(rates):.2f})".ljust(12)
            + f"{extra:>9}{np.median(pick(slices[-1], 'seconds')):>11.1f}"
            + f"   {peaks[0]:.0f} -> {peaks[1]:.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--way", help=argparse.SUPPRESS)  # one way, in this process
    args = parser.parse_args(argv)
    if args.way:
        print(json.dumps(run_way(args.way, args.slices, args.size, args.preset)))
        return 0
    from _common import machine_summary, print_machine

    rows = []
    print_machine(dict(machine_summary(), torch_threads=1))  # load at the start, then the end
    for repeat in range(args.repeats):
        for mode in args.modes:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--way",
                    mode,
                    "--slices",
                    *map(str, args.slices),
                    "--size",
                    str(args.size),
                    "--preset",
                    args.preset,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            mine = [dict(r, repeat=repeat) for r in json.loads(out.stdout.strip().splitlines()[-1])]
            rows += mine
            print(f"run {repeat + 1}: {json.dumps(mine)}", file=sys.stderr, flush=True)
            if args.json:  # after every way: a cut-short run keeps what it measured
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print_machine(dict(machine_summary(), torch_threads=1))
    print(
        f"{args.size}x{args.size} slices, preset {args.preset}, one thread per process or "
        f"worker, {args.repeats} repeat(s)"
    )
    print(summary(rows, args.slices, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
