"""``napari-unet robustness``: Dice against the strength of a perturbation, as CSV and PNG.

Perturbs every image at every level, predicts, and writes one row per level,
``perturbation,level,dice_vs_clean[,dice_vs_truth]`` (means over images; attacks add
``fraction_changed,linf,l2,snr_db,below_quantization``, see
:data:`napari_unet.core.robustness.CSV_COLUMNS`), to ``--out`` and the plot beside it
(same name, ``.png``). Units: noise = Gaussian sigma and attacks = eps
in the model's normalized intensity; blur = Gaussian sigma in pixels; rotation = degrees
about the centre; scale = zoom factor (1 = none); contrast = gamma (1 = none).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_unet.core.errors import UserInputError
from napari_unet.core.robustness.perturbations import KINDS, UNITS

from ._claims import check_held_whole
from ._inputs import add_channels, add_device, check_pairs, open_inputs
from ._progress import ProgressBar
from ._validate import (
    existing_file,
    existing_image,
    int_in_range,
    output_file,
    positive_int,
    seed,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness",
        help="Dice against noise, blur, rotation, scale, "
        "contrast or an attack, at several levels (CSV + PNG)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "--model",
        required=True,
        type=existing_file,
        help="model file (.pt, or a .zip exported by napari-unet export)",
    )
    p.add_argument(
        "--images",
        required=True,
        nargs="+",
        metavar="I",
        type=existing_image,
        help="TIFF, PNG or zarr / OME-Zarr images (level 0; read lazily)",
    )
    p.add_argument(
        "--perturbation",
        required=True,
        choices=KINDS,
        help="; ".join(f"{k}: {u}" for k, u in UNITS.items()),
    )
    p.add_argument(
        "--levels",
        required=True,
        nargs="+",
        type=float,
        metavar="L",
        help="strengths in the perturbation's unit (e.g. 0 0.05 0.1 for noise)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE.csv",
        type=output_file,
        help="CSV to write; the plot goes to the same name with .png",
    )
    p.add_argument(
        "--truth",
        nargs="+",
        metavar="T",
        default=None,
        type=existing_file,
        help="ground truth per image (classes 1..K, or a dense mask with 0, e.g. "
        "0/255): adds dice_vs_truth",
    )
    p.add_argument(
        "--steps", type=positive_int, default=None, help="attack iterations (attacks only)"
    )
    p.add_argument(
        "--eot-samples",
        type=int_in_range(1, 1000),
        default=8,
        help="random transforms per step of the EOT attack (default 8)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the noise (default 0)")
    add_channels(p)
    add_device(p)
    p.set_defaults(run=run)


def _check_out(out: Path, inputs: list[str]) -> Path:
    """``--out`` ends in .csv, and neither it nor its .png replaces an input file."""
    if out.suffix.lower() != ".csv":
        raise UserInputError(f"--out {out} must end in .csv (the plot goes beside it as .png).")
    for path in (out, out.with_suffix(".png")):
        for name in inputs:
            if path.exists() and path.samefile(name):
                raise UserInputError(
                    f"--out would replace the input {name}; choose another file name."
                )
    return out


def run(args: argparse.Namespace) -> int:
    from napari_unet.core import load_model, run_to_completion
    from napari_unet.core.io.image_files import read_image
    from napari_unet.core.metrics import truth_classes
    from napari_unet.core.robustness import check_levels, perturbation_curve

    levels = check_levels(args.perturbation, args.levels)
    if args.truth is not None:
        check_pairs(args.images, args.truth, "images", "truths")
    out = _check_out(Path(args.out), [args.model, *args.images, *(args.truth or [])])
    model = load_model(args.model)
    images, rgb, channel_axis = open_inputs(args.images, args, model.in_channels)
    for name, image in zip(args.images, images):
        check_held_whole(name, image)  # each image is held whole: bounded first
    truths = None if args.truth is None else [truth_classes(read_image(t)) for t in args.truth]
    bar = ProgressBar(f"{args.perturbation}", total=1.0)
    work = perturbation_curve(
        model,
        images,
        args.perturbation,
        levels,
        truths=truths,
        seed=args.seed,
        attack_steps=args.steps,
        attack_options=_attack_options(args),
        rgb=rgb,
        channel_axis=channel_axis,
        device=args.device,
    )
    curve = run_to_completion(
        work,
        lambda ev: bar.update(ev.progress, f"level {ev.level:g}, image {ev.image + 1}/{ev.images}"),
    )
    bar.close()
    csv_path = curve.to_csv(out)
    png_path = curve.plot(out.with_suffix(".png"))
    print(json.dumps({"csv": str(csv_path), "png": str(png_path), "rows": curve.rows}, indent=2))
    for row in curve.rows:
        truth = f", vs truth {row['dice_vs_truth']:.4f}" if "dice_vs_truth" in row else ""
        print(
            f"{args.perturbation} {row['level']:g}: Dice vs clean {row['dice_vs_clean']:.4f}"
            f"{truth}",
            file=sys.stderr,
        )
    note = curve.quantization_warning()
    if note:
        print(f"napari-unet robustness: note: {note}", file=sys.stderr)
    return 0


def _attack_options(args: argparse.Namespace) -> dict:
    return {"samples": args.eot_samples} if args.perturbation == "eot" else {}
