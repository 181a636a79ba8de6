"""``napari-unet predict``: segment images with a model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_unet.core import (
    PredictionConfig, PredictionProgress, load_model, predict, run_to_completion,
)
from napari_unet.core.image_io import read_image, write_tiff

from ._inputs import add_device, image_layout
from ._progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="segment images; writes DIR/<stem>.tif (classes 1..K)")
    p.add_argument("--model", required=True, help="model file (.pt)")
    p.add_argument("--images", nargs="+", required=True, metavar="IMG")
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument("--instances", action="store_true", help="also write <stem>_instances.tif")
    p.add_argument("--probabilities", action="store_true",
                   help="also write <stem>_probabilities.tif (K, ...) float32")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    out_dir = Path(args.out_dir)
    config = PredictionConfig(probabilities=args.probabilities, instances=args.instances,
                              device=args.device)
    for path in args.images:
        image = read_image(path)
        rgb, channel_axis = image_layout(model.in_channels, image.shape)
        bar = ProgressBar(Path(path).name)

        def show(event: PredictionProgress, bar: ProgressBar = bar) -> None:
            bar.total = event.total
            bar.update(event.done, f"{event.done}/{event.total}")

        result = run_to_completion(
            predict(model, image, config=config, rgb=rgb, channel_axis=channel_axis), show)
        bar.close()
        stem = Path(path).stem
        write_tiff(out_dir / f"{stem}.tif", result.labels)
        if result.instances is not None:
            write_tiff(out_dir / f"{stem}_instances.tif", result.instances)
        if result.probabilities is not None:
            write_tiff(out_dir / f"{stem}_probabilities.tif", result.probabilities)
        print(f"{path} -> {out_dir / (stem + '.tif')}")
    return 0
