"""Export a trained model as a bioimage.io model package (model format 0.5).

The package is a ``.zip`` that napari, ilastik, deepImageJ, Fiji and ``bioimageio.core`` read:

- weights as ``pytorch_state_dict`` with the architecture imported from the installed
  ``napari_unet`` library (``napari_unet.core.model.UNet`` with the model's settings as plain
  keyword arguments), and TorchScript weights when tracing reproduces the outputs;
- input ``raw`` with axes (batch, channel, y, x) or (batch, channel, z, y, x), float32 raw
  intensities, spatial sizes ``min + n * step`` with ``step = 2**depth`` (no internal padding);
  preprocessing ``scale_range`` per channel and per image with the model's percentiles
  (exactly :class:`~napari_unet.core.data.images.Normalization`);
- output ``probabilities`` (batch, class, spatial) after a ``softmax`` over the classes, with a
  halo: the border where the U-Net sees less context, cropped when blocks are stitched;
- test input/output tensors from a real image the model was trained on (the model file stores
  no image, so the caller supplies one: ``--sample-image`` on the command line, the training
  image in the Train widget), a cover (image | image with the predicted objects), documentation
  (what it was trained on, training rounds and validation Dice), authors, license, citations;
- :data:`~napari_unet.core.model.bioimageio_package.MARKER`, so napari-unet can load it back.

Needs the optional ``bioimageio.spec`` (``pip install napari-unet[bioimageio]``); imports
neither napari nor Qt.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError
from ..io.atomic_write import atomic_write
from . import bioimageio_package as package
from .environment_checks import check_export_environment
from .model_file import model_metadata
from .trained_model import TrainedModel

HALO = {2: 16, 3: 8}  # pixels of each border with less context than the centre
TEST_EDGE = {2: 256, 3: 32}  # largest test tensor edge (the package stays small)
CITATIONS = (
    (
        "Ronneberger, Fischer, Brox 2015. U-Net: Convolutional networks for biomedical image "
        "segmentation. MICCAI.",
        "10.1007/978-3-319-24574-4_28",
    ),
    (
        "napari contributors 2019. napari: a multi-dimensional image viewer for Python.",
        "10.5281/zenodo.3555620",
    ),
)


@dataclass
class ExportOptions:
    """What the package says about the model; everything has a sensible default."""

    name: str = "napari-unet model"
    trained_on: str = "images painted with sparse strokes in napari-unet"
    authors: list[str] = field(default_factory=lambda: ["napari-unet user"])
    license: str = "CC-BY-4.0"
    description: str = ""
    git_repo: str | None = None


@dataclass(frozen=True)
class Geometry:
    """Valid input sizes ``min + n * step`` per spatial axis and the output halo (pixels)."""

    min: int
    step: int
    halo: int


def geometry(model: TrainedModel) -> Geometry:
    """Sizes the U-Net takes without internal padding, and a halo that leaves a valid centre."""
    step = model.config.size_multiple
    halo = HALO[model.spatial_dims]
    minimum = step * int(np.ceil((2 * halo + step) / step))
    return Geometry(minimum, step, halo)


def crop_slices(spatial: tuple[int, ...], model: TrainedModel) -> tuple[slice, ...]:
    """Slices of a centred crop of an image of ``spatial`` shape with a valid package size
    (``min + n * step``, at most TEST_EDGE per axis); index lazily (dask, zarr) with them."""
    geo = geometry(model)
    if len(spatial) != model.spatial_dims:
        raise UserInputError(
            f"The sample image has {len(spatial)} spatial axes; the model "
            f"needs {model.spatial_dims}."
        )
    slices = []
    for length in spatial:
        if length < geo.min:
            raise UserInputError(
                f"The sample image is too small ({tuple(spatial)}): every axis needs at least "
                f"{geo.min} pixels for the package's test tensors."
            )
        edge = min(length, max(TEST_EDGE[model.spatial_dims], geo.min))
        size = geo.min + (edge - geo.min) // geo.step * geo.step
        start = (length - size) // 2
        slices.append(slice(start, start + size))
    return tuple(slices)


def test_crop(image_cf: np.ndarray, model: TrainedModel) -> np.ndarray:
    """A centred float32 crop of a ``(C, *spatial)`` image with a valid size (see
    :func:`crop_slices`)."""
    if image_cf.shape[0] != model.in_channels:
        raise UserInputError(
            f"The sample image has {image_cf.shape[0]} channel(s); the model "
            f"needs {model.in_channels} channel(s)."
        )
    slices = (slice(None),) + crop_slices(tuple(image_cf.shape[1:]), model)
    return np.ascontiguousarray(np.asarray(image_cf[slices]), dtype=np.float32)


def probabilities(model: TrainedModel, raw_cf: np.ndarray) -> np.ndarray:
    """``(1, K, *spatial)`` float32 softmax of the model on a whole ``(C, *spatial)`` crop,
    normalized exactly as the package's ``scale_range`` preprocessing does."""
    low, high = model.normalization.statistics(raw_cf)
    x = model.normalization.apply(raw_cf, low, high)
    network = model.network.cpu().eval()
    with torch.no_grad():
        logits = network(torch.from_numpy(x)[None])
    return torch.softmax(logits, dim=1).numpy().astype(np.float32)


def cover_image(raw_cf: np.ndarray, probs: np.ndarray, path: Path) -> Path:
    """A 2:1 PNG: the image (first channel, middle plane) | the image with predicted objects."""
    from skimage.io import imsave

    plane = raw_cf[0]
    labels = probs[0].argmax(0)
    while plane.ndim > 2:
        plane, labels = plane[plane.shape[0] // 2], labels[labels.shape[0] // 2]
    lo, hi = np.percentile(plane, [1, 99.8])
    grey = np.clip((plane - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    overlay = rgb.copy()
    palette = np.array([[1.0, 0.3, 0.9], [0.1, 0.9, 1.0], [1.0, 0.85, 0.1], [0.3, 1.0, 0.3]])
    for k in range(1, int(labels.max()) + 1):  # class index 0 (background) stays transparent
        mask = labels == k
        overlay[mask] = 0.45 * overlay[mask] + 0.55 * palette[(k - 1) % len(palette)]
    imsave(
        path, (np.concatenate([rgb, overlay], axis=1) * 255).astype(np.uint8), check_contrast=False
    )
    return path


def documentation(model: TrainedModel, options: ExportOptions, geo: Geometry) -> str:
    """Markdown: what the model does, what it was trained on, its training rounds."""
    c = model.config
    lines = [
        f"# {options.name}",
        "",
        options.description or "A U-Net trained in napari-unet from sparse painted strokes.",
        "",
        "## Model",
        "",
        f"{c.spatial_dims}D U-Net (Ronneberger et al. 2015), depth {c.depth}, "
        f"{c.base_channels} base channels, {c.norm} normalization, {c.up_mode} up-sampling; "
        f"{c.in_channels} input channel(s), {c.num_classes} classes: "
        + ", ".join(f"{i + 1} = {n}" for i, n in enumerate(model.classes.names))
        + ".",
        "",
        f"Input: raw intensities; each image is normalized per channel to its "
        f"{model.normalization.low_percentile}th and {model.normalization.high_percentile}th "
        f"percentiles (the package's `scale_range`). Spatial sizes {geo.min} + n x {geo.step}. "
        f"Output: class probabilities (softmax); the {geo.halo}-pixel border of each block has "
        "less context (halo). The predicted class of a pixel is the argmax + 1.",
        "",
        "## Training data",
        "",
        options.trained_on,
        "",
        "## Validation",
        "",
        "Training rounds, from the model file; validation Dice is measured on painted pixels "
        "held aside during training, not on complete ground truth.",
        "",
        "| round | steps | seconds | painted pixels | validation Dice |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in model.rounds:
        dice = r.get("validation_dice")
        lines.append(
            f"| {r.get('round', '')} | {r.get('steps', '')} | {r.get('seconds', '')} | "
            f"{r.get('painted_pixels', '')} | "
            f"{f'{dice:.3f}' if isinstance(dice, (int, float)) else 'n/a'} |"
        )
    if not model.rounds:
        lines.append("| (no rounds recorded) | | | | |")
    lines += [
        "",
        "## Use",
        "",
        "In napari-unet: *Load model...* or `napari-unet predict --model "
        "this.zip`. Elsewhere: any bioimage.io consumer (bioimageio.core, ilastik, "
        "deepImageJ) with napari-unet installed for the `pytorch_state_dict` weights, or "
        "the TorchScript weights alone.",
        "",
    ]
    return "\n".join(lines)


def export_bioimageio(
    model: TrainedModel,
    sample_cf: np.ndarray,
    out: str | os.PathLike,
    options: ExportOptions | None = None,
) -> Path:
    """Write the package for ``model`` to ``out`` (``.zip``) atomically; returns the path.

    ``sample_cf`` is a ``(C, *spatial)`` image the model was trained on; a centred crop of it
    becomes the test input and, through the model, the test output.
    """
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise UserInputError(f"A bioimage.io package is a .zip file; got {out.name}.")
    if out.exists() and not package.is_napari_unet_package(out):
        raise UserInputError(
            f"{out} exists and is not a package napari-unet exported; it is "
            "left untouched. Choose another file name."
        )
    check_export_environment()  # a pydantic it cannot work with: one line with the fix
    options = options or ExportOptions()
    if len(options.name.strip()) < 5:
        raise UserInputError(
            f"The package name {options.name!r} is too short: bioimage.io "
            "needs at least 5 characters."
        )
    with tempfile.TemporaryDirectory(prefix="napari-unet-export-") as tmp:
        description = _describe(model, sample_cf, Path(tmp), options)
        from bioimageio.spec import save_bioimageio_package

        staged = Path(tmp) / "package.zip"
        save_bioimageio_package(description, output_path=staged)
        atomic_write(out, lambda handle: handle.write(staged.read_bytes()))
    return out


def _write_files(
    model: TrainedModel, sample_cf: np.ndarray, folder: Path, options: ExportOptions
) -> dict[str, Path]:
    """The package's files in ``folder``: tensors, weights, cover, docs, marker."""
    raw = test_crop(np.asarray(sample_cf), model)
    probs = probabilities(model, raw)
    files = {
        "test_input": folder / "test_input.npy",
        "test_output": folder / "test_output.npy",
        "weights": folder / "weights.pt",
        "cover": folder / "cover.png",
        "doc": folder / "README.md",
        "marker": folder / package.MARKER,
    }
    np.save(files["test_input"], raw[None])
    np.save(files["test_output"], probs)
    torch.save(model.state_on_cpu(), files["weights"])
    cover_image(raw, probs, files["cover"])
    files["doc"].write_text(documentation(model, options, geometry(model)), encoding="utf-8")
    files["marker"].write_text(
        json.dumps(
            {
                "format": package.PACKAGE_FORMAT,
                "format_version": package.PACKAGE_FORMAT_VERSION,
                "weights": files["weights"].name,
                "metadata": model_metadata(model),
            }
        ),
        encoding="utf-8",
    )
    torchscript = _torchscript(model, raw, probs, folder / "weights_torchscript.pt")
    if torchscript is not None:
        files["torchscript"] = torchscript
    return files


def _torchscript(
    model: TrainedModel, raw: np.ndarray, probs: np.ndarray, path: Path
) -> Path | None:
    """Traced TorchScript weights, kept only if they reproduce the test output."""
    network = model.network.cpu().eval()
    example = torch.from_numpy(
        model.normalization.apply(raw, *model.normalization.statistics(raw))
    )[None]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", torch.jit.TracerWarning
            )  # shape checks become constants
            traced = torch.jit.trace(network, example, check_trace=False)
            again = torch.softmax(traced(example), dim=1).numpy()
        if not np.allclose(again, probs, atol=1e-4):
            return None
        traced.save(str(path))
    except (RuntimeError, TypeError, ValueError):
        return None
    return path


def _describe(
    model: TrainedModel, sample_cf: np.ndarray, folder: Path, options: ExportOptions
) -> Any:
    """The bioimage.io ``ModelDescr`` (format 0.5) of the files written into ``folder``."""
    try:
        from bioimageio.spec.model import v0_5 as bio
    except ImportError:
        raise UserInputError(
            "Export to bioimage.io needs bioimageio.spec: pip install 'napari-unet[bioimageio]'."
        ) from None
    from bioimageio.spec.generic.v0_3 import Author, CiteEntry

    files = _write_files(model, sample_cf, folder, options)
    inputs, outputs = _tensors(bio, model, files)
    weights = {
        "pytorch_state_dict": bio.PytorchStateDictWeightsDescr(
            source=files["weights"],
            pytorch_version=bio.Version(torch.__version__.split("+")[0]),
            architecture=bio.ArchitectureFromLibraryDescr(
                import_from="napari_unet.core.model",
                callable=bio.Identifier("UNet"),
                kwargs=model.config.to_dict(),
            ),
        )
    }
    if "torchscript" in files:
        weights["torchscript"] = bio.TorchscriptWeightsDescr(
            source=files["torchscript"],
            parent="pytorch_state_dict",
            pytorch_version=bio.Version(torch.__version__.split("+")[0]),
        )
    return bio.ModelDescr(
        name=options.name,
        description=options.description
        or (
            f"{model.spatial_dims}D U-Net trained in napari-unet from sparse strokes: "
            f"{model.num_classes} classes ({', '.join(model.classes.names)})."
        ),
        authors=[Author(name=a) for a in options.authors],
        cite=[CiteEntry(text=text, doi=bio.Doi(doi)) for text, doi in CITATIONS],
        license=bio.LicenseId(options.license),
        documentation=bio.FileDescr(source=files["doc"]),
        covers=[bio.FileDescr(source=files["cover"])],
        attachments=[bio.FileDescr(source=files["marker"])],
        tags=["napari-unet", "unet", "semantic-segmentation", f"{model.spatial_dims}d", "pytorch"],
        git_repo=options.git_repo,
        inputs=inputs,
        outputs=outputs,
        weights=bio.WeightsDescr(**weights),
    )


def _tensors(bio: Any, model: TrainedModel, files: dict[str, Path]) -> tuple[list, list]:
    """Input ``raw`` (with ``scale_range``) and output ``probabilities`` (``softmax``)."""
    geo = geometry(model)
    names = "zyx"[-model.spatial_dims :]
    space_in = [
        bio.SpaceInputAxis(id=bio.AxisId(a), size=bio.ParameterizedSize(min=geo.min, step=geo.step))
        for a in names
    ]
    space_out = [
        bio.SpaceOutputAxisWithHalo(
            id=bio.AxisId(a),
            halo=geo.halo,
            size=bio.SizeReference(tensor_id=bio.TensorId("raw"), axis_id=bio.AxisId(a)),
        )
        for a in names
    ]
    raw = bio.InputTensorDescr(
        id=bio.TensorId("raw"),
        description="raw intensities, any range",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(
                channel_names=[bio.Identifier(f"channel{i}") for i in range(model.in_channels)]
            ),
        ]
        + space_in,
        test_tensor=bio.FileDescr(source=files["test_input"]),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=[
            bio.ScaleRangeDescr(
                kwargs=bio.ScaleRangeKwargs(
                    axes=[bio.AxisId(a) for a in names],
                    min_percentile=model.normalization.low_percentile,
                    max_percentile=model.normalization.high_percentile,
                )
            )
        ],
    )
    probs = bio.OutputTensorDescr(
        id=bio.TensorId("probabilities"),
        description="class probabilities; class value = channel index + 1 ("
        + ", ".join(f"{i + 1} = {n}" for i, n in enumerate(model.classes.names))
        + ")",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(
                channel_names=[bio.Identifier(f"class{i + 1}") for i in range(model.num_classes)]
            ),
        ]
        + space_out,
        test_tensor=bio.FileDescr(source=files["test_output"]),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        postprocessing=[bio.SoftmaxDescr(kwargs=bio.SoftmaxKwargs(axis=bio.AxisId("channel")))],
    )
    return [raw], [probs]
