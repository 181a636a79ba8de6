"""Prediction speed: napari-unet's tiled prediction against the raw forward pass and MONAI.

Run from the repository root::

    python benchmarks/bench_prediction.py                # table
    python benchmarks/bench_prediction.py --json out.json --profile

Inputs: a 2048x2048 image and a 32x512x512 stack (random uint8: speed does not depend on
content), the default model (``UNetConfig()``, untrained weights, eval mode). Compared in
one run, each the fastest of ``--repeats`` runs (methods run in turn, round-robin):

* ``napari-unet predict``: :func:`napari_unet.core.predict` with its defaults (tile, overlap
  and batch from ``core.prediction``), end to end: normalization, tiles, forward, softmax,
  blending, labels. Also with ``tile=--alt-tile`` (default 1024) and batches of 2^21 px,
  the accelerator defaults (and the CPU defaults before they got their own).
* ``raw forward (whole)``: one forward of the whole normalized image under
  ``torch.inference_mode`` (2D image only), nothing else.
* ``raw forward (tiles)``: forward of non-overlapping tiles of the default tile size
  (same batch rule),
  nothing else: the floor any tiled method can reach.
* ``raw forward (same windows)`` (when a plane needs several tiles): forward of exactly the
  overlapping windows ``predict`` runs, nothing else: the overhead against it is the tiling
  machinery alone (normalization, softmax, blending, labels); against plain tiles it also
  includes the overlap (~13% more pixels for 544² windows on 2048²).
* ``MONAI sliding window``: ``monai.inferers.sliding_window_inference`` with the same
  model, ``roi_size`` = the tile size ``predict`` actually runs, ``overlap`` = overlap /
  tile (so both run the same windows), ``mode="gaussian"``, same
  ``sw_batch_size``, plus the same normalization, softmax and argmax, so it does the same job
  (all planes of the stack in one call, so MONAI batches windows across planes too).

GFLOP/s counts the model's FLOPs (``torch.utils.flop_counter.FlopCounterMode``: convolutions
and transposed convolutions) of the tiles each method actually runs, against a 4096x4096
float32 matmul timed in the same run: the practical limit of this CPU. (Edge tiles of the
plain-tiles baseline are counted in proportion to their pixels.)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    best_time,
    format_table,
    machine_summary,
    print_machine,
    write_json,
)

from napari_unet.core import (  # noqa: E402
    Normalization,
    PredictionConfig,
    TrainedModel,
    UNet,
    UNetConfig,
    predict,
    run_to_completion,
)
from napari_unet.core.data.labels import ClassInfo  # noqa: E402
from napari_unet.core.device import configure_cpu_threads  # noqa: E402
from napari_unet.core.prediction import engine as core_prediction  # noqa: E402
from napari_unet.core.prediction.tiling import tile_grid  # noqa: E402

CPU = torch.device("cpu")
TILE = core_prediction.default_tile(CPU, 2)  # the core's CPU defaults, whatever they are today
OVERLAP = core_prediction.DEFAULT_OVERLAP[2]
VARIANT_TILE, VARIANT_BATCH = 512, 4  # --variants: fixed work, comparable across versions


def batch_for(tile_size: tuple[int, ...]) -> int:
    """Tiles per forward pass that ``predict`` uses on the CPU for tiles of ``tile_size``."""
    return PredictionConfig().batch_size or core_prediction.default_batch_size(tile_size, CPU)


def default_model() -> TrainedModel:
    """The default U-Net, untrained, in eval mode, wrapped as a two-class model."""
    net = UNet(UNetConfig()).eval()
    return TrainedModel(net, ClassInfo(("background", "object"), (1, 2)), Normalization())


def model_flops(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward of a ``(B, C, Y, X)`` input of ``shape``."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net(torch.zeros(shape))
    return int(counter.get_total_flops())


def matmul_gflops(n: int = 4096, repeats: int = 3) -> float:
    """GFLOP/s of an ``n x n @ n x n`` float32 matmul (best of ``repeats``)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    seconds, _ = best_time(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / seconds / 1e9


def normalized(model: TrainedModel, image: np.ndarray) -> np.ndarray:
    """The image as the model sees it: ``(1, *image.shape)`` float32."""
    image_cf = image[np.newaxis]
    low, high = model.normalization.statistics(image_cf)
    return Normalization.apply(image_cf, low, high)


def run_ours(
    model: TrainedModel, image: np.ndarray, tile: int | None = None, batch_size: int | None = None
) -> np.ndarray:
    config = PredictionConfig(device="cpu", tile=tile, batch_size=batch_size)
    return run_to_completion(predict(model, image, config=config)).labels


def run_raw_whole(net: torch.nn.Module, x: np.ndarray) -> None:
    """One forward of a whole normalized 2D image ``x`` of shape (1, Y, X)."""
    with torch.inference_mode():
        net(torch.from_numpy(x)[None])


def raw_tiles(x: np.ndarray, batch: int) -> list[torch.Tensor]:
    """Non-overlapping ``TILE`` tiles of a normalized ``(1, *lead, Y, X)`` array, in
    batches of up to ``batch`` tiles of one shape: ``(b, 1, ty, tx)`` tensors (edge tiles
    may be smaller)."""
    planes = x.reshape((-1,) + x.shape[-2:])
    tiles = [
        torch.from_numpy(np.ascontiguousarray(p[y : y + TILE, xx : xx + TILE]))
        for p in planes
        for y in range(0, p.shape[0], TILE)
        for xx in range(0, p.shape[1], TILE)
    ]
    by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for t in tiles:
        by_shape.setdefault(tuple(t.shape), []).append(t)
    return [
        torch.stack(group[i : i + batch])[:, None]
        for group in by_shape.values()
        for i in range(0, len(group), batch)
    ]


def window_tiles(x: np.ndarray, windows: list[tuple[slice, ...]], batch: int) -> list[torch.Tensor]:
    """Exactly ``predict``'s overlapping windows of a normalized ``(1, *lead, Y, X)`` array,
    in batches of up to ``batch``: ``(b, 1, ty, tx)`` tensors."""
    planes = x.reshape((-1,) + x.shape[-2:])
    tiles = [torch.from_numpy(np.ascontiguousarray(p[w])) for p in planes for w in windows]
    return [torch.stack(tiles[i : i + batch])[:, None] for i in range(0, len(tiles), batch)]


def run_raw_tiles(net: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    with torch.inference_mode():
        for b in batches:
            net(b)


def run_monai(
    net: torch.nn.Module, model: TrainedModel, image: np.ndarray, roi: tuple[int, int], batch: int
) -> np.ndarray:
    """MONAI sliding window over every 2D plane, with our normalization, softmax, argmax.

    All planes go in as one batch ``(N, 1, Y, X)``, so MONAI batches windows of different
    planes together (``sw_batch_size`` at a time), as our prediction does."""
    from monai.inferers import sliding_window_inference

    x = normalized(model, image)  # (1, *lead, Y, X)
    planes = torch.from_numpy(x.reshape((-1, 1) + image.shape[-2:]))  # (N, 1, Y, X)
    with torch.inference_mode():
        logits = sliding_window_inference(
            planes,
            roi_size=roi,
            sw_batch_size=batch,
            predictor=net,
            overlap=OVERLAP / max(roi),
            mode="gaussian",
        )
        labels = (logits.softmax(1).argmax(1) + 1).to(torch.uint8).numpy()
    return labels.reshape(image.shape)


def monai_tiles(shape: tuple[int, int], roi: tuple[int, int]) -> int:
    """Windows MONAI runs over one ``shape`` plane (its ``_get_scan_interval`` rule)."""
    count = 1
    for length, r in zip(shape, roi):
        if length <= r:
            continue
        interval = int(r * (1 - OVERLAP / max(roi)))
        count *= int(np.ceil((length - r) / interval)) + 1
    return count


def profile_ours(model: TrainedModel, image: np.ndarray, top: int) -> str:
    """cProfile of one prediction: where the time goes (sorted by own time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_ours(model, image)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def fold_batchnorm(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of an eval-mode U-Net with every BatchNorm folded into the convolution before
    it (prototype of a possible ``core`` optimisation: one memory pass less per layer)."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    for module in net.modules():
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, (torch.nn.Conv2d, torch.nn.Conv3d)) and isinstance(
                b, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
            ):
                setattr(module, name_a, fuse_conv_bn_eval(a, b))
                setattr(module, name_b, torch.nn.Identity())
    return net


def forward_variants(net: torch.nn.Module, tiles: int, repeats: int, peak: float) -> list[list]:
    """Raw forward of ``tiles`` 512x512 tiles (batch 4) under variants of the same model:
    where could the convolutions go faster? Rows: variant, seconds, Mpx/s, GFLOP/s, % of matmul."""
    x = torch.randn(tiles, 1, VARIANT_TILE, VARIANT_TILE)
    flops = model_flops(net, (1, 1, VARIANT_TILE, VARIANT_TILE)) * tiles
    folded = fold_batchnorm(net)
    variants = {
        "contiguous (as core does on CPU)": (net, torch.contiguous_format),
        "channels_last": (net, torch.channels_last),
        "BatchNorm folded": (folded, torch.contiguous_format),
        "BatchNorm folded + channels_last": (folded, torch.channels_last),
    }
    try:
        with torch.inference_mode():
            frozen = torch.jit.freeze(torch.jit.trace(net, x[:VARIANT_BATCH]))
        variants["torch.jit.trace + freeze"] = (frozen, torch.contiguous_format)
    except Exception as err:  # noqa: BLE001 - a prototype: report and go on
        print(f"(torch.jit.freeze variant skipped: {err})")
    rows = []
    for name, (model, fmt) in variants.items():
        batches = [
            x[i : i + VARIANT_BATCH].contiguous(memory_format=fmt)
            for i in range(0, tiles, VARIANT_BATCH)
        ]

        def run(model=model, batches=batches) -> None:
            with torch.inference_mode():
                for b in batches:
                    model(b)

        run()  # warm-up: oneDNN primitives, jit profiling
        seconds, _ = best_time(run, repeats)
        gflops = flops / seconds / 1e9
        rows.append(
            [
                name,
                seconds,
                tiles * VARIANT_TILE**2 / seconds / 1e6,
                gflops,
                f"{100 * gflops / peak:.0f}%",
            ]
        )
    return rows


def bench_case(
    name: str,
    image: np.ndarray,
    model: TrainedModel,
    repeats: int,
    peak: float,
    monai: bool,
    alt_tile: int = 0,
) -> list[dict]:
    """All methods on one input; returns one row dict per method."""
    net = model.network
    plane = image.shape[-2:]
    planes = int(np.prod(image.shape[:-2], dtype=int))
    mpx = image.size / 1e6
    tile_size, windows = tile_grid(
        plane, (TILE, TILE), (OVERLAP, OVERLAP), model.config.size_multiple
    )
    ours_flops = model_flops(net, (1, 1) + tile_size) * len(windows) * planes
    raw_tile = (min(TILE, plane[0]), min(TILE, plane[1]))
    tile_flops = model_flops(net, (1, 1) + raw_tile)
    batch = batch_for(tile_size)
    rows = []

    def add(method: str, seconds: float, flops: float | None, tiles: int | None) -> None:
        rows.append(
            {
                "input": name,
                "method": method,
                "seconds": seconds,
                "mpx_per_s": mpx / seconds,
                "tiles": tiles,
                "gflop": None if flops is None else flops / 1e9,
                "gflop_per_s": None if flops is None else flops / seconds / 1e9,
                "fraction_of_matmul": None if flops is None else flops / seconds / 1e9 / peak,
            }
        )

    x = normalized(model, image)
    batches = raw_tiles(x, batch_for(raw_tile))
    raw_tile_count = sum(len(b) for b in batches)
    # (label, function, FLOPs, tiles); run round-robin so that a change of the machine's
    # load during the run hits every method alike; each keeps its fastest run.
    methods: list[tuple[str, Callable[[], object], float, int]] = [
        ("napari-unet predict", lambda: run_ours(model, image), ours_flops, len(windows) * planes)
    ]
    if alt_tile and alt_tile != TILE:
        # Same code with the accelerator defaults (tile 1024, batches of 2^21 px), which
        # were also the CPU defaults before: what the CPU-specific defaults buy.
        size, wins = tile_grid(
            plane, (alt_tile, alt_tile), (OVERLAP, OVERLAP), model.config.size_multiple
        )
        alt_batch = max(1, 2**21 // int(np.prod(size)))
        methods.append(
            (
                f"predict, tile {alt_tile} batch {alt_batch}",
                lambda: run_ours(model, image, tile=alt_tile, batch_size=alt_batch),
                model_flops(net, (1, 1) + size) * len(wins) * planes,
                len(wins) * planes,
            )
        )
    if image.ndim == 2:
        methods.append(
            (
                "raw forward (whole)",
                lambda: run_raw_whole(net, x),
                model_flops(net, (1, 1) + plane),
                1,
            )
        )
    methods.append(
        (
            "raw forward (tiles)",
            lambda: run_raw_tiles(net, batches),
            tile_flops * sum(b.numel() for b in batches) / np.prod(raw_tile),
            raw_tile_count,
        )
    )
    if len(windows) > 1:
        # The same overlapping windows as predict, forward only: what the tiling machinery
        # (normalization, softmax, blending, labels) adds, apart from the overlap itself.
        same = window_tiles(x, windows, batch)
        methods.append(
            (
                "raw forward (same windows)",
                lambda: run_raw_tiles(net, same),
                ours_flops,
                len(windows) * planes,
            )
        )
    if monai:
        # Same windows as ours: roi_size = our tile size, overlap = OVERLAP / tile.
        roi = (tile_size[0], tile_size[1])
        n = monai_tiles(plane, roi) * planes
        methods.append(
            (
                "MONAI sliding window",
                lambda: run_monai(net, model, image, roi, batch),
                model_flops(net, (1, 1) + roi) * n,
                n,
            )
        )
        if min(plane) > TILE and roi != (TILE, TILE):
            # The same nominal tile and overlap as ours (roi = TILE): MONAI's fixed stride
            # then runs its own, more windows (3x3 of 1024 on 2048 where we run 2x2 of 1040).
            nominal = (TILE, TILE)
            n_nom = monai_tiles(plane, nominal) * planes
            methods.append(
                (
                    f"MONAI, tile {TILE} overlap {OVERLAP}",
                    lambda: run_monai(net, model, image, nominal, batch),
                    model_flops(net, (1, 1) + nominal) * n_nom,
                    n_nom,
                )
            )
    best = {label: float("inf") for label, *_ in methods}
    outputs: dict[str, object] = {}
    for _ in range(max(1, repeats)):
        for label, fn, _flops, _tiles in methods:
            seconds, outputs[label] = best_time(fn, 1)
            best[label] = min(best[label], seconds)
    for label, _fn, flops, tiles in methods:
        add(label, best[label], flops, tiles)
    if monai:
        for row in rows:
            if row["method"].startswith("MONAI"):
                agree = (outputs[row["method"]] == outputs["napari-unet predict"]).mean()
                row["label_agreement_with_ours"] = float(agree)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per method (best kept)")
    parser.add_argument("--size", type=int, default=2048, help="edge of the 2D image")
    parser.add_argument("--slices", type=int, default=32, help="slices of the 512x512 stack")
    parser.add_argument(
        "--inputs", choices=("both", "image", "stack"), default="both", help="which input(s) to run"
    )
    parser.add_argument(
        "--alt-tile",
        type=int,
        default=1024,
        help="also run predict with this tile size and batches of 2^21 px "
        "(the accelerator defaults; 0: no)",
    )
    parser.add_argument("--no-monai", action="store_true", help="skip the MONAI comparison")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of napari-unet predict on the 2D image",
    )
    parser.add_argument(
        "--variants",
        type=int,
        default=0,
        metavar="TILES",
        help="also time the raw forward of TILES 512x512 tiles under model "
        "variants (channels_last, folded BatchNorm, jit freeze)",
    )
    parser.add_argument(
        "--only-variants", action="store_true", help="skip the main comparison (with --variants)"
    )
    parser.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    args = parser.parse_args(argv)

    configure_cpu_threads()
    monai = not args.no_monai
    if monai:
        try:
            import monai.inferers  # noqa: F401
        except ImportError:
            print("MONAI is not installed (pip install monai); skipping that comparison.")
            monai = False
    machine = machine_summary()
    print_machine(machine)
    torch.manual_seed(0)
    model = default_model()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (args.size, args.size), dtype=np.uint8)
    stack = rng.integers(0, 256, (args.slices, 512, 512), dtype=np.uint8)
    run_ours(model, image[:256, :256])  # warm-up (oneDNN primitive caches, allocator)

    start = time.perf_counter()
    peak = matmul_gflops()
    variant_rows = []
    if args.variants:
        variant_rows = forward_variants(model.network, args.variants, args.repeats, peak)
        print(
            format_table(
                ["raw forward variant", "seconds", "Mpx/s", "GFLOP/s", "of matmul"], variant_rows
            )
        )
        print(f"(float32 matmul: {peak:.1f} GFLOP/s)\n")
        if args.only_variants:
            write_json(
                args.json,
                {"machine": machine, "matmul_gflop_per_s": peak, "variants": variant_rows},
            )
            return 0
    rows = []
    if args.inputs in ("both", "image"):
        rows += bench_case(
            f"{args.size}x{args.size}", image, model, args.repeats, peak, monai, args.alt_tile
        )
    if args.inputs in ("both", "stack"):
        rows += bench_case(
            f"{args.slices}x512x512", stack, model, args.repeats, peak, monai, args.alt_tile
        )
    peak_after = matmul_gflops()
    machine["load_average_after"] = machine_summary()["load_average"]

    table = [
        [
            r["input"],
            r["method"],
            r["tiles"],
            r["seconds"],
            r["mpx_per_s"],
            "-" if r["gflop_per_s"] is None else r["gflop_per_s"],
            "-" if r["fraction_of_matmul"] is None else f"{100 * r['fraction_of_matmul']:.0f}%",
        ]
        for r in rows
    ]
    print(
        format_table(
            ["input", "method", "tiles", "seconds", "Mpx/s", "GFLOP/s", "of matmul"], table
        )
    )
    print(
        f"\nfloat32 matmul 4096^3: {peak:.1f} GFLOP/s before, {peak_after:.1f} after "
        f"(the percentages use the one before); load average after: "
        f"{machine['load_average_after']}; {time.perf_counter() - start:.0f} s in all."
    )
    for name in {r["input"] for r in rows}:
        by = {r["method"]: r for r in rows if r["input"] == name}
        ours = by["napari-unet predict"]
        lines = [f"{name}:"]
        for base in ("raw forward (whole)", "raw forward (tiles)", "raw forward (same windows)"):
            if base in by:
                over = ours["seconds"] / by[base]["seconds"] - 1
                lines.append(f"overhead vs {base} {100 * over:+.0f}%")
        for label, m in by.items():
            if label.startswith("MONAI"):
                lines.append(
                    f"speed-up vs {label} x{m['seconds'] / ours['seconds']:.2f} (labels "
                    f"agree on {100 * m['label_agreement_with_ours']:.1f}% of pixels)"
                )
        print("  ".join(lines))
    if args.profile and args.inputs != "stack":
        print("\ncProfile of napari-unet predict on the 2D image (own time):")
        print(profile_ours(model, image, 15))
    write_json(
        args.json,
        {
            "machine": machine,
            "matmul_gflop_per_s": peak,
            "matmul_gflop_per_s_after": peak_after,
            "rows": rows,
            "variants": variant_rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
