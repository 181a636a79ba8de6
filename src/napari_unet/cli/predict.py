"""``napari-unet predict``: segment images with a model file.

TIFF and PNG in: ``DIR/<stem>.tif`` out (the default). zarr / OME-Zarr in, or
``--out-format zarr``: ``DIR/<stem>.zarr`` (OME-Zarr labels), ``DIR/<stem>_instances.zarr``
and ``DIR/<stem>_probabilities.zarr``, written block by block; a killed run started again
with the same command resumes. ``--workers N`` runs on a local dask cluster of N worker
processes, ``--scheduler ADDRESS`` on an existing one (e.g. started by dask-jobqueue).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

from napari_unet.core import (
    PredictionConfig,
    PredictionProgress,
    TrainedModel,
    load_model,
    predict,
    run_to_completion,
)
from napari_unet.core.device import (
    available_cpu_cores,
    describe_compute,
    precision_policy,
    select_device,
)
from napari_unet.core.errors import UserInputError
from napari_unet.core.io.disk_space import disk_full_error, is_disk_full
from napari_unet.core.io.image_files import OpenedImage, open_image, write_tiff
from napari_unet.core.io.zarr_files import zarr_sink
from napari_unet.core.oom import OutOfMemoryRetry
from napari_unet.core.prediction.cluster import ClusterChoice, cluster_client, prediction_settings
from napari_unet.core.prediction.engine import block_plan
from napari_unet.core.prediction.instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH
from napari_unet.core.prediction.object_scale import ObjectScale, predict_at_model_scale

from ._claims import check_prediction_memory, zarr_output_bytes
from ._inputs import add_channels, add_device, check_layout, image_layout, with_file_channels
from ._outputs import plan_outputs
from ._progress import ProgressBar
from ._validate import (
    existing_file,
    existing_image,
    float_in_range,
    int_in_range,
    output_dir,
    scheduler_address,
)

OUT_FORMATS = ("auto", "tiff", "zarr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="segment images; writes DIR/<stem>.tif or DIR/<stem>.zarr (classes 1..K)"
    )
    p.add_argument(
        "--model",
        required=True,
        type=existing_file,
        help="model file (.pt, or a .zip exported by napari-unet export)",
    )
    p.add_argument(
        "--images",
        nargs="+",
        required=True,
        metavar="IMG",
        type=existing_image,
        help="TIFF, PNG, zarr array or OME-Zarr image (.zarr; level 0 is used)",
    )
    p.add_argument("--out-dir", required=True, metavar="DIR", type=output_dir)
    p.add_argument("--instances", action="store_true", help="also write <stem>_instances")
    p.add_argument(
        "--probabilities",
        action="store_true",
        help="also write <stem>_probabilities (K, ...) float32",
    )
    p.add_argument(
        "--min-size",
        type=int_in_range(0, 10**9),
        default=DEFAULT_MIN_SIZE,
        metavar="PIXELS",
        help="with --instances: drop objects smaller than this (pixels; voxels "
        f"for a 3D model); default {DEFAULT_MIN_SIZE}",
    )
    p.add_argument(
        "--split-strength",
        type=float_in_range(0.0, 1.0),
        default=DEFAULT_SPLIT_STRENGTH,
        metavar="S",
        help="with --instances: 0 never splits touching objects, 1 "
        "splits at the widest necks; a neck narrower than S times "
        f"the smaller object's width is cut; default "
        f"{DEFAULT_SPLIT_STRENGTH}",
    )
    p.add_argument(
        "--object-size",
        choices=("off", "auto"),
        default="off",
        help="with --instances: auto measures the objects in a first pass and, if "
        "they are over 1.25x smaller or larger than those the model was "
        "trained on, segments the image resized to that size (TIFF/PNG "
        "outputs); off (default): at the image's own scale",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average the probabilities over 4 flips "
        "(4x the prediction time)",
    )
    p.add_argument(
        "--out-format",
        choices=OUT_FORMATS,
        default="auto",
        help="auto (default): zarr for zarr inputs and cluster runs, TIFF otherwise",
    )
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        type=scheduler_address,
        help="run on this dask.distributed cluster (e.g. tcp://host:8786)",
    )
    cluster.add_argument(
        "--workers",
        type=int_in_range(1, 4096),
        default=None,
        metavar="N",
        help="run on a local dask cluster of N worker processes",
    )
    p.add_argument(
        "--block",
        type=int_in_range(16, 1 << 20),
        default=None,
        metavar="PX",
        help="block edge for images larger than one block (default 4096 in 2D)",
    )
    add_channels(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    on_cluster = args.scheduler is not None or args.workers is not None
    if on_cluster and args.out_format == "tiff":
        raise UserInputError(
            "A cluster run writes zarr outputs; drop --out-format tiff "
            "or run without --scheduler / --workers."
        )
    model = load_model(args.model)
    out_dir = Path(args.out_dir)
    config = PredictionConfig(
        probabilities=args.probabilities,
        instances=args.instances,
        device=args.device,
        min_object_size=args.min_size,
        split_strength=args.split_strength,
        block=args.block,
        tta=args.tta,
    )
    if args.workers is not None:  # the cores shared out among the worker processes
        config = replace(config, threads=max(1, available_cpu_cores() // args.workers))
    opened = [open_image(path) for path in args.images]  # bad paths fail before any work
    zarr_out = [
        on_cluster or args.out_format == "zarr" or (args.out_format == "auto" and bool(image.info))
        for image in opened
    ]
    tiff_inputs = [p for p, z in zip(args.images, zarr_out) if not z]
    suffixes = [
        "",
        *(["_instances"] if args.instances else []),
        *(["_probabilities"] if args.probabilities else []),
    ]
    plan_outputs(tiff_inputs, out_dir, suffixes, protected=[args.model])  # refuses clashes
    for path, image, to_zarr in zip(args.images, opened, zarr_out):
        if to_zarr and (out_dir / f"{image.stem}.zarr").resolve() == Path(path).resolve():
            raise UserInputError(
                f"Writing {out_dir / (image.stem + '.zarr')} would replace the "
                f"input {path}; choose another --out-dir."
            )
    for path, image, to_zarr in zip(args.images, opened, zarr_out):
        layout = check_layout(
            tuple(image.data.shape), path, with_file_channels(args, image), model.in_channels
        )
        check_prediction_memory(path, tuple(image.data.shape), layout, model, config, to_zarr)
    device = select_device(args.device)  # after the inputs: a bad input is one line only
    print(describe_compute(device, precision_policy(device, config.precision)), file=sys.stderr)
    with _client(args) as client:
        for path, image, to_zarr in zip(args.images, opened, zarr_out):
            try:
                target = _predict_one(
                    model,
                    image,
                    path,
                    args,
                    config,
                    out_dir,
                    to_zarr,
                    client,
                    _fingerprint(args.model, path, config),
                )
            except OSError as err:  # zarr outputs (TIFF ones say it in write_tiff)
                if not (is_disk_full(err) and (to_zarr or client is not None)):
                    raise
                raise disk_full_error(
                    out_dir / f"{image.stem}.zarr",
                    zarr_output_bytes(image.data.shape, model, config),
                    resumable=True,
                ) from None
            print(f"{path} -> {target}")
    return 0


def _predict_one(
    model: TrainedModel,
    image: OpenedImage,
    path: str,
    args: argparse.Namespace,
    config: PredictionConfig,
    out_dir: Path,
    zarr_out: bool,
    client: Any,
    fingerprint: dict,
) -> Path:
    """Predict one image; returns the path of its class labels."""
    args = with_file_channels(args, image)
    data, rgb, channel_axis = image_layout(image.data, path, args, model.in_channels)
    image = replace(image, data=data)
    if client is not None:
        from napari_unet.core.prediction.distributed import predict_on_cluster

        if image.spec is None:
            raise UserInputError(f"{image.stem}: a cluster run needs a TIFF or zarr image.")
        work = predict_on_cluster(
            client,
            model,
            image.spec,
            out_dir,
            image.stem,
            config=config,
            channel_axis=channel_axis,
            rgb=rgb,
            info=image.info,
            fingerprint=fingerprint,
        )
    else:
        output = None
        if zarr_out:
            from napari_unet.core.prediction.image_job import prepare_job

            shape = prepare_job(
                image.data,
                model.spatial_dims,
                in_channels=model.in_channels,
                normalization=None,
                channel_axis=channel_axis,
                rgb=rgb,
            ).shape
            output = zarr_sink(
                out_dir,
                image.stem,
                block_plan(model, shape, config),
                model.num_classes,
                config,
                fingerprint=fingerprint,
                info=image.info,
                channel_axis=channel_axis,
            )
        if output is None and args.instances and args.object_size == "auto":
            work = predict_at_model_scale(
                model, image.data, config=config, rgb=rgb, channel_axis=channel_axis
            )
        else:
            work = predict(
                model, image.data, config=config, rgb=rgb, channel_axis=channel_axis, output=output
            )
    result = _with_progress(work, image.stem)
    if zarr_out or client is not None:
        return out_dir / f"{image.stem}.zarr"
    write_tiff(out_dir / f"{image.stem}.tif", result.labels)
    if result.instances is not None:
        write_tiff(out_dir / f"{image.stem}_instances.tif", result.instances)
    if result.probabilities is not None:
        write_tiff(out_dir / f"{image.stem}_probabilities.tif", result.probabilities)
    return out_dir / f"{image.stem}.tif"


def _with_progress(work: Generator[PredictionProgress, None, Any], label: str) -> Any:
    bar = ProgressBar(label)

    def show(event: PredictionProgress | OutOfMemoryRetry | ObjectScale) -> None:
        if isinstance(event, OutOfMemoryRetry):
            print(event.message, file=sys.stderr)
            return
        if isinstance(event, ObjectScale):  # said only when it changed something
            if event.factor != 1.0:
                print(("\n" if bar.enabled else "") + f"{label}: {event.reason}", file=sys.stderr)
            return
        bar.total = event.total
        bar.update(event.done, f"{event.done}/{event.total} blocks")

    try:
        return run_to_completion(work, show)
    finally:
        bar.close()


def _fingerprint(model_path: str, image_path: str, config: PredictionConfig) -> dict:
    """What must match for a zarr output to be resumed: model file, image, settings."""
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    return {
        "model_sha256": digest,
        "image": str(Path(image_path).resolve()),
        **prediction_settings(config),
    }


def _client(args: argparse.Namespace) -> Any:
    """A context giving the dask.distributed client of ``--scheduler`` / ``--workers``
    (None without them); see :func:`napari_unet.core.prediction.cluster.cluster_client`."""
    if args.scheduler is not None:
        choice = ClusterChoice("address", address=args.scheduler, timeout=20.0)
    elif args.workers is not None:
        choice = ClusterChoice("local", workers=args.workers)
    else:
        choice = ClusterChoice()
    return cluster_client(choice)
