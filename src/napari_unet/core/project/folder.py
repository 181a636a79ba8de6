"""A project folder: its manifest, images, labels and one model file per round.

>>> project = Project.create("my-project")
>>> project.put_image("em", image, file_path=None, labels=strokes, labels_name="strokes")
>>> project.record_round(model, what="Training", settings={...}, ...)   # then project.save()
>>> Project.open("my-project").current_model()

Saving order makes a killed save harmless: stores and model files first (each complete
under its final name or not there at all), the manifest last, atomically
(:func:`~napari_unet.core.io.atomic_write.atomic_write`). A model file is never
overwritten: a new round gets a new file, and making an earlier round current again
(:meth:`Project.make_current`) deletes nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic_write import atomic_write
from ..io.image_files import READABLE, open_image
from ..model.model_file import load_model, save_model
from ..model.trained_model import TrainedModel
from .checks import ProjectError
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MODELS,
    ImageEntry,
    LabelsRef,
    ProjectManifest,
    RoundLabels,
    RoundRecord,
    manifest_from_json,
    manifest_to_json,
)
from .stores import labels_hash, read_labels, store_image_copy, store_labels


@dataclass(frozen=True)
class ProjectImage:
    """An image of a project, opened: ``data`` ``(*spatial)`` or ``(*spatial, C)`` (lazy
    for TIFF and zarr files; None when its file is missing) and its ``labels``
    ``(*spatial)`` in memory (None if none)."""

    entry: ImageEntry
    data: Any
    labels: np.ndarray | None


class Project:
    """A project folder and its manifest (changed in memory; :meth:`save` writes it)."""

    def __init__(self, folder: str | os.PathLike, manifest: ProjectManifest) -> None:
        self.folder = Path(folder)
        self.manifest = manifest

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    # ------------------------------------------------------------------ folder
    @classmethod
    def create(cls, folder: str | os.PathLike) -> Project:
        """A new, empty project in ``folder`` (created if needed; one already holding a
        project is refused: open it instead)."""
        folder = Path(folder)
        if (folder / MANIFEST_NAME).exists():
            raise ProjectError(
                f"{folder} already holds a project; open it, or choose another folder."
            )
        if folder.exists() and not folder.is_dir():
            raise ProjectError(f"{folder} is a file; a project is a folder.")
        project = cls(folder, ProjectManifest())
        project.save()
        return project

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Project:
        """The project in ``folder`` (or whose ``project.json`` is ``folder``), its manifest
        checked (:func:`~.manifest.manifest_from_json`); files are checked when used."""
        folder = Path(folder)
        if folder.name == MANIFEST_NAME and folder.is_file():
            folder = folder.parent
        path = folder / MANIFEST_NAME
        if not path.is_file():
            what = "does not exist" if not folder.exists() else f"holds no {MANIFEST_NAME}"
            raise ProjectError(f"{folder} {what}: it is not a napari-unet project folder.")
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ProjectError(
                f"{path} is {size:,} bytes, more than a project manifest can be "
                f"({MAX_MANIFEST_BYTES:,}); it is not a napari-unet project."
            )
        with open(path, "rb") as handle:
            text = handle.read(MAX_MANIFEST_BYTES + 1)
        return cls(folder, manifest_from_json(text, str(path)))

    def save(self) -> Path:
        """Write the manifest atomically: the previous one stays whole until replaced."""
        text = manifest_to_json(self.manifest)
        return atomic_write(self.manifest_path, lambda handle: handle.write(text))

    # ------------------------------------------------------------------ images
    def put_image(
        self,
        name: str,
        data: Any,
        *,
        file_path: str | os.PathLike | None = None,
        rgb: bool = False,
        scale: tuple[float, ...] = (),
        translate: tuple[float, ...] = (),
        labels: Any = None,
        labels_name: str = "",
        label_kind: str = "sparse",
    ) -> ImageEntry:
        """Add or update the image ``name``: the file ``file_path`` by its path relative to
        the project (TIFF, PNG or zarr), else an OME-Zarr copy (made once: an image of the
        same name and shape keeps its entry); its ``labels`` are stored by content hash."""
        shape, dtype = tuple(int(n) for n in data.shape), np.dtype(data.dtype).name
        old = self.manifest.image(name)
        location = self._image_location(name, data, file_path, shape, dtype, old)
        labels_ref = None
        if labels is not None:
            digest, path = store_labels(self.folder, labels)
            labels_ref = LabelsRef(labels_name or f"{name} labels", path, digest, label_kind)
        entry = ImageEntry(
            name=name,
            **location,
            shape=shape,
            dtype=dtype,
            rgb=bool(rgb),
            scale=tuple(float(s) for s in scale),
            translate=tuple(float(t) for t in translate),
            labels=labels_ref,
        )
        images = [e for e in self.manifest.images if e.name != name] + [entry]
        self.manifest = replace(self.manifest, images=tuple(images))
        return entry

    def _image_location(
        self, name: str, data: Any, file_path: Any, shape: tuple, dtype: str, old: ImageEntry | None
    ) -> dict[str, str]:
        """``source``, ``path`` and ``saved_at`` of the image's entry."""
        if file_path is not None and Path(file_path).suffix.lower() in READABLE:
            absolute = Path(file_path).resolve()
            try:
                relative = os.path.relpath(absolute, self.folder.resolve())
            except ValueError:  # another drive (Windows): only an absolute path works
                relative = str(absolute)
            return {"source": "file", "path": Path(relative).as_posix(), "saved_at": str(absolute)}
        same = old is not None and (old.source, old.shape, old.dtype) == ("copy", shape, dtype)
        if same and (self.folder / old.path).exists():
            return {"source": "copy", "path": old.path, "saved_at": ""}
        return {"source": "copy", "path": store_image_copy(self.folder, name, data), "saved_at": ""}

    def image_path(self, entry: ImageEntry) -> Path | None:
        """Where the image of ``entry`` is: its path relative to the project folder, else
        (a project folder moved without its images) the absolute path it had when saved;
        None when neither exists."""
        candidate = self.folder / entry.path
        if candidate.exists():
            return candidate
        if entry.source == "file" and entry.saved_at and Path(entry.saved_at).exists():
            return Path(entry.saved_at)
        return None

    def missing_message(self, entry: ImageEntry) -> str:
        """What is missing of ``entry`` and what to do, in one sentence."""
        where = self.folder / entry.path
        if entry.source == "copy":
            return f"image '{entry.name}': its copy {where} is missing from the project folder"
        was = f" (it was {entry.saved_at} when saved)" if entry.saved_at else ""
        return (
            f"image '{entry.name}': the file {entry.path} is not found beside the project "
            f"({where}){was}; put the image back there, or move the project folder back "
            "beside its images"
        )

    def open_image(self, entry: ImageEntry) -> Any:
        """The data of ``entry``'s image, checked against the shape and type the project
        recorded (lazy for TIFF and zarr files). Raises :class:`ProjectError`."""
        path = self.image_path(entry)
        if path is None:
            raise ProjectError(
                f"The project {self.folder} is missing {self.missing_message(entry)}."
            )
        data = open_image(path).data
        found = (tuple(int(n) for n in data.shape), np.dtype(data.dtype).name)
        if found != (entry.shape, entry.dtype):
            raise ProjectError(
                f"The image '{entry.name}' ({path}) is now {found[1]} {found[0]}; the "
                f"project recorded {entry.dtype} {entry.shape}. Put the original image back."
            )
        return data

    def open_images(self) -> tuple[list[ProjectImage], list[str]]:
        """Every image with its labels, and one message per image that could not be opened
        (missing or changed file): its labels are still given back (``data`` None), and
        the rest of the project stays usable."""
        opened, problems = [], []
        for entry in self.manifest.images:
            try:
                data = self.open_image(entry)
            except ProjectError as err:
                problems.append(str(err))
                data = None
            labels = None
            if entry.labels is not None:
                try:
                    labels = read_labels(self.folder, entry.labels.path, entry.spatial_shape)
                except ProjectError as err:
                    problems.append(str(err))
            if data is not None or labels is not None:
                opened.append(ProjectImage(entry, data, labels))
        return opened, problems

    # ------------------------------------------------------------------ rounds
    def record_round(
        self,
        model: TrainedModel,
        *,
        what: str,
        settings: dict[str, Any],
        seed: int | None,
        learned_from: list[tuple[str, Any]],
        steps: int,
        seconds: float,
        device: str,
        parent: int | None,
        current: bool = True,
    ) -> RoundRecord:
        """Save ``model`` as a new round's model file (never overwriting one) and add the
        round to the manifest (``learned_from``: (image name, labels) pairs, stored by
        content hash). Call :meth:`save` to write the manifest."""
        number = max((r.number for r in self.manifest.rounds), default=0) + 1
        labels = []
        for image_name, array in learned_from:
            digest, path = store_labels(self.folder, array, labels_hash(array))
            labels.append(RoundLabels(image_name, digest, path))
        model_file = self._new_model_file(number)
        save_model(model, self.folder / model_file)
        last = model.rounds[-1] if model.rounds else {}
        record = RoundRecord(
            number=number,
            model=model_file,
            parent=parent,
            what=what,
            settings=settings,
            seed=seed,
            labels=tuple(labels),
            validation_dice=last.get("validation_dice"),
            validation_pixels=_pixel_counts(last.get("validation_pixels")),
            painted_pixels=last.get("painted_pixels"),
            steps=int(steps),
            seconds=round(float(seconds), 3),
            device=device,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        self.manifest = replace(
            self.manifest,
            rounds=(*self.manifest.rounds, record),
            current_round=number if current else self.manifest.current_round,
        )
        return record

    def _new_model_file(self, number: int) -> str:
        """``models/round-NNN.pt``, or ``round-NNN-K.pt`` where a killed save left one."""
        name, k = f"round-{number:03d}.pt", 1
        while (self.folder / MODELS / name).exists():
            k += 1
            name = f"round-{number:03d}-{k}.pt"
        return f"{MODELS}/{name}"

    def model_path(self, number: int) -> Path:
        return self.folder / self.manifest.round(number).model

    def load_round_model(self, number: int) -> TrainedModel:
        """The model of round ``number``, read safely (:func:`load_model`)."""
        path = self.model_path(number)
        if not path.is_file():
            raise ProjectError(f"The model file of round {number} ({path}) is missing.")
        return load_model(path)

    def current_model(self) -> TrainedModel | None:
        current = self.manifest.current_round
        return None if current is None else self.load_round_model(current)

    def current_model_path(self) -> Path:
        """The current round's model file; a project without one is refused."""
        current = self.manifest.current_round
        if current is None:
            raise ProjectError(
                f"The project {self.folder} has no model yet: train a first round "
                f"(napari-unet train --project {self.folder})."
            )
        path = self.model_path(current)
        if not path.is_file():
            raise ProjectError(f"The model file of round {current} ({path}) is missing.")
        return path

    def make_current(self, number: int) -> TrainedModel:
        """Make round ``number``'s model current again (later rounds are kept) and save."""
        model = self.load_round_model(number)
        self.manifest = replace(self.manifest, current_round=number)
        self.save()
        return model


def _pixel_counts(value: Any) -> tuple[int, ...] | None:
    """A model summary's ``validation_pixels`` (a count per class, or one count)."""
    if value is None:
        return None
    return tuple(int(n) for n in (value if isinstance(value, (list, tuple)) else [value]))
