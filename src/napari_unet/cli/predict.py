"""``napari-unet predict``: segment images with a model file.

TIFF and PNG in: ``DIR/<stem>.tif`` out (the default). zarr / OME-Zarr in, or
``--out-format zarr``: ``DIR/<stem>.zarr`` (OME-Zarr labels), ``DIR/<stem>_instances.zarr``
and ``DIR/<stem>_probabilities.zarr``, written block by block; a killed run started again
with the same command resumes. ``--workers N`` runs on a local dask cluster of N worker
processes, ``--scheduler ADDRESS`` on an existing one (e.g. started by dask-jobqueue).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from napari_unet.core import (
    PredictionConfig,
    PredictionProgress,
    PredictionResult,
    TrainedModel,
    load_model,
    run_to_completion,
)
from napari_unet.core.device import describe_compute, precision_policy, select_device
from napari_unet.core.errors import UserInputError
from napari_unet.core.io.disk_space import disk_full_error, is_disk_full
from napari_unet.core.io.image_files import OpenedImage, open_image
from napari_unet.core.oom import OutOfMemoryRetry
from napari_unet.core.prediction.batch import with_file_voxel_size, write_objects_table
from napari_unet.core.prediction.boundary_instances import DEFAULT_MERGE_THRESHOLD
from napari_unet.core.prediction.boundary_instances import DEFAULT_MIN_SIZE as BOUNDARY_MIN_SIZE
from napari_unet.core.prediction.cluster import ClusterChoice, cluster_client
from napari_unet.core.prediction.instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH
from napari_unet.core.prediction.job import PredictionJob, ResultsTo, RunStarted
from napari_unet.core.prediction.job import run as run_job
from napari_unet.core.prediction.object_scale import ObjectScale
from napari_unet.core.project import Project

from ._claims import check_prediction_memory, zarr_output_bytes
from ._inputs import add_channels, add_device, check_layout, image_layout, with_file_channels
from ._outputs import plan_outputs
from ._progress import ProgressBar
from ._validate import (
    class_value_or_none,
    existing_file,
    float_in_range,
    images_named,
    int_in_range,
    output_dir,
    positive_float,
    scheduler_address,
)

OUT_FORMATS = ("auto", "tiff", "zarr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="segment images; writes DIR/<stem>.tif or DIR/<stem>.zarr (classes 1..K)"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model",
        type=existing_file,
        help="model file (.pt, or a .zip exported by napari-unet export)",
    )
    source.add_argument(
        "--project",
        metavar="DIR",
        help="use the current model of this napari-unet project (instead of --model)",
    )
    p.add_argument(
        "--images",
        nargs="+",
        required=True,
        metavar="IMG",
        type=images_named,
        help="TIFF, PNG, zarr array or OME-Zarr image (.zarr; level 0 is used), a folder "
        "of them, or a quoted glob pattern such as 'plate1/*.tif'",
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
        default=None,
        metavar="PIXELS",
        help="with --instances: drop objects smaller than this (pixels; voxels "
        f"for a 3D model); default {DEFAULT_MIN_SIZE}, or {BOUNDARY_MIN_SIZE} for cells "
        "bounded by a class (smaller regions join their neighbours)",
    )
    p.add_argument(
        "--boundary-class",
        type=class_value_or_none,
        default=None,
        metavar="K",
        help="with --instances: objects are the cells enclosed by class K (membranes, "
        "cell walls); 'none': objects of the foreground classes, split where they touch "
        "(nuclei). Default: the class the model was trained with as boundary "
        "(train --boundary-class), else none",
    )
    p.add_argument(
        "--merge-threshold",
        type=float_in_range(0.0, 1.0),
        default=DEFAULT_MERGE_THRESHOLD,
        metavar="T",
        help="with cells bounded by a class: neighbouring regions whose shared face has a "
        "mean boundary probability below T become one cell (0 keeps every region of the "
        f"over-segmentation, 1 merges most); default {DEFAULT_MERGE_THRESHOLD}",
    )
    p.add_argument(
        "--voxel-size",
        nargs="+",
        type=positive_float,
        metavar="S",
        help="with cells bounded by a class: the image's voxel size, Z Y X for a stack (Y X "
        "in 2D), in any one unit: the cells' seeds and smoothing follow it (an anisotropic "
        "stack: e.g. 2 1 1); default: the file's own (OME-Zarr scale, TIFF resolution and "
        "ImageJ Z spacing), else isotropic",
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
        "--measure",
        action="store_true",
        help="with --instances: also write <stem>_objects.csv, one row per object (area or "
        "volume, centroid, equivalent diameter in the file's pixel size; bounding box; "
        "intensity per channel; class; in 2D eccentricity and solidity)",
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
    args.images = [path for named in args.images for path in named]  # folders, patterns
    if args.project is not None:
        args.model = str(Project.open(args.project).current_model_path())
    where = _where(args)
    if where.on_cluster and args.out_format == "tiff":
        raise UserInputError(
            "A cluster run writes zarr outputs; drop --out-format tiff "
            "or run without --scheduler / --workers."
        )
    if args.measure and not args.instances:
        raise UserInputError("--measure measures the objects of --instances: add --instances.")
    model = load_model(args.model)
    boundary = _boundary_class(args, model)
    out_dir = Path(args.out_dir)
    config = PredictionConfig(
        probabilities=args.probabilities,
        instances=args.instances,
        device=args.device,
        min_object_size=_min_size(args, boundary),
        boundary_class=boundary,
        merge_threshold=args.merge_threshold,
        voxel_size=_voxel_size(args, model),
        split_strength=args.split_strength,
        block=args.block,
        tta=args.tta,
    )
    opened = [open_image(path) for path in args.images]  # bad paths fail before any work
    zarr_out = [
        where.on_cluster
        or args.out_format == "zarr"
        or (args.out_format == "auto" and bool(image.info))
        for image in opened
    ]
    _check_outputs(args, opened, zarr_out, out_dir)
    for path, image, to_zarr in zip(args.images, opened, zarr_out):
        layout = check_layout(
            tuple(image.data.shape), path, with_file_channels(args, image), model.in_channels
        )
        check_prediction_memory(path, tuple(image.data.shape), layout, model, config, to_zarr)
    device = select_device(args.device)  # after the inputs: a bad input is one line only
    print(describe_compute(device, precision_policy(device, config.precision)), file=sys.stderr)
    with cluster_client(where) as client:  # one cluster for all the images
        for path, image, to_zarr in zip(args.images, opened, zarr_out):
            job = _job(
                model,
                image,
                path,
                args,
                config,
                where,
                ResultsTo("zarr" if to_zarr else "tiff", out_dir, image.stem),
            )
            result = _run_one(job, client, zarr_output_bytes(image.data.shape, model, config))
            print(f"{path} -> {job.results.labels_path}")
            if args.measure:
                print(f"{path} -> {write_objects_table(job, result, out_dir)}")
    return 0


def _check_outputs(
    args: argparse.Namespace, opened: list[OpenedImage], zarr_out: list[bool], out_dir: Path
) -> None:
    """Refuse outputs that would replace an input, the model or each other."""
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


def _job(
    model: TrainedModel,
    image: OpenedImage,
    path: str,
    args: argparse.Namespace,
    config: PredictionConfig,
    where: ClusterChoice,
    results: ResultsTo,
) -> PredictionJob:
    """The prediction job of one input file."""
    args = with_file_channels(args, image)
    data, rgb, channel_axis = image_layout(image.data, path, args, model.in_channels)
    config = with_file_voxel_size(config, image, data, rgb, channel_axis)
    return PredictionJob(
        model,
        data,
        name=str(Path(path).resolve()),
        config=config,
        where=where,
        results=results,
        channel_axis=channel_axis,
        rgb=rgb,
        source=image.spec,
        match_object_size=args.object_size == "auto",
        info=image.info,
    )


def _run_one(job: PredictionJob, client: Any, zarr_bytes: int) -> PredictionResult:
    """Run ``job`` with a progress bar; a full disk under zarr outputs is one line saying
    how much room the outputs need and that the run resumes (TIFF writes say it
    themselves)."""
    try:
        return _with_progress(run_job(job, client=client), job.results.stem)
    except OSError as err:
        if not (is_disk_full(err) and job.results.kind == "zarr"):
            raise
        raise disk_full_error(job.results.labels_path, zarr_bytes, resumable=True) from None


def _with_progress(work: Generator[PredictionProgress, None, Any], label: str) -> Any:
    bar = ProgressBar(label)

    def show(event: PredictionProgress | OutOfMemoryRetry | ObjectScale) -> None:
        if isinstance(event, OutOfMemoryRetry):
            print(event.message, file=sys.stderr)
            return
        if isinstance(event, RunStarted):
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


def _boundary_class(args: argparse.Namespace, model: TrainedModel) -> int | None:
    """The class whose enclosed cells are the instances: ``--boundary-class``, else the
    model's own; None for objects of the foreground classes."""
    if not args.instances:
        return None
    chosen = model.boundary_class if args.boundary_class is None else args.boundary_class
    if chosen == "none" or chosen is None:
        return None
    if not 1 <= chosen <= model.num_classes:
        raise UserInputError(
            f"--boundary-class {chosen}: the model has classes 1..{model.num_classes}; give "
            "the class painted on the membranes, or 'none' for objects split where they touch."
        )
    return int(chosen)


def _voxel_size(args: argparse.Namespace, model: TrainedModel) -> tuple[float, ...] | None:
    """``--voxel-size``, with at least as many values as the model segments axes at once."""
    if args.voxel_size is None:
        return None
    if not model.spatial_dims <= len(args.voxel_size) <= 3:
        axes = "Y X" if model.spatial_dims == 2 else "Z Y X"
        raise UserInputError(
            f"--voxel-size got {len(args.voxel_size)} value(s); this {model.spatial_dims}D "
            f"model needs {model.spatial_dims} ({axes}), or 3 for a stack."
        )
    return tuple(args.voxel_size)


def _min_size(args: argparse.Namespace, boundary: int | None) -> int:
    if args.min_size is not None:
        return args.min_size
    return DEFAULT_MIN_SIZE if boundary is None else BOUNDARY_MIN_SIZE


def _where(args: argparse.Namespace) -> ClusterChoice:
    """Where the command line's ``--scheduler`` / ``--workers`` ask the run to go."""
    if args.scheduler is not None:
        return ClusterChoice("address", address=args.scheduler, timeout=20.0)
    if args.workers is not None:
        return ClusterChoice("local", workers=args.workers)
    return ClusterChoice()
