"""The Segment widget: run the current model on the slice in view or a whole stack.

Outputs are plugin-owned layers ``<image> segmentation`` (class values 1..K, the values
the strokes use, so a corrected segmentation is training data), ``<image> instances``,
``<image> probabilities`` and ``<image> uncertainty``; a re-run updates them in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)

from napari_unet.core import (
    PredictionConfig,
    PredictionProgress,
    PredictionResult,
    StopFlag,
    UserInputError,
)
from napari_unet.core.io.lazy_arrays import full_resolution, is_lazy
from napari_unet.core.prediction.boundary_instances import DEFAULT_MERGE_THRESHOLD
from napari_unet.core.prediction.boundary_instances import DEFAULT_MIN_SIZE as BOUNDARY_MIN_SIZE
from napari_unet.core.prediction.cluster import ClusterChoice
from napari_unet.core.prediction.instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH
from napari_unet.core.prediction.job import PredictionJob, ResultsTo, RunStarted
from napari_unet.core.prediction.job import run as run_job
from napari_unet.core.prediction.object_scale import ObjectScale

from ._base import ViewerWidget
from ._device import device_picker, with_compute
from ._jobs import Job, notify_error, notify_info, notify_warning
from ._layers import (
    current_index,
    find_output,
    image_array,
    layer_voxel_size,
    spatial_shape,
    write_output,
)
from ._measurements import measure_layer
from ._sections import Section
from ._session import JobState
from .segment_batch import start_batch

PROBABILITY_LAYER = dict(
    kind="image",
    extra_leading=1,
    colormap="inferno",
    contrast_limits=(0.0, 1.0),
    blending="additive",
    opacity=0.7,
    visible=False,
)
UNCERTAINTY_LAYER = dict(
    kind="image", colormap="magma", contrast_limits=(0.0, 1.0), blending="additive", opacity=0.7
)
BLOBS_CHOICE = ("blobs: split where they touch", 0)  # 0: no boundary class
RUN_ON = {"process": "this process", "local": "local workers", "address": "dask cluster"}


def _uncertainty_of(result: PredictionResult, request: SegmentRequest) -> np.ndarray | None:
    """The uncertainty layer's data if asked for (computed in the worker thread)."""
    if result.probabilities is None or not request.uncertainty:
        return None
    return entropy_uncertainty(result.probabilities)


def entropy_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """Per-pixel entropy of ``(K, *shape)`` class probabilities, scaled to 0..1 (float32).

    0 = the model is sure of one class, 1 = all classes equally likely.
    """
    p = np.clip(probabilities.astype(np.float32, copy=False), 1e-7, 1.0)
    k = p.shape[0]
    h = -(p * np.log(p)).sum(axis=0)
    return (h / np.log(k)).astype(np.float32) if k > 1 else np.zeros(p.shape[1:], np.float32)


@dataclass(frozen=True)
class SegmentRequest:
    """A Segment run's settings, fixed when it starts. index: the slice (leading-axis
    index) when segmenting the slice in view, else None; lead: leading axes of the image
    beyond the model's spatial axes; probabilities / uncertainty: layers to show;
    cluster: where a whole-stack run goes; folder: the zarr folder ("" = temporary)."""

    index: tuple[int, ...] | None
    lead: int
    config: PredictionConfig
    probabilities: bool
    uncertainty: bool
    match_object_size: bool = False
    measure: bool = False
    cluster: ClusterChoice = ClusterChoice()
    folder: str = ""


class SegmentWidget(ViewerWidget):
    """Segment an image layer with the viewer's current model."""

    TAB_TITLE = "Segment"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, labels=True)
        self._make_source_controls()
        self._make_object_controls()
        self._make_output_controls()
        self._make_cluster_controls()
        self._lazy_layers: list[Any] = []
        self._temp_folders: dict[str, str] = {}  # image layer -> its temporary zarr folder
        self._blocks_before = 0  # blocks already done when a resumed run started
        self._shown: Job | None = None  # the last run whose result was shown
        self._scale_note = ""  # what object-size matching did in the last run
        self.extend(
            [
                self._image,
                self._images_choice,
                self._in_folder,
                self._out_folder,
                self._model_info,
                self._load,
                self._device,
                self._scope,
                self._instances,
                self._objects_are,
                self._min_size,
                self._split_strength,
                self._merge_threshold,
                self._object_size,
                self._measure,
                self._tta,
                self._probabilities,
                self._uncertainty,
                Container(widgets=[self._segment, self._stop], layout="horizontal", labels=False),
                self._status,
                *self._large.all,
            ]
        )
        self._segment.changed.connect(lambda *_: self.segment())
        self._stop.changed.connect(lambda *_: self.stop())
        self._load.changed.connect(lambda *_: self._ask_load())
        self._remember_settings()
        self._device.changed.connect(lambda *_: self._on_model_changed(self._store.model))
        self._objects_are.changed.connect(self._on_objects_changed)
        for choice in (self._instances, self._run_on, self._images_choice, self._objects_are):
            choice.changed.connect(lambda *_: self._enable_what_applies())
        self._enable_what_applies()
        self._finish_setup()
        self._on_model_changed(self._store.model)

    def _make_source_controls(self) -> None:
        """The image (or images, or folder), the model and where it computes."""
        self._image = self._image_picker()
        self._model_info = Label(label="Model", value="none yet: train one or load a file")
        self._device = device_picker()
        self._load = PushButton(text="Load model file…")
        self._scope = ComboBox(
            label="Segment",
            choices=[("the slice in view", "slice"), ("the whole stack", "stack")],
            value="stack",
            tooltip="The slice in view is quick for checking; the whole stack "
            "runs slice by slice and can be stopped, keeping finished slices.",
        )
        self._images_choice = ComboBox(
            label="Images",
            choices=[
                ("the image above", "chosen"),
                ("every open image", "open"),
                ("a folder of files", "folder"),
            ],
            value="chosen",
            tooltip="Every open image: each gets its own result layers. A folder of files: "
            "each TIFF, PNG or zarr image in the input folder is written to the output "
            "folder (TIFF; zarr for zarr inputs), with objects and measurements as "
            "chosen below. Stop keeps the images already done.",
        )
        self._in_folder = FileEdit(label="Input folder", mode="d", value="")
        self._out_folder = FileEdit(label="Output folder", mode="d", value="")

    def _make_object_controls(self) -> None:
        """Separate objects: how (blobs or cells bounded by a class), their size, splits,
        size matching and measurements."""
        self._instances = CheckBox(text="Separate objects (instances layer)", value=False)
        self._objects_are = ComboBox(
            label="Objects are",
            choices=[BLOBS_CHOICE],
            value=0,
            tooltip="Blobs: regions of the object classes, split where they touch (nuclei). "
            "Cells bounded by a class: the regions that class (membranes, cell walls) "
            "encloses, merged across faint lines. A model trained with a boundary class "
            "chooses it.",
        )
        self._min_size = SpinBox(
            label="Min. object size",
            value=DEFAULT_MIN_SIZE,
            min=0,
            max=10**7,
            tooltip="Objects smaller than this (pixels, or voxels for a 3D model) are dropped.",
        )
        self._split_strength = FloatSpinBox(
            label="Split strength",
            value=DEFAULT_SPLIT_STRENGTH,
            min=0.0,
            max=1.0,
            step=0.05,
            tooltip="How readily touching objects are cut apart: 0 never, 1 at the widest "
            "necks. A neck narrower than this times the smaller object's width is cut.",
        )
        self._merge_threshold = FloatSpinBox(
            label="Merge cells below",
            value=DEFAULT_MERGE_THRESHOLD,
            min=0.0,
            max=1.0,
            step=0.05,
            tooltip="Cells bounded by a class: neighbouring regions whose shared face has a "
            "mean boundary probability below this become one cell. Lower it if cells are "
            "merged, raise it if cells are cut in pieces. Distances follow the image "
            "layer's scale (its voxel size).",
        )
        self._object_size = CheckBox(
            text="Match the trained object size",
            value=False,
            tooltip="With separated objects: measure them first; if they are over 1.25x "
            "smaller or larger than those the model learned, segment the image resized "
            "to that size (images held in memory).",
        )
        self._measure = CheckBox(
            text="Measure objects (table, CSV)",
            value=False,
            tooltip="With separated objects: a table of the objects (area or volume and "
            "centroid in the layer's scale units, intensity, shape), shown on hover and "
            "docked with Save CSV. For an image or a volume the model segments whole; a "
            "stack of slices is measured by napari-unet predict --measure.",
        )

    def _make_output_controls(self) -> None:
        """Test-time augmentation, the extra layers, Segment / Stop and the status line."""
        self._tta = CheckBox(
            text="Test-time augmentation (4 flips, 4x slower)",
            value=False,
            tooltip="Average the class probabilities over mirrored views: "
            "smoother, often slightly better decisions.",
        )
        self._probabilities = CheckBox(text="Class probabilities layer", value=False)
        self._uncertainty = CheckBox(
            text="Uncertainty layer (where to paint next)",
            value=False,
            tooltip="Bright where the model hesitates between classes: "
            "paint corrections there, then Retrain.",
        )
        self._segment = PushButton(text="Segment")
        self._stop = PushButton(
            text="Stop", enabled=False, tooltip="End now and keep the slices already segmented."
        )
        self._status = Label(value="")

    def _make_cluster_controls(self) -> None:
        """Large stacks and clusters: the zarr folder and where a whole stack runs."""
        self._zarr_folder = LineEdit(
            label="Zarr folder",
            value="",
            tooltip="For images opened lazily (zarr, dask, multiscale) and cluster runs: the "
            "segmentation is written here as <image>_segmentation.zarr, block by "
            "block; a stopped run started again resumes. Empty: a temporary folder "
            "(the status line names it; copy it to keep the result).",
        )
        self._run_on = ComboBox(
            label="Run on",
            choices=[(label, place) for place, label in RUN_ON.items()],
            value="process",
            tooltip="The whole stack can run on several processes: local workers (started "
            "and closed here) or a running dask cluster (e.g. dask-jobqueue on "
            "SLURM), which must see the zarr folder. The slice in view always runs "
            "here.",
        )
        self._workers = SpinBox(
            label="Local workers",
            value=2,
            min=1,
            max=256,
            tooltip="Worker processes for 'local workers'.",
        )
        self._address = LineEdit(
            label="Scheduler",
            value="",
            tooltip="Address of the dask scheduler, e.g. tcp://host:8786",
        )
        self._large = Section(
            "Large stacks and clusters",
            [self._zarr_folder, self._run_on, self._workers, self._address],
            expanded=False,
        )

    def _remember_settings(self) -> None:
        """Settings kept between sessions (the result-changing ones shown when not default)."""
        self._remember(
            "segment",
            {
                "scope": self._scope,
                "instances": self._instances,
                "min_size": self._min_size,
                "split_strength": self._split_strength,
                "merge_threshold": self._merge_threshold,
                "object_size": self._object_size,
                "measure": self._measure,
                "tta": self._tta,
                "probabilities": self._probabilities,
                "uncertainty": self._uncertainty,
                "device": self._device,
                "run_on": self._run_on,
                "workers": self._workers,
                "address": self._address,
            },
            result_changing=("instances", "min_size", "split_strength", "object_size", "tta"),
        )

    def _enable_what_applies(self) -> None:
        """Grey out the settings the other choices make moot: the object settings without
        *Separate objects*, the worker count and the address unless they are where it runs."""
        objects = (self._objects_are, self._min_size, self._object_size, self._measure)
        for control in objects:
            control.enabled = bool(self._instances.value)
        blobs = not self._objects_are.value
        self._split_strength.enabled = bool(self._instances.value) and blobs
        self._merge_threshold.enabled = bool(self._instances.value) and not blobs
        self._object_size.enabled = self._object_size.enabled and blobs
        self._workers.enabled = self._run_on.value == "local"
        folder_mode = self._images_choice.value == "folder"
        self._in_folder.visible = self._out_folder.visible = folder_mode
        self._image.enabled = self._scope.enabled = self._images_choice.value == "chosen"
        self._address.enabled = self._run_on.value == "address"

    def _on_objects_changed(self, value: int) -> None:
        """Each method's own smallest-object default, unless the user set another size."""
        if self._min_size.value in (DEFAULT_MIN_SIZE, BOUNDARY_MIN_SIZE):
            self._min_size.value = BOUNDARY_MIN_SIZE if value else DEFAULT_MIN_SIZE

    def _objects_choices(self, model: Any) -> None:
        """Blobs, or the cells bounded by one of the model's classes; the model's own
        boundary class chosen when it has one."""
        if model is getattr(self, "_objects_of", None) and model is not None:
            return  # the same model (e.g. another device chosen): the user's choice stays
        self._objects_of = model
        choices = [BLOBS_CHOICE]
        if model is not None:
            choices += [
                (f"cells bounded by class {k} ({name})", k)
                for k, name in enumerate(model.classes.names, start=1)
            ]
        self._objects_are.choices = choices
        remembered = getattr(model, "boundary_class", None) or 0
        self._objects_are.value = remembered if any(v == remembered for _, v in choices) else 0

    def _on_model_changed(self, model: Any) -> None:
        if not self._closed:
            self._objects_choices(model)
            self._model_info.value = with_compute(
                model.describe() if model is not None else "none yet: train one or load a file",
                self._device.value,
            )

    def segment(self) -> Job | None:
        """Segment the chosen image (or every open image, or a folder of files) with the
        current model, in a worker."""
        if self._images_choice.value != "chosen":
            return self._segment_many()
        try:
            image_layer, model, lead = self._what_to_segment()
            request = self._request(image_layer, lead)
            job = self._prediction_job(image_layer, model, request)
            job.check()  # e.g. a scheduler address refused at once, before any connection
        except ValueError as err:
            notify_error(err, "Segmentation")
            return None
        self._scale_note, self._blocks_before, self._lazy_layers = "", 0, []

        def work(stop: StopFlag):
            own = replace(job, model=job.model.copy())  # the run may move it to a device
            result = yield from run_job(own, stop)
            return result, _uncertainty_of(result, request)  # big arrays: not on the GUI thread

        started = self._start_job(
            work,
            what="Segmentation",
            layers=[image_layer],
            total=1,  # until the run says how many blocks it has
            on_event=lambda event: self._on_event(event, image_layer, job),
            on_done=lambda out: self._show(image_layer, out[0], request, out[1]),
        )
        if started is not None:
            self._status.value = "Segmenting…"
        return started

    def _segment_many(self) -> Job | None:
        """Every open image, or a folder of files (see :mod:`.segment_batch`)."""
        try:
            model = self._current_model()
            job = start_batch(self, self._request(None, 0), model)
        except ValueError as err:
            notify_error(err, "Segmentation")
            return None
        self._scale_note, self._blocks_before, self._lazy_layers = "", 0, []
        if job is not None:
            self._status.value = "Segmenting…"
        return job

    def _current_model(self) -> Any:
        """The model to segment with; refuses a second run and a missing model."""
        if self.running:
            raise UserInputError("Segmentation is already running: wait or press Stop.")
        model = self._store.model
        if model is None:
            raise UserInputError(
                "No model yet: train one in the Train widget or load a model file."
            )
        return model

    def _what_to_segment(self) -> tuple[Any, Any, int]:
        """The image layer, the current model and the image's leading axes beyond the
        model's spatial ones; refuses what cannot run, naming what to do."""
        if self.running:
            raise UserInputError("Segmentation is already running: wait or press Stop.")
        image_layer = self._image.value
        if image_layer is None:
            raise UserInputError("Open an image first (File > Open, or File > Open Sample).")
        model = self._current_model()
        lead = len(spatial_shape(image_layer)) - model.spatial_dims
        if lead < 0:
            raise UserInputError(
                f"This {model.spatial_dims}D model needs an image with "
                f"{model.spatial_dims} spatial axes; the image has "
                f"{len(spatial_shape(image_layer))}."
            )
        return image_layer, model, lead

    def _prediction_job(
        self, image_layer: Any, model: Any, request: SegmentRequest
    ) -> PredictionJob:
        """The engine's job for this run: a lazy image, or a whole stack on a cluster,
        goes to a zarr store (the chosen folder, or a temporary one kept per image for
        resuming) shown as it fills; anything else stays in memory. Cells follow the
        layer's own voxel size (its scale)."""
        source = full_resolution(image_layer.data)
        on_cluster = request.cluster.on_cluster and request.index is None
        to_zarr = is_lazy(source) or on_cluster
        config = replace(request.config, voxel_size=layer_voxel_size(image_layer))
        results = ResultsTo()
        if to_zarr:  # no float layer of a whole stack: probabilities stay in memory runs
            config = replace(config, probabilities=False)
            stem = (re.sub(r"[^A-Za-z0-9._-]+", "_", image_layer.name) or "image") + "_segmentation"
            folder = request.folder or self._temp_folders.get(str(image_layer.unique_id))
            results = ResultsTo("zarr", Path(folder) if folder else None, stem, not request.folder)
        return PredictionJob(
            model,
            source if is_lazy(source) else image_array(image_layer),
            name=image_layer.name,
            config=config,
            where=request.cluster if on_cluster else ClusterChoice(),
            results=results,
            rgb=bool(image_layer.rgb),
            indices=None if request.index is None else [request.index],
            match_object_size=request.match_object_size,
        )

    def _request(self, image_layer: Any, lead: int) -> SegmentRequest:
        """The settings of a run, read now on the GUI thread."""
        slice_only = self._scope.value == "slice" and image_layer is not None
        index = current_index(self._viewer, image_layer, lead) if slice_only else None
        probs, unc = self._probabilities.value, self._uncertainty.value
        config = PredictionConfig(
            probabilities=probs or unc,
            instances=self._instances.value,
            device=self._device.value,
            min_object_size=int(self._min_size.value),
            split_strength=float(self._split_strength.value),
            tta=bool(self._tta.value),
            boundary_class=(self._objects_are.value or None) if self._instances.value else None,
            merge_threshold=float(self._merge_threshold.value),
        )
        cluster = ClusterChoice(
            self._run_on.value, int(self._workers.value), str(self._address.value)
        )
        return SegmentRequest(
            index,
            lead,
            config,
            probs,
            unc,
            bool(self._object_size.value),
            bool(self._measure.value),
            cluster,
            self._zarr_folder.value.strip(),
        )

    def _on_state(self, state: JobState) -> None:
        self._segment.enabled = not state.active
        self._stop.enabled = state.active
        if state is JobState.FAILED:
            self._status.value = f"Failed: {self.session.error}"

    def _show_store(self, image_layer: Any, started: RunStarted, job: PredictionJob) -> None:
        """Layers on the run's zarr store, shown as it fills (labels and instances stay
        brush-correctable: napari paints into the zarr arrays); a temporary folder is
        remembered so that the next run on this image resumes there."""
        sink, folder = started.sink, started.folder
        if job.results.temporary and folder is not None:
            self._temp_folders[str(image_layer.unique_id)] = str(folder)
        self._lazy_layers = []
        for role, data in (("segmentation", sink.labels), ("instances", sink.instances)):
            if data is None or image_layer not in self._viewer.layers:
                continue
            layer = find_output(self._viewer, image_layer, role)
            if layer is not None:
                layer.data = data
            else:
                layer = write_output(self._viewer, image_layer, role, data)
            self._lazy_layers.append(layer)
        where = job.where
        starting = {
            "local": f"; starting {where.workers} local worker(s)…",
            "address": f"; connecting to {where.address.strip()}…",
        }.get(where.place, "")
        self._status.value = f"Writing to {folder / (job.results.stem + '.zarr')}{starting}"

    def _on_event(self, event: Any, image_layer: Any, job: PredictionJob) -> None:
        if self._closed:
            return
        if isinstance(event, RunStarted):
            self._blocks_before = event.already_done
            if self._job is not None:
                self._job.set_total(max(event.total, 1))
            if event.sink is not None:
                self._show_store(image_layer, event, job)
            return
        if isinstance(event, ObjectScale):
            self._scale_note = "" if event.factor == 1.0 else " " + event.reason
            self._status.value = event.reason
            return
        if not isinstance(event, PredictionProgress):
            return
        if self._job is None or self._job.done or self._shown is self._job:
            return  # a late event of a run whose result is already shown
        done, total = self._blocks_before + event.done, self._blocks_before + event.total
        self._status.value = f"block {done} of {total} done"
        for layer in self._lazy_layers:  # zarr-backed layers: shown as they fill
            if layer in self._viewer.layers:
                layer.refresh()
        # last: the progress bar processes Qt events, which may deliver the run's end (and
        # its final status line) before it returns
        self._job.set_progress(done, f"block {done} of {total}")

    def _show(
        self,
        image_layer: Any,
        result: PredictionResult,
        request: SegmentRequest,
        uncertainty: np.ndarray | None = None,
    ) -> None:
        """Write the run's outputs into their layers and say how it ended."""
        self._shown = self._job
        if self._closed or image_layer not in self._viewer.layers:
            return
        keep = self.write_results(image_layer, result, request, uncertainty)
        done = int(np.count_nonzero(result.completed))
        again = " Segment again to resume." if self._lazy_layers else ""
        message = (
            f"Stopped: {done} slice(s) segmented and kept.{again}"
            if result.stopped
            else "Segmentation done. Correct mistakes with the brush, then Retrain."
            + self._scale_note
        ) + keep
        self._status.value = message
        notify_info(message)
        if request.measure and result.instances is not None and not result.stopped:
            self._measure_objects(image_layer, request.lead)

    def write_results(
        self,
        image_layer: Any,
        result: PredictionResult,
        request: SegmentRequest,
        uncertainty: np.ndarray | None = None,
    ) -> str:
        """Write a run's outputs into ``image_layer``'s output layers (zarr-backed ones
        are refreshed); ``uncertainty`` when the worker computed it (else computed here).
        Returns a sentence naming the zarr folder to keep, or ""."""
        index, lead = request.index, request.lead
        where: Any = index if index is not None else (result.completed if lead else None)
        v = self._viewer
        keep = ""
        if self._lazy_layers:  # zarr-backed: the layers already hold the store
            for layer in self._lazy_layers:
                if layer in v.layers:
                    layer.refresh()
            store = self._lazy_layers[0].data.store
            keep = (
                f" Results are in {getattr(store, 'root', store)}: copy that folder to keep "
                "them (a temporary folder is removed by the system)."
            )
        else:
            write_output(v, image_layer, "segmentation", result.labels, where=where)
            if result.instances is not None:
                write_output(v, image_layer, "instances", result.instances, where=where)
        if result.probabilities is not None and request.probabilities:
            write_output(
                v,
                image_layer,
                "probabilities",
                result.probabilities,
                where=where,
                **PROBABILITY_LAYER,
            )
        if result.probabilities is not None and request.uncertainty:
            if uncertainty is None:
                uncertainty = entropy_uncertainty(result.probabilities)
            write_output(
                v, image_layer, "uncertainty", uncertainty, where=where, **UNCERTAINTY_LAYER
            )
        return keep

    def _measure_objects(self, image_layer: Any, lead: int) -> None:
        """Measure the instances layer of ``image_layer`` in a worker: features shown on
        hover and a docked table (see :func:`._measurements.measure_layer`)."""
        instances = find_output(self._viewer, image_layer, "instances")
        if instances is None:
            return
        if lead:
            notify_warning(
                "Objects are measured on one image or volume at a time; for a stack of "
                "slices, napari-unet predict --instances --measure writes one table with "
                "each object's slice."
            )
            return
        segmentation = find_output(self._viewer, image_layer, "segmentation")
        measure_layer(self._viewer, instances, image_layer, class_layer=segmentation)
