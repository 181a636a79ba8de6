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
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterator

from napari_unet.core import (
    PredictionConfig, PredictionProgress, TrainedModel, load_model, predict, run_to_completion,
)
from napari_unet.core.device import available_cpu_cores
from napari_unet.core.errors import UserInputError
from napari_unet.core.image_io import OpenedImage, open_image, write_tiff
from napari_unet.core.prediction import block_plan
from napari_unet.core.zarr_io import zarr_sink

from ._inputs import add_device
from ._progress import ProgressBar

OUT_FORMATS = ("auto", "tiff", "zarr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="segment images; writes DIR/<stem>.tif or DIR/<stem>.zarr "
                                       "(classes 1..K)")
    p.add_argument("--model", required=True, help="model file (.pt)")
    p.add_argument("--images", nargs="+", required=True, metavar="IMG",
                   help="TIFF, PNG, zarr array or OME-Zarr image (.zarr; level 0 is used)")
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument("--instances", action="store_true", help="also write <stem>_instances")
    p.add_argument("--probabilities", action="store_true",
                   help="also write <stem>_probabilities (K, ...) float32")
    p.add_argument("--out-format", choices=OUT_FORMATS, default="auto",
                   help="auto (default): zarr for zarr inputs and cluster runs, TIFF otherwise")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", default=None,
                         help="run on this dask.distributed cluster (e.g. tcp://host:8786)")
    cluster.add_argument("--workers", type=int, default=None, metavar="N",
                         help="run on a local dask cluster of N worker processes")
    p.add_argument("--block", type=int, default=None, metavar="PX",
                   help="block edge for images larger than one block (default 4096 in 2D)")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise UserInputError("--workers must be at least 1.")
    on_cluster = args.scheduler is not None or args.workers is not None
    if on_cluster and args.out_format == "tiff":
        raise UserInputError("A cluster run writes zarr outputs; drop --out-format tiff "
                             "or run without --scheduler / --workers.")
    model = load_model(args.model)
    out_dir = Path(args.out_dir)
    config = PredictionConfig(probabilities=args.probabilities, instances=args.instances,
                              device=args.device, block=args.block)
    if args.workers is not None:  # the cores shared out among the worker processes
        config = replace(config, threads=max(1, available_cpu_cores() // args.workers))
    opened = [open_image(path) for path in args.images]  # bad paths fail before any work
    with _client(args) as client:
        for path, image in zip(args.images, opened):
            zarr_out = client is not None or args.out_format == "zarr" or (
                args.out_format == "auto" and bool(image.info))
            target = _predict_one(model, image, config, out_dir, zarr_out, client,
                                  _fingerprint(args.model, path, config))
            print(f"{path} -> {target}")
    return 0


def _predict_one(model: TrainedModel, image: OpenedImage, config: PredictionConfig,
                 out_dir: Path, zarr_out: bool, client: Any, fingerprint: dict) -> Path:
    """Predict one image; returns the path of its class labels."""
    rgb, channel_axis = _layout(model, image)
    if client is not None:
        from napari_unet.core.distributed import predict_on_cluster

        if image.spec is None:
            raise UserInputError(f"{image.stem}: a cluster run needs a TIFF or zarr image.")
        work = predict_on_cluster(client, model, image.spec, out_dir, image.stem,
                                  config=config, channel_axis=channel_axis, rgb=rgb,
                                  info=image.info, fingerprint=fingerprint)
    else:
        output = None
        if zarr_out:
            from napari_unet.core.image_job import prepare_job

            shape = prepare_job(image.data, model.spatial_dims, in_channels=model.in_channels,
                                normalization=None, channel_axis=channel_axis, rgb=rgb).shape
            output = zarr_sink(out_dir, image.stem, block_plan(model, shape, config),
                               model.num_classes, config, fingerprint=fingerprint,
                               info=image.info, channel_axis=channel_axis)
        work = predict(model, image.data, config=config, rgb=rgb, channel_axis=channel_axis,
                       output=output)
    result = _with_progress(work, image.stem)
    if zarr_out or client is not None:
        return out_dir / f"{image.stem}.zarr"
    write_tiff(out_dir / f"{image.stem}.tif", result.labels)
    if result.instances is not None:
        write_tiff(out_dir / f"{image.stem}_instances.tif", result.instances)
    if result.probabilities is not None:
        write_tiff(out_dir / f"{image.stem}_probabilities.tif", result.probabilities)
    return out_dir / f"{image.stem}.tif"


def _layout(model: TrainedModel, image: OpenedImage) -> tuple[bool, int | None]:
    """(rgb, channel_axis) of an image for ``model``: OME channel axis, RGB last, or axis 0."""
    shape = image.data.shape
    if image.channel_axis is not None:
        return False, image.channel_axis
    rgb = model.in_channels in (3, 4) and len(shape) >= 3 and shape[-1] == model.in_channels
    return rgb, 0 if (model.in_channels > 1 and not rgb) else None


def _with_progress(work: Generator[PredictionProgress, None, Any], label: str) -> Any:
    bar = ProgressBar(label)

    def show(event: PredictionProgress) -> None:
        bar.total = event.total
        bar.update(event.done, f"{event.done}/{event.total} blocks")

    try:
        return run_to_completion(work, show)
    finally:
        bar.close()


def _fingerprint(model_path: str, image_path: str, config: PredictionConfig) -> dict:
    """What must match for a zarr output to be resumed: model file, image, settings."""
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    settings = {k: v for k, v in asdict(config).items() if k not in ("device", "threads")}
    return {"model_sha256": digest, "image": str(Path(image_path).resolve()), **settings}


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    """A dask.distributed client for ``--scheduler`` / ``--workers``, or None."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if args.scheduler is not None:
        try:
            client = Client(args.scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise UserInputError(f"Could not reach the dask scheduler at {args.scheduler}: "
                                 f"{err}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
