"""GPU speed and correctness: 512x512 prediction and training on a GPU (or the CPU).

Run from the repository root; it needs nothing outside the repository::

    python benchmarks/bench_gpu.py                     # CUDA (exits with a message without)
    python benchmarks/bench_gpu.py --device cpu --slices 4 --batches 1,2 --steps 10

Training: :class:`napari_unet.core.Trainer` for ``--steps`` steps (batch of 8 128x128
patches) on simulated strokes of ISBI slices 0-4 (``../shared/data``; else the 256x256
crops in ``tests/data`` tiled to 512x512; else random blobs), once with the device's
automatic precision and once in float32 when that differs: steps/s, peak memory.

Prediction: :func:`napari_unet.core.predict` end to end (normalization, one 512x512 tile
per slice, forward pass, labels back in host memory) of a ``--slices`` stack of those
images with the model just trained (or ``--model``), after a warm-up; best of
``--repeats``. Rows: a batch sweep at the automatic precision with channels-last; float32,
bfloat16 and float16 at the default batch, with channels-last on and off. Every row's
labels are compared with float32 labels computed on the CPU ("agree" = fraction of equal
pixels). Peak memory: ``torch.cuda.max_memory_allocated`` per row on CUDA; on the CPU the
process's peak resident set size so far (it only grows).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ISBI, REPO, format_table, machine_summary, print_machine, write_json  # noqa: E402

from napari_unet.core import (  # noqa: E402
    PredictionConfig,
    TrainedModel,
    Trainer,
    TrainingConfig,
    load_model,
    predict,
    run_to_completion,
)
from napari_unet.core.data.simulated_strokes import simulate_strokes  # noqa: E402
from napari_unet.core.device import describe_compute, precision_policy, select_device  # noqa: E402
from napari_unet.core.prediction import engine as prediction_module  # noqa: E402
from napari_unet.core.prediction.engine import default_batch_size  # noqa: E402

PRECISIONS = ("float32", "bfloat16", "float16")
HEADERS = ["run", "precision", "batch", "ch-last", "seconds", "rate", "unit", "peak MiB", "agree"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float:
    """Peak GPU memory allocated since :func:`reset_peak`, or the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def isbi_images(count: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """``count`` 512x512 uint8 images and classes (1 = membrane, 2 = interior)."""
    from skimage.io import imread

    for root, what in (
        (ISBI, "ISBI slices"),
        (REPO / "tests" / "data" / "isbi2012", "ISBI crops tiled to 512x512"),
    ):
        names = sorted((root / "images").glob("*.png"))[:count] if root.exists() else []
        if names:
            pairs = [
                (
                    np.asarray(imread(n))[..., :512, :512],
                    np.asarray(imread(root / "labels" / n.name))[..., :512, :512],
                )
                for n in names
            ]
            pairs = [
                tuple(np.tile(a, (512 // a.shape[0], 512 // a.shape[1])) for a in p) for p in pairs
            ]
            return (
                [p[0] for p in pairs],
                [np.where(p[1] == 0, 1, 2).astype(np.uint8) for p in pairs],
                f"{len(pairs)} {what}",
            )
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    blobs = [ndi.gaussian_filter(rng.random((512, 512)), 8) for _ in range(count)]
    classes = [np.where(b > np.median(b), 2, 1).astype(np.uint8) for b in blobs]
    images = [(c * 80 + rng.normal(0, 20, c.shape)).clip(0, 255).astype(np.uint8) for c in classes]
    return images, classes, "random blobs (no ISBI data)"


def bench_training(
    device: torch.device, images, classes, source: str, steps: int, precision: str, seed: int
) -> tuple[dict, TrainedModel]:
    strokes = [simulate_strokes(c, seed=seed + i) for i, c in enumerate(classes)]
    trainer = Trainer(
        images,
        strokes,
        config=TrainingConfig(
            max_time=None, max_steps=steps, seed=seed, device=str(device), precision=precision
        ),
    )
    reset_peak(device)
    start = time.perf_counter()
    result = run_to_completion(trainer.run())
    synchronize(device)
    seconds = time.perf_counter() - start
    row = {
        "run": f"train {result.steps} steps, {source}",
        "precision": trainer.precision.name,
        "batch": trainer.config.batch_size,
        "ch-last": "yes",
        "seconds": seconds,
        "rate": result.steps / seconds,
        "unit": "steps/s",
        "peak MiB": peak_mib(device),
        "agree": "-",
    }
    return row, result.model


@contextlib.contextmanager
def channels_last(enabled: bool) -> Iterator[None]:
    """Prediction with channels-last tensors (the default) or plain contiguous ones."""
    original = prediction_module.memory_format
    if not enabled:
        prediction_module.memory_format = lambda device, dims: torch.contiguous_format
    try:
        yield
    finally:
        prediction_module.memory_format = original


def labels_of(model: TrainedModel, stack: np.ndarray, config: PredictionConfig) -> np.ndarray:
    return run_to_completion(predict(model, stack, config=config)).labels


def bench_prediction(
    model: TrainedModel,
    stack: np.ndarray,
    device: torch.device,
    batch: int,
    precision: str,
    layout: bool,
    reference: np.ndarray,
    repeats: int,
) -> dict:
    config = PredictionConfig(device=str(device), tile=512, batch_size=batch, precision=precision)
    row = {
        "run": f"predict {len(stack)}x512x512",
        "precision": precision,
        "batch": batch,
        "ch-last": "yes" if layout else "no",
    }
    try:
        with channels_last(layout):
            labels_of(model, stack[:batch], config)  # warm-up (kernels, cuDNN choices)
            reset_peak(device)
            best = float("inf")
            for _ in range(max(1, repeats)):
                start = time.perf_counter()
                labels = labels_of(model, stack, config)
                synchronize(device)
                best = min(best, time.perf_counter() - start)
    except (ValueError, RuntimeError) as err:  # a precision this device lacks
        return {
            **row,
            "seconds": "n/a",
            "rate": "n/a",
            "unit": str(err)[:40],
            "peak MiB": "-",
            "agree": "-",
        }
    agree = float(np.mean(labels[: len(reference)] == reference))
    return {
        **row,
        "seconds": best,
        "rate": len(stack) / best,
        "unit": "slices/s",
        "peak MiB": peak_mib(device),
        "agree": f"{100 * agree:.2f}%",
    }


def prediction_rows(
    model: TrainedModel,
    stack: np.ndarray,
    device: torch.device,
    batches: list[int],
    batch: int,
    precisions: list[str],
    reference: np.ndarray,
    repeats: int,
) -> list[dict]:
    """The batch sweep at the automatic precision, then each precision with channels-last
    on and off at ``batch``."""
    auto = precision_policy(device).name.split(" ")[0]
    runs = [(b, auto, True) for b in batches]
    runs += [
        (batch, p, layout)
        for layout in (True, False)
        for p in precisions
        if (batch, p, layout) not in runs
    ]
    rows = []
    for b, p, layout in runs:
        rows.append(bench_prediction(model, stack, device, b, p, layout, reference, repeats))
        print(f"# {rows[-1]}", file=sys.stderr, flush=True)  # progress of a long sweep
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, mps or cpu")
    parser.add_argument("--slices", type=int, default=64, help="slices of the prediction stack")
    parser.add_argument(
        "--batches",
        default="1,4,8,16,32",
        help="comma-separated batch sizes of the sweep (tiles per forward)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="batch of the precision/layout rows (default: the device's)",
    )
    parser.add_argument(
        "--precisions",
        default=",".join(PRECISIONS),
        help="precisions compared at --batch (float16 is very slow on a CPU)",
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--repeats", type=int, default=3, help="best of N prediction runs")
    parser.add_argument("--model", help="model file for prediction (default: the one trained)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = select_device(args.device)
    except ValueError as err:
        raise SystemExit(
            f"bench_gpu: {err} (no GPU here: nothing to measure; "
            "'--device cpu --slices 4 --batches 1,2 --steps 10' runs on the "
            "CPU)."
        ) from None
    machine = machine_summary()
    machine["compute"] = describe_compute(device, precision_policy(device))
    print_machine(machine)
    print(f"# {machine['compute']} (automatic choice)")
    images, classes, source = isbi_images(5, args.seed)
    rows = []
    for precision in dict.fromkeys(["auto", "float32"]):
        row, model = bench_training(
            device, images, classes, source, args.steps, precision, args.seed
        )
        rows.append(row)
        print(f"# {row}", file=sys.stderr, flush=True)
        if precision == "auto":
            trained = model
        if precision_policy(device).dtype is None:
            break  # auto is float32 here: nothing else to compare
    model = load_model(args.model) if args.model else trained
    stack = np.stack([images[i % len(images)] for i in range(args.slices)])
    reference = labels_of(
        model,
        stack[: len(images)],
        PredictionConfig(device="cpu", tile=512, batch_size=1, precision="float32"),
    )
    batch = args.batch or default_batch_size((512, 512), device)
    batches = [int(b) for b in args.batches.split(",")]
    rows += prediction_rows(
        model, stack, device, batches, batch, args.precisions.split(","), reference, args.repeats
    )
    print(format_table(HEADERS, [[r[h] for h in HEADERS] for r in rows]))
    write_json(args.json, {"machine": machine, "device": str(device), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
