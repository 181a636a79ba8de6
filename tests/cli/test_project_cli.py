"""``train --project`` and ``predict --project`` on a project of a real ISBI crop: the
next round trained headless (the same state and seed give the same weights on the CPU),
prediction with the project's current model, and bad input in one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
import torch
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core import load_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.project import Project
from tests.conftest import isbi_slice

TRAIN = ["--steps", "3", "--seed", "7", "--device", "cpu"]


@pytest.fixture(scope="module")
def project_with_round(tmp_path_factory):
    """A project (root/project) of ISBI crop em.png (root/em.png, 96x96) and its strokes,
    with one round trained by ``train --project``."""
    root = tmp_path_factory.mktemp("project-cli")
    image, truth = isbi_slice(0, crop=96)
    imsave(root / "em.png", image, check_contrast=False)
    strokes = simulate_strokes(truth, seed=0, stroke_length=30, max_fraction=0.05)
    project = Project.create(root / "project")
    project.put_image("em", image, file_path=root / "em.png", labels=strokes.astype(np.uint8))
    project.save()
    assert main(["train", "--project", str(root / "project"), "--preset", "tiny", *TRAIN]) == 0
    return root


def _copy(root, name):
    """A copy of the project folder beside the original (its image path stays valid)."""
    target = root / name
    shutil.copytree(root / "project", target)
    return target


def _weights(path):
    return load_model(path).network.state_dict()


def test_first_round_is_recorded_and_current(project_with_round):
    project = Project.open(project_with_round / "project")
    record = project.manifest.current
    assert record.number == 1 and record.parent is None and record.seed == 7
    assert record.steps == 3 and record.device == "cpu" and record.what == "Training"
    assert record.labels[0].image == "em" and record.settings["new_model"]["depth"] >= 1
    assert (project.folder / "models" / "round-001.pt").is_file()


def test_train_project_twice_from_same_state_gives_equal_weights(project_with_round, capsys):
    a, b = _copy(project_with_round, "a"), _copy(project_with_round, "b")
    for folder in (a, b):
        assert main(["train", "--project", str(folder), *TRAIN]) == 0
        assert "round 2" in capsys.readouterr().out
    wa, wb = _weights(a / "models" / "round-002.pt"), _weights(b / "models" / "round-002.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    w1 = _weights(a / "models" / "round-001.pt")
    assert any(not torch.equal(wa[k], w1[k]) for k in wa)  # round 2 did learn
    record = Project.open(a).manifest.current
    assert record.number == 2 and record.parent == 1 and record.what == "Continuing"


def test_predict_project_uses_the_current_round(project_with_round, tmp_path):
    folder = _copy(project_with_round, "predict")
    assert main(["train", "--project", str(folder), *TRAIN]) == 0
    Project.open(folder).make_current(1)  # rolled back: round 2 is kept, round 1 current
    image = str(project_with_round / "em.png")
    outputs = {}
    for name, source in [
        ("project", ["--project", str(folder)]),
        ("round1", ["--model", str(folder / "models" / "round-001.pt")]),
        ("round2", ["--model", str(folder / "models" / "round-002.pt")]),
    ]:
        out = tmp_path / name
        args = ["predict", *source, "--images", image, "--out-dir", str(out), "--probabilities"]
        assert main([*args, "--device", "cpu"]) == 0
        outputs[name] = tifffile.imread(out / "em_probabilities.tif")
    assert np.array_equal(outputs["project"], outputs["round1"])
    assert not np.array_equal(outputs["round1"], outputs["round2"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--project", "{tmp}"], "not a napari-unet project folder"),
        (["train", "--project", "{project}", "--images", "{image}"], "drop --images"),
        (["train", "--project", "{project}", "--preset", "tiny"], "Drop --preset"),
        (["train", "--steps", "2"], "--images, --labels, --out (or --project DIR)"),
        (["predict", "--project", "{empty}", "--images", "{image}", "--out-dir", "{tmp}/o"],
         "has no model yet"),
        (["predict", "--project", "{project}", "--model", "{model}", "--images", "{image}",
          "--out-dir", "{tmp}/o"], "not allowed with argument"),
    ],
)  # fmt: skip
def test_bad_project_options_end_in_one_line(project_with_round, tmp_path, capsys, args, words):
    empty = tmp_path / "empty"
    Project.create(empty)
    names = {
        "tmp": tmp_path,
        "project": project_with_round / "project",
        "empty": empty,
        "image": project_with_round / "em.png",
        "model": project_with_round / "project" / "models" / "round-001.pt",
    }
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
