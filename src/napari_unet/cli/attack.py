"""``napari-unet attack``: adversarial examples for a trained model, with their metrics.

Writes ``DIR/<stem>_adversarial.tif`` (the image's dtype, or float32 with
``--output-dtype float32``) and ``DIR/<stem>_perturbation.tif`` (float32, raw intensity
units) per image, and prints one JSON object with clean and adversarial Dice against the
clean prediction, pixels changed and perturbation norms. When eps is below one grey level
of an integer image (a dim image: its normalization spans few levels), the image's dtype
cannot hold the perturbation: a warning says so (``below_quantization`` in the JSON), and
``--output-dtype float32`` keeps it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_unet.core.attacks import ATTACKS, DEFAULT_STEPS, make_attack
from napari_unet.core.errors import UserInputError

from ._claims import check_held_whole
from ._inputs import add_channels, add_device, open_input
from ._outputs import plan_outputs
from ._validate import existing_file, existing_image, float_in_range, int_in_range, output_dir

OUTPUT_DTYPES = ("image", "float32")
FLOAT_HINT = "--output-dtype float32"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attack",
        help="make adversarial images and measure the damage",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--model",
        required=True,
        type=existing_file,
        help="model file (.pt, or a .zip exported by napari-unet export)",
    )
    parser.add_argument(
        "--images",
        required=True,
        nargs="+",
        type=existing_image,
        help="TIFF, PNG or zarr / OME-Zarr images (level 0)",
    )
    parser.add_argument(
        "--attack",
        required=True,
        choices=sorted(ATTACKS),
        help="fgsm, pgd, segpgd, dag, eot (L-inf) or cw (L2, eps caps it)",
    )
    parser.add_argument(
        "--eps",
        required=True,
        type=float_in_range(0.0, 1.0),
        help="L-inf budget in normalized intensity units (e.g. 0.0157 = 4/255)",
    )
    parser.add_argument(
        "--steps",
        type=int_in_range(1, 100_000),
        default=None,
        help=f"iterations (defaults: {DEFAULT_STEPS})",
    )
    parser.add_argument("--out-dir", required=True, type=output_dir, help="output folder")
    parser.add_argument(
        "--target",
        type=int_in_range(1, 255),
        default=None,
        help="targeted attack: push pixels to this class value (1..K)",
    )
    parser.add_argument(
        "--eot-samples",
        type=int_in_range(1, 1000),
        default=8,
        help="eot: random rotations/zooms/noise per step (default 8)",
    )
    parser.add_argument(
        "--output-dtype",
        choices=OUTPUT_DTYPES,
        default="image",
        help="dtype of the adversarial images: the input's (default; an "
        "integer image rounds away a perturbation below one grey level) "
        "or float32 (keeps every perturbation; the metrics are measured "
        "on what is written)",
    )
    add_channels(parser)
    add_device(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from napari_unet.core import load_model, run_to_completion
    from napari_unet.core.io.image_files import write_tiff

    plans = plan_outputs(
        args.images, args.out_dir, ["_adversarial", "_perturbation"], protected=[args.model]
    )
    model = load_model(args.model)
    if args.target is not None and args.target > model.num_classes:
        raise UserInputError(
            f"--target {args.target} does not exist: the model has classes 1..{model.num_classes}."
        )
    try:
        options = {"samples": args.eot_samples} if args.attack == "eot" else {}
        attack = make_attack(args.attack, args.eps, args.steps, args.target, **options)
    except ValueError as err:
        raise UserInputError(str(err)) from None
    report = {"model": str(args.model), "attack": attack.describe(), "images": []}
    for name, plan in zip(args.images, plans):
        path = Path(name)
        image, rgb, channel_axis = open_input(name, args, model.in_channels)
        check_held_whole(name, image)  # an attack holds the whole image: bounded first
        result = run_to_completion(
            attack.run(
                model,
                image,
                rgb=rgb,
                channel_axis=channel_axis,
                device=args.device,
                keep_float=args.output_dtype == "float32",
            )
        )
        adv_path = write_tiff(plan["_adversarial"], result.adversarial)
        pert_path = write_tiff(plan["_perturbation"], result.perturbation.astype("float32"))
        entry = {
            "image": str(path),
            "adversarial": str(adv_path),
            "perturbation": str(pert_path),
            **result.to_dict(),
        }
        report["images"].append(entry)
        print(
            f"{path.name}: Dice {entry['dice_clean']:.3f} -> {entry['dice_adversarial']:.3f}, "
            f"{100 * entry['fraction_changed']:.2f}% pixels changed",
            file=sys.stderr,
        )
        warning = result.quantization_warning(FLOAT_HINT)
        if warning:
            entry["warning"] = warning
            print(f"napari-unet attack: warning: {path.name}: {warning}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0
