"""GPU speed: milliseconds per 512x512 slice of prediction and training steps per second.

Run from the repository root on a machine with CUDA::

    python benchmarks/bench_gpu.py                  # CUDA (exits with a message without one)
    python benchmarks/bench_gpu.py --device cpu --slices 2 --steps 5   # smoke check on a CPU

Prediction: :func:`napari_unet.core.predict` end to end (normalization, tiles, mixed
precision forward, softmax, blending, labels back in host memory) over a stack of
``--slices`` random 512x512 uint8 slices with the default model, after a warm-up.
Training: :class:`napari_unet.core.Trainer` for ``--steps`` steps (default batch of 8
patches) on simulated strokes of ISBI slices 0-4 (random blobs when the data is missing);
steps/s over the whole run, validation included.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ISBI, format_table, machine_summary, print_machine, read_isbi, write_json  # noqa: E402

from napari_unet.core import (  # noqa: E402
    Normalization,
    PredictionConfig,
    TrainedModel,
    Trainer,
    TrainingConfig,
    UNet,
    UNetConfig,
    predict,
    run_to_completion,
)
from napari_unet.core.device import autocast_dtype, select_device  # noqa: E402
from napari_unet.core.labels import ClassInfo  # noqa: E402
from napari_unet.core.simulated_strokes import simulate_strokes  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_data(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Five 512x512 images with simulated strokes (classes 1 = membrane, 2 = interior)."""
    if (ISBI / "images" / "0.png").exists():
        pairs = [read_isbi(i) for i in range(5)]
        images = [im for im, _ in pairs]
        classes = [np.where(lab == 0, 1, 2).astype(np.uint8) for _, lab in pairs]
        source = "ISBI slices 0-4"
    else:
        from scipy import ndimage as ndi

        rng = np.random.default_rng(seed)
        blobs = [ndi.gaussian_filter(rng.random((512, 512)), 8) for _ in range(5)]
        classes = [np.where(b > np.median(b), 2, 1).astype(np.uint8) for b in blobs]
        images = [(c * 80 + rng.normal(0, 20, c.shape)).clip(0, 255).astype(np.uint8)
                  for c in classes]
        source = "random blobs (ISBI data not found)"
    strokes = [simulate_strokes(c, seed=seed + i) for i, c in enumerate(classes)]
    return images, strokes, source


def bench_prediction(device: torch.device, slices: int, batch: int) -> dict:
    torch.manual_seed(0)
    model = TrainedModel(UNet(UNetConfig()).eval(), ClassInfo(("background", "object"), (1, 2)),
                         Normalization())
    stack = np.random.default_rng(0).integers(0, 256, (slices, 512, 512), dtype=np.uint8)
    config = PredictionConfig(device=device.type, batch_size=batch)
    run_to_completion(predict(model, stack[: min(slices, batch)], config=config))  # warm-up
    synchronize(device)
    start = time.perf_counter()
    result = run_to_completion(predict(model, stack, config=config))
    synchronize(device)
    seconds = time.perf_counter() - start
    assert result.completed.all()
    return {"what": f"predict {slices}x512x512, batch {batch}", "seconds": seconds,
            "per_unit": 1000 * seconds / slices, "unit": "ms / slice",
            "rate": slices * 512 * 512 / seconds / 1e6, "rate_unit": "Mpx/s"}


def bench_training(device: torch.device, steps: int, seed: int) -> dict:
    images, strokes, source = training_data(seed)
    trainer = Trainer(images, strokes,
                      config=TrainingConfig(max_time=None, max_steps=steps, seed=seed,
                                            device=device.type))
    start = time.perf_counter()
    result = run_to_completion(trainer.run())
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"what": f"train {result.steps} steps on {source}", "seconds": seconds,
            "per_unit": 1000 * seconds / max(result.steps, 1), "unit": "ms / step",
            "rate": result.steps / seconds, "rate_unit": "steps/s"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "mps", "cpu"), default="cuda")
    parser.add_argument("--slices", type=int, default=64, help="slices of the prediction stack")
    parser.add_argument("--batch", type=int, default=PredictionConfig().batch_size,
                        help="tiles per forward pass in prediction")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)
    try:
        device = select_device(args.device)
    except ValueError as err:
        raise SystemExit(f"bench_gpu: {err} (no GPU here: nothing to measure; "
                         "'--device cpu --slices 2 --steps 5' runs a smoke check).") from None

    machine = machine_summary()
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
        print(f"# GPU: {machine['gpu']}, mixed precision {autocast_dtype(device)}")
    print_machine(machine)
    rows = [bench_prediction(device, args.slices, args.batch),
            bench_training(device, args.steps, args.seed)]
    print(format_table(["benchmark", "seconds", "per unit", "unit", "rate", "rate unit"],
                       [[r["what"], r["seconds"], r["per_unit"], r["unit"], r["rate"],
                         r["rate_unit"]] for r in rows]))
    write_json(args.json, {"machine": machine, "device": str(device), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
