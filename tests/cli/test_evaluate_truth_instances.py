"""``evaluate`` of a class prediction against an instance mask: ``--truth-instances``
compares the predicted foreground with the objects' foreground; without it, a clear refusal
instead of object ids scored as classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from napari_unet.cli import main
from tests.conftest import data_root


@pytest.fixture
def nuclei(tmp_path):
    """The real nuclei instance mask (ids not contiguous) and a class prediction of it
    (1 = background, 2 = nucleus) that misses a 2-pixel rim of every nucleus."""
    mask = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif")
    pred = np.where(ndi.binary_erosion(mask > 0, iterations=2), 2, 1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    return mask, pred, tmp_path / "pred.tif", str(data_root() / "nuclei2d" / "mask2d.tif")


def test_truth_instances_compares_predicted_foreground_with_objects(nuclei, capsys):
    mask, pred, pred_path, truth_path = nuclei
    assert np.unique(mask).size > 3  # a real instance mask
    code = main(["evaluate", "--pred", str(pred_path), "--truth", truth_path, "--truth-instances"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    fg_pred, fg_true = pred == 2, mask > 0
    expected = 2 * (fg_pred & fg_true).sum() / (fg_pred.sum() + fg_true.sum())
    assert report["classes"]["2"]["dice"] == pytest.approx(expected)
    assert 0.7 < report["classes"]["2"]["dice"] < 1.0
    assert set(report["classes"]) == {"1", "2"}


def test_classes_against_instances_without_the_option_is_refused_clearly(nuclei, capsys):
    _mask, _pred, pred_path, truth_path = nuclei
    code = main(["evaluate", "--pred", str(pred_path), "--truth", truth_path])
    err = capsys.readouterr().err
    assert code == 2
    assert "instance mask" in err and "--truth-instances" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_class_truth_is_still_compared_class_by_class(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (64, 64)).astype(np.uint8)  # 0/1/2: a dense 3-class mask
    pred = (truth + 1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "t.tif", truth)
    tifffile.imwrite(tmp_path / "p.tif", pred)
    assert (
        main(["evaluate", "--pred", str(tmp_path / "p.tif"), "--truth", str(tmp_path / "t.tif")])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert all(v["dice"] == 1.0 for v in report["classes"].values())
