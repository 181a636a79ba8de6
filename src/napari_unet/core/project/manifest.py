"""The project manifest: what a project folder holds, as small versioned JSON.

``project.json`` (see ``docs/projects.md``)::

    {"format": "napari-unet-project", "version": 1,
     "images": [{"name", "source", "path", "saved_at", "shape", "dtype", "rgb",
                 "scale", "translate", "labels": {"name", "path", "hash", "kind"} | null}],
     "rounds": [{"number", "model", "parent", "what", "settings", "seed",
                 "labels": [{"image", "hash", "path"}], "validation_dice",
                 "validation_pixels", "painted_pixels", "steps", "seconds", "device",
                 "finished"}],
     "current_round": 2 | null}

A manifest is user input: :func:`manifest_from_json` checks every field (type, range,
length) and refuses paths that leave the project folder, with one message naming the
field; nothing in it is ever executed (it is JSON, read with :func:`json.loads`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .checks import MAX_SETTINGS_BYTES, Checker, ProjectError

FORMAT = "napari-unet-project"
VERSION = 1
MANIFEST_NAME = "project.json"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest of 10,000 rounds is about 10 MB
MAX_IMAGES = 10_000
MAX_ROUNDS = 100_000
MAX_DIMS = 8
MAX_EXTENT = 2**40  # pixels along one axis
MAX_SEED = 2**32 - 1
SOURCES = ("file", "copy")  # an image file referred to by path, or a copy inside the project
LABEL_KINDS = ("sparse", "dense")
MODELS, LABELS, IMAGES = "models", "labels", "images"  # the project's own folders


@dataclass(frozen=True)
class LabelsRef:
    """A labels array kept in the project: ``path`` (``labels/<hash>.zarr``), content
    ``hash``, the layer's ``name`` and ``kind`` (sparse strokes or dense masks)."""

    name: str
    path: str
    hash: str
    kind: str = "sparse"


@dataclass(frozen=True)
class ImageEntry:
    """One image of the project. ``source`` "file": ``path`` is the image file relative to
    the project folder (``saved_at``: its absolute path when saved, for messages); "copy":
    ``path`` is an OME-Zarr copy inside the project (``images/...``). ``shape`` and
    ``dtype`` are the image's (``(*spatial, C)`` when ``rgb``); ``scale`` / ``translate``
    those of its napari layer (one per axis, channels excluded)."""

    name: str
    source: str
    path: str
    shape: tuple[int, ...]
    dtype: str
    rgb: bool = False
    scale: tuple[float, ...] = ()
    translate: tuple[float, ...] = ()
    saved_at: str = ""
    labels: LabelsRef | None = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.shape[:-1] if self.rgb else self.shape


@dataclass(frozen=True)
class RoundLabels:
    """The labels one round learned from, for the image named ``image``."""

    image: str
    hash: str
    path: str


@dataclass(frozen=True)
class RoundRecord:
    """One training round: its model file (``models/round-NNN.pt``, never overwritten),
    the round it continued (``parent``, None for a new model), its settings and seed, the
    labels it learned from, its validation scores and its cost."""

    number: int
    model: str
    parent: int | None = None
    what: str = "Training"
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    labels: tuple[RoundLabels, ...] = ()
    validation_dice: float | None = None
    validation_pixels: tuple[int, ...] | None = None  # held-out pixels per scored class
    painted_pixels: int | None = None
    steps: int = 0
    seconds: float = 0.0
    device: str = ""
    finished: str = ""  # ISO 8601 time the round ended


@dataclass(frozen=True)
class ProjectManifest:
    """The whole manifest; ``current_round`` is the number of the round whose model is
    current (None before the first round)."""

    images: tuple[ImageEntry, ...] = ()
    rounds: tuple[RoundRecord, ...] = ()
    current_round: int | None = None
    version: int = VERSION

    def round(self, number: int) -> RoundRecord:
        for record in self.rounds:
            if record.number == number:
                return record
        raise ProjectError(f"The project has no round {number}.")

    @property
    def current(self) -> RoundRecord | None:
        return None if self.current_round is None else self.round(self.current_round)

    def image(self, name: str) -> ImageEntry | None:
        return next((entry for entry in self.images if entry.name == name), None)


def manifest_to_json(manifest: ProjectManifest) -> bytes:
    """The manifest as UTF-8 JSON (indented: a person may read it)."""
    body = asdict(manifest)
    body.pop("version")
    document = {"format": FORMAT, "version": manifest.version, **body}
    return (json.dumps(document, indent=1, allow_nan=False) + "\n").encode()


def manifest_from_json(text: bytes | str, where: str = MANIFEST_NAME) -> ProjectManifest:
    """Parse and check a manifest; raises :class:`ProjectError` naming the bad field."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise ProjectError(
            f"{where} is {len(text):,} bytes, more than a project manifest can be "
            f"({MAX_MANIFEST_BYTES:,}); it is not a napari-unet project."
        )
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise ProjectError(
            f"{where} is not valid JSON ({_short(err)}); it is damaged or not a "
            "napari-unet project."
        ) from None
    check = Checker(where)
    check.kind(document, dict, "the manifest")
    if document.get("format") != FORMAT:
        raise ProjectError(f"{where} is not a napari-unet project manifest (no format {FORMAT!r}).")
    version = document.get("version")
    if type(version) is not int or version < 1:
        raise ProjectError(f"{where}: version must be a positive integer, got {version!r}.")
    if version > VERSION:
        raise ProjectError(
            f"{where} is a version {version} project; this napari-unet reads version "
            f"{VERSION}. Update napari-unet to open it."
        )
    images = tuple(
        _image(check, item, f"images[{i}]")
        for i, item in enumerate(check.items(document.get("images", []), "images", MAX_IMAGES))
    )
    rounds = tuple(
        _round(check, item, f"rounds[{i}]")
        for i, item in enumerate(check.items(document.get("rounds", []), "rounds", MAX_ROUNDS))
    )
    current = check.optional_int(document.get("current_round"), "current_round", 1, MAX_ROUNDS)
    _check_consistent(check, images, rounds, current)
    return ProjectManifest(images, rounds, current, version)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def _image(check: Checker, item: Any, at: str) -> ImageEntry:
    check.kind(item, dict, at)
    source = check.choice(item.get("source"), f"{at}.source", SOURCES)
    if source == "copy":
        path = check.internal_path(item.get("path"), f"{at}.path", IMAGES)
    else:  # the user's own file: read as an image (never executed), anywhere
        path = check.text(item.get("path"), f"{at}.path")
    rgb = check.boolean(item.get("rgb", False), f"{at}.rgb")
    shape = tuple(
        check.integer(n, f"{at}.shape[{i}]", 1, MAX_EXTENT)
        for i, n in enumerate(check.items(item.get("shape"), f"{at}.shape", MAX_DIMS))
    )
    if len(shape) < 2 + rgb:
        raise check.fail(f"{at}.shape", f"at least {2 + rgb} axes", list(shape))
    spatial = len(shape) - rgb
    scale = _vector(check, item.get("scale", []), f"{at}.scale", spatial, low=1e-300)
    translate = _vector(check, item.get("translate", []), f"{at}.translate", spatial)
    labels = item.get("labels")
    return ImageEntry(
        name=check.text(item.get("name"), f"{at}.name"),
        source=source,
        path=path,
        shape=shape,
        dtype=check.choice(item.get("dtype"), f"{at}.dtype", IMAGE_DTYPES),
        rgb=rgb,
        scale=scale,
        translate=translate,
        saved_at=check.text(item.get("saved_at", ""), f"{at}.saved_at", empty=True),
        labels=None if labels is None else _labels_ref(check, labels, f"{at}.labels"),
    )


IMAGE_DTYPES = tuple(f"{kind}{bits}" for kind in ("uint", "int") for bits in (8, 16, 32, 64)) + (
    "float16",
    "float32",
    "float64",
    "bool",
)


def _vector(
    check: Checker, value: Any, at: str, length: int, low: float = float("-inf")
) -> tuple[float, ...]:
    values = check.items(value, at, MAX_DIMS)
    if values and len(values) != length:
        raise check.fail(at, f"empty or {length} numbers (one per axis)", values)
    return tuple(check.number(v, f"{at}[{i}]", low) for i, v in enumerate(values))


def _labels_ref(check: Checker, item: Any, at: str) -> LabelsRef:
    check.kind(item, dict, at)
    return LabelsRef(
        name=check.text(item.get("name"), f"{at}.name"),
        path=check.internal_path(item.get("path"), f"{at}.path", LABELS),
        hash=check.hash(item.get("hash"), f"{at}.hash"),
        kind=check.choice(item.get("kind", "sparse"), f"{at}.kind", LABEL_KINDS),
    )


def _round(check: Checker, item: Any, at: str) -> RoundRecord:
    check.kind(item, dict, at)
    settings = check.kind(item.get("settings", {}), dict, f"{at}.settings")
    if len(json.dumps(settings)) > MAX_SETTINGS_BYTES:
        raise check.fail(f"{at}.settings", f"at most {MAX_SETTINGS_BYTES:,} bytes of JSON", "more")
    labels = check.items(item.get("labels", []), f"{at}.labels", MAX_IMAGES)
    return RoundRecord(
        number=check.integer(item.get("number"), f"{at}.number", 1, MAX_ROUNDS),
        model=check.internal_path(item.get("model"), f"{at}.model", MODELS),
        parent=check.optional_int(item.get("parent"), f"{at}.parent", 1, MAX_ROUNDS),
        what=check.text(item.get("what", "Training"), f"{at}.what"),
        settings=settings,
        seed=check.optional_int(item.get("seed"), f"{at}.seed", 0, MAX_SEED),
        labels=tuple(_round_labels(check, x, f"{at}.labels[{i}]") for i, x in enumerate(labels)),
        validation_dice=check.optional_number(item.get("validation_dice"), f"{at}.validation_dice"),
        validation_pixels=_counts(check, item.get("validation_pixels"), f"{at}.validation_pixels"),
        painted_pixels=check.optional_int(
            item.get("painted_pixels"), f"{at}.painted_pixels", 0, 2**62
        ),
        steps=check.integer(item.get("steps", 0), f"{at}.steps", 0, 2**62),
        seconds=check.number(item.get("seconds", 0.0), f"{at}.seconds", 0.0),
        device=check.text(item.get("device", ""), f"{at}.device", empty=True),
        finished=check.text(item.get("finished", ""), f"{at}.finished", empty=True),
    )


def _counts(check: Checker, value: Any, at: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = check.items(value, at, 256)
    return tuple(check.integer(n, f"{at}[{i}]", 0, 2**62) for i, n in enumerate(items))


def _round_labels(check: Checker, item: Any, at: str) -> RoundLabels:
    check.kind(item, dict, at)
    return RoundLabels(
        image=check.text(item.get("image"), f"{at}.image"),
        hash=check.hash(item.get("hash"), f"{at}.hash"),
        path=check.internal_path(item.get("path"), f"{at}.path", LABELS),
    )


def _check_consistent(
    check: Checker,
    images: tuple[ImageEntry, ...],
    rounds: tuple[RoundRecord, ...],
    current: int | None,
) -> None:
    """Unique image names and round numbers, no two rounds sharing a model file, a
    current round and parents that exist."""
    names = [entry.name for entry in images]
    if len(set(names)) != len(names):
        raise check.fail("images[].name", "unique", sorted(n for n in names if names.count(n) > 1))
    numbers = [record.number for record in rounds]
    if len(set(numbers)) != len(numbers):
        raise check.fail("rounds[].number", "unique", numbers)
    models = [record.model for record in rounds]
    if len(set(models)) != len(models):
        raise check.fail("rounds[].model", "a different file for each round", models)
    known = set(numbers)
    if current is not None and current not in known:
        raise check.fail("current_round", "the number of one of its rounds", current)
    for i, record in enumerate(rounds):
        if record.parent is not None and record.parent not in known:
            raise check.fail(
                f"rounds[{i}].parent", "the number of one of its rounds", record.parent
            )
