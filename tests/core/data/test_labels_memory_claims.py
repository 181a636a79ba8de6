"""Small files that claim a lot cost little: a dense label value of 5e8, tens of thousands
of instances. Peak NumPy memory is measured with tracemalloc (which tracks NumPy buffers)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import tifffile

from napari_unet.core.data.labels import TargetEncoder, class_info_from_labels
from napari_unet.core.metrics import instance_f1
from tests.cli.bad_input_files import run_cli
from tests.conftest import isbi_slice

MB = 1 << 20


def _peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_dense_label_value_5e8_costs_no_lookup_table():
    _, classes = isbi_slice(0, crop=128)
    mask = np.where(classes == 2, 500_000_000, 0).astype(np.uint32)
    info = class_info_from_labels([mask], dense=True)
    targets, peak = _peak(lambda: TargetEncoder(info).encode(mask))
    np.testing.assert_array_equal(targets, (classes == 2).astype(np.int64))
    assert peak < 5 * MB, f"{peak / MB:.0f} MB for a 128x128 mask"


def test_train_cli_on_a_small_labels_file_claiming_5e8(tmp_path, capsys):
    image, classes = isbi_slice(0, crop=64)
    tifffile.imwrite(tmp_path / "img.tif", image)
    mask = np.where(classes == 2, 500_000_000, 0).astype(np.uint32)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    (code, lines, err), peak = _peak(
        lambda: run_cli(
            [
                "train",
                "--images",
                tmp_path / "img.tif",
                "--labels",
                tmp_path / "mask.tif",
                "--dense",
                "--out",
                tmp_path / "m.pt",
                "--steps",
                "1",
                "--device",
                "cpu",
            ],
            capsys,
        )
    )
    assert code == 0, err
    assert peak < 200 * MB, f"{peak / MB:.0f} MB"


def _many_instances(n_side: int, size: int = 4) -> np.ndarray:
    """``n_side**2`` square instances of ``size`` pixels a side, ids 1..n (shuffled)."""
    ids = np.random.default_rng(0).permutation(n_side * n_side).reshape(n_side, n_side) + 1
    return np.kron(ids, np.ones((size, size), np.int64)).astype(np.uint32)


def test_instance_f1_with_12000_instances_never_builds_an_n_by_m_matrix():
    truth = _many_instances(110)  # 12,100 instances, 440 x 440
    pred = truth.copy()
    pred[:, ::4] = 0  # every instance loses a quarter: IoU 0.75, still matched
    scores, peak = _peak(lambda: instance_f1(pred, truth, 0.5))
    assert scores["true_positives"] == scores["true"] == scores["predicted"] == 110 * 110
    assert scores["f1"] == 1.0
    assert peak < 100 * MB, f"{peak / MB:.0f} MB (a dense matrix would be 1.1 GB)"


def test_instance_f1_matches_unmatched_and_split_instances():
    truth = np.zeros((20, 40), np.uint32)
    truth[:, :10], truth[:, 10:20], truth[:, 30:] = 5, 9, 700_000_000
    pred = np.zeros_like(truth)
    pred[:, :10] = 3  # exact match
    pred[:10, 10:20], pred[10:, 10:20] = 4, 8  # one truth split in halves: IoU 0.5 each
    pred[:, 22:28] = 11  # a false positive
    scores = instance_f1(pred, truth, 0.5)
    assert scores["predicted"] == 4 and scores["true"] == 3
    assert scores["true_positives"] == 2  # the split truth matches only one half


def test_evaluate_instances_cli_with_262144_ids(tmp_path, capsys):
    ids = np.arange(512 * 512, dtype=np.uint32).reshape(512, 512)  # 262,143 one-pixel objects
    tifffile.imwrite(tmp_path / "p.tif", ids)
    tifffile.imwrite(tmp_path / "t.tif", ids)
    (code, lines, err), peak = _peak(
        lambda: run_cli(
            [
                "evaluate",
                "--pred",
                tmp_path / "p.tif",
                "--truth",
                tmp_path / "t.tif",
                "--instances",
            ],
            capsys,
        )
    )
    assert code == 0, err
    assert peak < 300 * MB, f"{peak / MB:.0f} MB (a dense matrix would be 512 GiB)"
