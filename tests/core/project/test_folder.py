"""A project folder on real data: images by relative path or as copies, labels by
content hash, a model file per round never overwritten, rolling back, a moved folder
or missing image named clearly, and a save killed with SIGKILL leaving the previous
state openable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.io import imsave

from napari_unet.core import PRESETS, Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.project import Project, ProjectError, labels_hash
from napari_unet.core.project.training import round_settings, training_inputs
from tests.conftest import isbi_slice

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def crop():
    """(image uint8 96x96, strokes uint8) of a real ISBI slice."""
    image, truth = isbi_slice(0, crop=96)
    strokes = simulate_strokes(truth, seed=0, stroke_length=30, max_fraction=0.05)
    return image, strokes.astype(np.uint8)


def _train(image, strokes, init=None, steps=3):
    config = TrainingConfig(
        max_time=None,
        max_steps=steps,
        seed=0,
        batch_size=2,
        patch_size=(64, 64),
        validate_every_steps=3,
        device="cpu",
    )
    trainer = Trainer(
        [image], [strokes], init=init, config=config, model_config=UNetConfig(**PRESETS["tiny"])
    )
    return run_to_completion(trainer.run()), config


def _weights(model):
    return {k: v.clone() for k, v in model.network.state_dict().items()}


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _record(project, result, config, image_name, strokes, parent=None):
    return project.record_round(
        result.model,
        what="Training",
        settings=round_settings(config, dense=False),
        seed=config.seed,
        learned_from=[(image_name, strokes)],
        steps=result.steps,
        seconds=result.elapsed,
        device="cpu",
        parent=parent,
    )


@pytest.fixture
def two_rounds(tmp_path, crop):
    """A project (tmp/project) with image em.tif beside it (tmp/data) and two rounds."""
    image, strokes = crop
    (tmp_path / "data").mkdir()
    imsave(tmp_path / "data" / "em.tif", image, check_contrast=False)
    project = Project.create(tmp_path / "project")
    project.put_image(
        "em",
        image,
        file_path=tmp_path / "data" / "em.tif",
        labels=strokes,
        labels_name="strokes",
        scale=(2.0, 2.0),
        translate=(1.0, 3.0),
    )
    first, config = _train(image, strokes)
    _record(project, first, config, "em", strokes)
    second, _ = _train(image, strokes, init=first.model)
    _record(project, second, config, "em", strokes, parent=1)
    project.save()
    return project, first.model, second.model


def test_reopened_project_gives_back_image_labels_and_current_model(two_rounds, crop):
    project, _first, second = two_rounds
    image, strokes = crop
    again = Project.open(project.folder)
    assert again.manifest == project.manifest
    opened, problems = again.open_images()
    assert problems == [] and len(opened) == 1
    assert np.array_equal(np.asarray(opened[0].data), image)
    assert np.array_equal(opened[0].labels, strokes)
    assert opened[0].entry.scale == (2.0, 2.0) and opened[0].entry.translate == (1.0, 3.0)
    assert again.manifest.images[0].path == "../data/em.tif"  # relative to the project
    assert _same_weights(again.current_model(), second)


def test_every_round_keeps_its_own_model_file(two_rounds):
    project, first, second = two_rounds
    files = [r.model for r in project.manifest.rounds]
    assert files == ["models/round-001.pt", "models/round-002.pt"]
    assert _same_weights(project.load_round_model(1), first)
    assert _same_weights(project.load_round_model(2), second)
    assert project.manifest.rounds[1].parent == 1 and project.manifest.current_round == 2


def test_round_records_seed_labels_hash_scores_and_settings(two_rounds, crop):
    project, _first, _second = two_rounds
    record = project.manifest.rounds[0]
    assert record.seed == 0 and record.steps == 3 and record.device == "cpu"
    assert record.labels[0].hash == labels_hash(crop[1])
    assert record.validation_dice is not None and record.painted_pixels > 0
    assert record.settings["max_steps"] == 3 and record.settings["patch_size"] == [64, 64]


def test_make_current_rolls_back_without_deleting_later_rounds(two_rounds):
    project, first, _second = two_rounds
    model = project.make_current(1)
    assert _same_weights(model, first)
    again = Project.open(project.folder)
    assert again.manifest.current_round == 1 and len(again.manifest.rounds) == 2
    assert _same_weights(again.current_model(), first)
    assert (project.folder / "models" / "round-002.pt").is_file()


def test_a_new_round_after_rollback_never_overwrites_a_model_file(two_rounds, crop):
    project, first, second = two_rounds
    project.make_current(1)
    (project.folder / "models" / "round-003.pt").write_bytes(b"left by a killed save")
    result, config = _train(*crop, init=first, steps=1)
    record = _record(project, result, config, "em", crop[1], parent=1)
    assert record.number == 3 and record.model == "models/round-003-2.pt"
    assert _same_weights(project.load_round_model(2), second)


def test_moved_project_folder_names_the_missing_image(two_rounds, tmp_path, crop):
    project, _first, _second = two_rounds
    (tmp_path / "data" / "em.tif").rename(tmp_path / "elsewhere.tif")
    moved = tmp_path / "moved" / "deeper"
    shutil.move(project.folder, moved)
    again = Project.open(moved)  # the manifest opens; the image is what is missing
    opened, problems = again.open_images()
    assert len(problems) == 1 and opened[0].data is None  # the labels are still given back
    assert np.array_equal(opened[0].labels, crop[1])
    assert "image 'em'" in problems[0] and "../data/em.tif" in problems[0]
    assert str(tmp_path / "data" / "em.tif") in problems[0]  # where it was when saved
    with pytest.raises(ProjectError, match="image 'em'"):
        training_inputs(again)
    assert again.current_model() is not None  # the models are still there


def test_moved_project_finds_image_still_at_its_saved_path(two_rounds, tmp_path):
    project, _first, _second = two_rounds
    moved = tmp_path / "a" / "b" / "project"
    shutil.move(project.folder, moved)
    opened, problems = Project.open(moved).open_images()
    assert problems == [] and len(opened) == 1


def test_changed_image_file_is_refused(two_rounds, tmp_path, crop):
    project, _first, _second = two_rounds
    imsave(tmp_path / "data" / "em.tif", crop[0][:50], check_contrast=False)
    _opened, problems = Project.open(project.folder).open_images()
    assert "now uint8 (50, 96)" in problems[0] and "(96, 96)" in problems[0]


def test_in_memory_image_is_kept_as_ome_zarr_copy(tmp_path, crop):
    image, strokes = crop
    project = Project.create(tmp_path / "p")
    entry = project.put_image("em", image, labels=strokes)
    project.save()
    assert entry.source == "copy" and entry.path.startswith("images/")
    meta = json.loads((tmp_path / "p" / entry.path / "zarr.json").read_text())
    assert meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] == "0"
    opened, problems = Project.open(tmp_path / "p").open_images()
    assert problems == [] and np.array_equal(np.asarray(opened[0].data), image)


def test_sparse_stack_labels_take_little_room(tmp_path):
    stack = np.zeros((40, 512, 512), np.uint8)  # 10 MB of labels
    stack[3, 100:110, 50:300] = 1
    project = Project.create(tmp_path / "p")
    project.put_image("stack", np.zeros(stack.shape, np.uint8), labels=stack)
    store = tmp_path / "p" / project.manifest.images[0].labels.path
    size = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    assert size < 20_000


def test_labels_store_of_wrong_shape_is_refused(tmp_path, crop):
    image, strokes = crop
    project = Project.create(tmp_path / "p")
    project.put_image("em", image, labels=strokes)
    project.save()
    store = tmp_path / "p" / project.manifest.images[0].labels.path
    shutil.rmtree(store)
    import zarr

    zarr.create_array(str(store), shape=(5, 5), dtype="uint8", fill_value=0)
    _opened, problems = Project.open(tmp_path / "p").open_images()
    assert "not integer labels of its image's shape (96, 96)" in problems[0]


def test_new_project_in_a_project_folder_is_refused(tmp_path):
    Project.create(tmp_path / "p")
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.create(tmp_path / "p")


def test_folder_without_project_is_refused(tmp_path):
    with pytest.raises(ProjectError, match="not a napari-unet project folder"):
        Project.open(tmp_path)


KILLED_SAVE = """
import os, signal, sys
import numpy as np
import napari_unet.core.project.folder as folder
from napari_unet.core.project import Project
from napari_unet.core.project.training import round_settings
from napari_unet.core.training.trainer import TrainingConfig

real_atomic_write = folder.atomic_write

def half_then_die(path, write):
    def write_half(handle):
        import io
        buffer = io.BytesIO()
        write(buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_atomic_write(path, write_half)

folder.atomic_write = half_then_die
project = Project.open(sys.argv[1])
model = project.current_model()
labels = np.load(sys.argv[2])
project.put_image("em", np.zeros(labels.shape, np.uint8), labels=labels)
project.record_round(model, what="Retraining", settings=round_settings(
    TrainingConfig(max_steps=1), dense=False), seed=1, learned_from=[("em", labels)],
    steps=1, seconds=0.1, device="cpu", parent=2)
project.save()
"""


def test_save_killed_mid_write_leaves_previous_state_openable(two_rounds, tmp_path, crop):
    project, _first, second = two_rounds
    before = project.manifest_path.read_bytes()
    new_labels = crop[1].copy()
    new_labels[:10, :10] = 2  # other labels: a new labels store is written first
    np.save(tmp_path / "labels.npy", new_labels)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(project.folder), str(tmp_path / "labels.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert (project.folder / "models" / "round-003.pt").is_file()  # written before the kill
    assert list(project.folder.glob(".project.json.*.tmp"))  # the half-written manifest
    assert project.manifest_path.read_bytes() == before
    again = Project.open(project.folder)
    assert again.manifest == project.manifest
    opened, problems = again.open_images()
    assert problems == [] and np.array_equal(opened[0].labels, crop[1])
    assert _same_weights(again.current_model(), second)
    again.save()  # the next save removes the dead process's temporary
    assert not list(project.folder.glob(".project.json.*.tmp"))
