"""``napari-unet export``: write a model as a bioimage.io model package (.zip)."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_unet.core import channels_first, load_model
from napari_unet.core.io.image_files import read_image
from napari_unet.core.model.bioimageio_export import ExportOptions, export_bioimageio

from ._inputs import add_channels, image_layout


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a bioimage.io model package (.zip, format 0.5)")
    p.add_argument(
        "--model", required=True, help="model file (.pt, or a .zip exported by napari-unet export)"
    )
    p.add_argument("--out", required=True, metavar="PKG.zip")
    p.add_argument(
        "--sample-image",
        required=True,
        metavar="IMG",
        help="an image the model was trained on (TIFF/PNG); a centred crop becomes "
        "the package's test input and cover (the model file stores no image)",
    )
    p.add_argument("--name", help="model name (default: the model file's name)")
    p.add_argument(
        "--author",
        action="append",
        metavar="NAME",
        help="author (repeat for several; default: 'napari-unet user')",
    )
    p.add_argument("--license", default="CC-BY-4.0", help="SPDX license id (default CC-BY-4.0)")
    p.add_argument(
        "--trained-on",
        metavar="TEXT",
        help="what the model was trained on, for the documentation "
        "(default: names the sample image)",
    )
    p.add_argument("--description", default="", help="one-paragraph description")
    add_channels(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    image, rgb, channel_axis = image_layout(
        read_image(args.sample_image), args.sample_image, args, model.in_channels
    )
    options = ExportOptions(
        name=args.name or f"napari-unet {Path(args.model).stem}",
        trained_on=args.trained_on
        or (
            f"Sparse strokes painted in napari-unet on images such as "
            f"`{Path(args.sample_image).name}` (the test image of this package)."
        ),
        authors=args.author or ["napari-unet user"],
        license=args.license,
        description=args.description,
    )
    out = export_bioimageio(model, channels_first(image, channel_axis, rgb), args.out, options)
    print(f"{args.model} -> {out}")
    return 0
