"""Sweeps (core/robustness/sweeps.py) on a model trained on real ISBI strokes: the
perturbation curve over levels and images, and the eps sweep of one attack."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_unet.core import StopFlag, run_to_completion
from napari_unet.core.attacks import FGSM
from napari_unet.core.robustness import perturbation_curve, robustness_curve

from .conftest import curve_of, normalized


def test_stronger_levels_do_more_damage_and_rows_follow_the_levels(trained, held_out):
    image, classes = held_out
    curve = curve_of(trained.model, image, "blur", [0.0, 1.0, 4.0], truths=[classes])
    assert curve.levels == [0.0, 1.0, 4.0]
    assert curve.dice[0] == 1.0 > curve.dice[1] > curve.dice[2]
    assert all("dice_vs_truth" in r for r in curve.rows)


def test_stop_ends_the_curve_early_and_marks_it_stopped(trained, held_out):
    image, _ = held_out
    stop = StopFlag()
    work = perturbation_curve(trained.model, [image, image], "noise", [0.0, 0.1], stop=stop)
    next(work)
    stop.request_stop()
    curve = run_to_completion(work)
    assert curve.stopped and len(curve.rows) < 2


def test_attack_levels_are_eps_in_normalized_units(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "pgd", [8 / 255], attack_steps=3, keep_example=True)
    _, _, span = normalized(trained.model, image)
    linf = np.abs(curve.example.astype(np.float64) - image).max() / span
    assert linf == pytest.approx(8 / 255, rel=1e-3)
    assert curve.rows[0]["dice_vs_clean"] < 0.99


def test_eps_sweep_starts_with_the_clean_row_and_dice_decreases(
    isbi_model, isbi_test_slice, tmp_path
):
    image, _ = isbi_test_slice
    curve = run_to_completion(
        robustness_curve(
            lambda e: FGSM(e), isbi_model, image, [8 / 255, 2 / 255], keep_float=True, device="cpu"
        )
    )
    assert curve.perturbation == "fgsm" and curve.levels == [0.0, 2 / 255, 8 / 255]
    assert curve.dice[0] == 1.0 and curve.dice[2] < curve.dice[0]
    assert curve.last is not None and curve.kept_float
    assert curve.rows[0]["linf"] == 0.0 < curve.rows[2]["linf"] <= 8 / 255 + 1e-6
    text = curve.to_csv(tmp_path / "curve.csv").read_text().splitlines()
    assert (
        text[0].startswith("perturbation,level,dice_vs_clean,fraction_changed") and len(text) == 4
    )


def test_eps_sweep_with_labels_scores_against_the_truth_and_the_clean_prediction(
    isbi_model, isbi_test_slice, tmp_path
):
    image, labels = isbi_test_slice  # 0/255 truth, the model's dense label values
    curve = run_to_completion(
        robustness_curve(
            lambda e: FGSM(e), isbi_model, image, [8 / 255], labels=labels, device="cpu"
        )
    )
    clean, attacked = curve.rows
    assert clean["dice_vs_clean"] == 1.0 and 0.3 < clean["dice_vs_truth"] < 1.0
    assert attacked["dice_vs_truth"] == curve.last.metrics.dice_adversarial
    assert attacked["dice_vs_clean"] < 1.0
    rows = list(csv.DictReader(open(curve.to_csv(tmp_path / "c.csv"))))
    assert list(rows[0])[:4] == ["perturbation", "level", "dice_vs_clean", "dice_vs_truth"]
