"""``napari-unet predict``: segment images with a model file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_unet.core import (
    PredictionConfig, PredictionProgress, load_model, predict, run_to_completion,
)
from napari_unet.core.device import describe_compute, precision_policy, select_device
from napari_unet.core.image_io import read_image, write_tiff
from napari_unet.core.instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH
from napari_unet.core.oom import OutOfMemoryRetry

from ._inputs import add_channels, add_device, image_layout
from ._outputs import plan_outputs
from ._validate import existing_file, output_dir
from ._progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="segment images; writes DIR/<stem>.tif (classes 1..K)")
    p.add_argument("--model", required=True, type=existing_file, help="model file (.pt)")
    p.add_argument("--images", nargs="+", required=True, metavar="IMG", type=existing_file)
    p.add_argument("--out-dir", required=True, metavar="DIR", type=output_dir)
    p.add_argument("--instances", action="store_true", help="also write <stem>_instances.tif")
    p.add_argument("--probabilities", action="store_true",
                   help="also write <stem>_probabilities.tif (K, ...) float32")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE, metavar="PIXELS",
                   help="with --instances: drop objects smaller than this (pixels; voxels "
                        f"for a 3D model); default {DEFAULT_MIN_SIZE}")
    p.add_argument("--split-strength", type=float, default=DEFAULT_SPLIT_STRENGTH,
                   metavar="S", help="with --instances: 0 never splits touching objects, 1 "
                                     "splits at the widest necks; a neck narrower than S times "
                                     f"the smaller object's width is cut; default "
                                     f"{DEFAULT_SPLIT_STRENGTH}")
    add_channels(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    suffixes = ["", *(["_instances"] if args.instances else []),
                *(["_probabilities"] if args.probabilities else [])]
    plans = plan_outputs(args.images, args.out_dir, suffixes, protected=[args.model])
    model = load_model(args.model)
    config = PredictionConfig(probabilities=args.probabilities, instances=args.instances,
                              device=args.device, min_object_size=args.min_size,
                              split_strength=args.split_strength)
    device = select_device(args.device)
    print(describe_compute(device, precision_policy(device, config.precision)), file=sys.stderr)
    for path, plan in zip(args.images, plans):
        image, rgb, channel_axis = image_layout(read_image(path), path, args, model.in_channels)
        bar = ProgressBar(Path(path).name)

        def show(event: PredictionProgress | OutOfMemoryRetry, bar: ProgressBar = bar) -> None:
            if isinstance(event, OutOfMemoryRetry):
                print(event.message, file=sys.stderr)
                return
            bar.total = event.total
            bar.update(event.done, f"{event.done}/{event.total}")

        result = run_to_completion(
            predict(model, image, config=config, rgb=rgb, channel_axis=channel_axis), show)
        bar.close()
        write_tiff(plan[""], result.labels)
        if result.instances is not None:
            write_tiff(plan["_instances"], result.instances)
        if result.probabilities is not None:
            write_tiff(plan["_probabilities"], result.probabilities)
        print(f"{path} -> {plan['']}")
    return 0
