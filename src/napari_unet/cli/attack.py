"""``napari-unet attack``: adversarial examples for a trained model, with their metrics.

Writes ``DIR/<stem>_adversarial.tif`` (the image's dtype) and ``DIR/<stem>_perturbation.tif``
(float32, raw intensity units) per image, and prints one JSON object with clean and
adversarial Dice against the clean prediction, pixels changed and perturbation norms.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_unet.core.attacks import ATTACKS, DEFAULT_STEPS, make_attack
from napari_unet.core.errors import UserInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attack", help="make adversarial images and measure the damage",
        description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model file (.pt)")
    parser.add_argument("--images", required=True, nargs="+", help="TIFF or PNG images")
    parser.add_argument("--attack", required=True, choices=sorted(ATTACKS),
                        help="fgsm, pgd, segpgd, dag, eot (L-inf) or cw (L2, eps caps it)")
    parser.add_argument("--eps", required=True, type=float,
                        help="L-inf budget in normalized intensity units (e.g. 0.0157 = 4/255)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"iterations (defaults: {DEFAULT_STEPS})")
    parser.add_argument("--out-dir", required=True, help="output folder")
    parser.add_argument("--target", type=int, default=None,
                        help="targeted attack: push pixels to this class value (1..K)")
    parser.add_argument("--eot-samples", type=int, default=8,
                        help="eot: random rotations/zooms/noise per step (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from napari_unet.core import load_model, run_to_completion
    from napari_unet.core.image_io import read_image, write_tiff

    if not args.eps >= 0:
        raise UserInputError(f"--eps must be >= 0 (normalized units), got {args.eps}.")
    if args.steps is not None and args.steps < 1:
        raise UserInputError(f"--steps must be at least 1, got {args.steps}.")
    if args.eot_samples < 1:
        raise UserInputError(f"--eot-samples must be at least 1, got {args.eot_samples}.")
    if args.target is not None and args.target < 1:
        raise UserInputError(f"--target is a class value 1..K, got {args.target}.")
    model = load_model(args.model)
    if args.target is not None and args.target > model.num_classes:
        raise UserInputError(f"--target {args.target} does not exist: the model has classes "
                             f"1..{model.num_classes}.")
    try:
        options = {"samples": args.eot_samples} if args.attack == "eot" else {}
        attack = make_attack(args.attack, args.eps, args.steps, args.target, **options)
    except ValueError as err:
        raise UserInputError(str(err)) from None
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"--out-dir {out_dir} exists and is not a folder.")
    report = {"model": str(args.model), "attack": attack.describe(), "images": []}
    for name in args.images:
        path = Path(name)
        image = read_image(path)
        rgb = image.ndim == 3 and image.shape[-1] in (3, 4) and model.in_channels in (3, 4)
        result = run_to_completion(attack.run(model, image, rgb=rgb, device=args.device))
        adv_path = write_tiff(out_dir / f"{path.stem}_adversarial.tif", result.adversarial)
        pert_path = write_tiff(out_dir / f"{path.stem}_perturbation.tif",
                               result.perturbation.astype("float32"))
        entry = {"image": str(path), "adversarial": str(adv_path),
                 "perturbation": str(pert_path), **result.to_dict()}
        report["images"].append(entry)
        print(f"{path.name}: Dice {entry['dice_clean']:.3f} -> {entry['dice_adversarial']:.3f}, "
              f"{100 * entry['fraction_changed']:.2f}% pixels changed", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0
