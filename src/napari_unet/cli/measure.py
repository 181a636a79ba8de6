"""``napari-unet measure``: a CSV table of the objects of instance labels (one row each).

Area (2D) or volume (3D), centroid and equivalent diameter in physical units, bounding
box in pixels, mean / min / max intensity per channel of IMAGE, eccentricity and solidity
in 2D, and with ``--classes`` each object's class. The pixel size comes from
``--voxel-size`` or else from the files' metadata (OME-Zarr scale and units, TIFF
resolution tags); without either, lengths are in pixels. TIFF and zarr inputs are read
block by block, never whole.
"""

from __future__ import annotations

import argparse

from napari_unet.core.analysis.measurements import AXES, measure_objects
from napari_unet.core.analysis.measurements_csv import write_table_csv
from napari_unet.core.analysis.spacing import Spacing, file_spacing
from napari_unet.core.errors import UserInputError
from napari_unet.core.io.image_files import OpenedImage, open_image

from ._inputs import add_channels, image_layout, with_file_channels
from ._validate import existing_image, output_file, positive_float

DEFAULT_UNIT = "µm"  # of --voxel-size when --unit is not given


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="measure the objects of instance labels (CSV, one row per object)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("labels", type=existing_image, help="instance labels (TIFF, PNG or zarr)")
    p.add_argument(
        "image",
        nargs="?",
        type=existing_image,
        help="the image they segment, for intensities (optional: shape only without it)",
    )
    p.add_argument("-o", "--out", required=True, type=output_file, metavar="OUT.csv")
    p.add_argument(
        "--voxel-size",
        nargs="+",
        type=positive_float,
        metavar="S",
        help="pixel size per axis: Y X for 2D labels, Z Y X for 3D (default: from the "
        "files' metadata, else 1 pixel)",
    )
    p.add_argument(
        "--unit",
        metavar="U",
        help=f"unit of --voxel-size (default {DEFAULT_UNIT}); without --voxel-size, the "
        "unit of the files' metadata",
    )
    p.add_argument(
        "--classes", type=existing_image, metavar="C", help="class map: adds a class column"
    )
    add_channels(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    labels = open_image(args.labels)
    ndim = len(labels.data.shape)
    image_data, channel_axis, image = None, None, None
    if args.image is not None:
        image = open_image(args.image)
        image_data, rgb, channel_axis = image_layout(
            image.data, args.image, with_file_channels(args, image)
        )
        channel_axis = -1 if rgb else channel_axis
    spacing, unit = _spacing(args, ndim, [(labels, None), (image, channel_axis)])
    classes = None if args.classes is None else open_image(args.classes).data
    table = measure_objects(
        labels.data,
        image_data,
        spacing=spacing,
        unit=unit,
        channel_axis=channel_axis,
        class_labels=classes,
    )
    out = write_table_csv(args.out, table)
    size = "pixels" if spacing is None else " x ".join(f"{s:g}" for s in spacing) + f" {unit}"
    print(f"{args.labels} -> {out} ({len(table['label'])} objects; pixel size {size})")
    return 0


def _spacing(
    args: argparse.Namespace, ndim: int, files: list[tuple[OpenedImage | None, int | None]]
) -> Spacing:
    """``--voxel-size`` (checked against the labels' axes), else the first file whose
    metadata gives a complete pixel size, else ``(None, None)``: pixels."""
    if args.voxel_size is not None:
        if len(args.voxel_size) != ndim or ndim not in AXES:
            axes = " ".join(AXES.get(ndim, ())).upper() or f"{ndim} values"
            raise UserInputError(
                f"--voxel-size got {len(args.voxel_size)} value(s) but the labels have "
                f"{ndim} axes; give {axes}."
            )
        return tuple(args.voxel_size), args.unit or DEFAULT_UNIT
    for opened, channel_axis in files:
        found = (None, None)
        if opened is not None:
            found = file_spacing(opened.info, opened.spec, ndim, channel_axis)
        if found[0] is not None:
            return found
    return None, None
