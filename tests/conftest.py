"""Shared fixtures: real microscopy data, read in place, never copied.

The data come from ``../shared/data`` beside the repository when it is there, otherwise from
the small crops in ``tests/data`` (same layout, provenance in ``tests/data/README.md``), so a
fresh clone runs the suite. A test that needs more than the crops calls
:func:`require_shared_data`, which skips naming ``../shared/data``; under CI (``CI`` set) a
skip for missing data while ``../shared/data`` exists is turned into a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA_NAME = "../shared/data"  # every skip for missing data names it (see the hook below)


def data_root() -> Path:
    """``../shared/data`` when present, else the crops in ``tests/data`` (same file layout)."""
    return SHARED_DATA if SHARED_DATA.is_dir() else TEST_DATA


def require_shared_data(relative: str = "") -> Path:
    """``../shared/data/<relative>``; skips the test, naming that path, when it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(
            f"needs the full real data {SHARED_DATA_NAME}/{relative} beside the "
            f"repository (tests/data holds only small crops)"
        )
    return path


def isbi_slice(i: int, crop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ISBI 2012 slice ``i``: (image uint8, classes uint8 with 1 = membrane, 2 = interior).

    Slices 0, 1, 2 (256x256) and 6 (128x128) are in ``tests/data``; a larger crop or another
    slice needs ``../shared/data``.
    """
    from skimage.io import imread

    image_file = data_root() / "isbi2012" / "images" / f"{i}.png"
    if not image_file.exists():
        require_shared_data(f"isbi2012/images/{i}.png")
    image = imread(image_file)
    if crop is None and image.shape != (512, 512) or crop and crop > min(image.shape):
        require_shared_data(f"isbi2012/images/{i}.png")
    mask = imread(data_root() / "isbi2012" / "labels" / f"{i}.png")
    classes = np.where(mask > 127, 2, 1).astype(np.uint8)
    if crop:
        image, classes = image[:crop, :crop], classes[:crop, :crop]
    return image, classes


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder: ``../shared/data``, or ``tests/data`` with its crops (see README)."""
    return data_root()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail data skips under CI when ``../shared/data`` exists; give napari's viewer fixture the
    call report it reads at teardown when a data fixture skipped during set-up."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and not report.passed and not hasattr(item, "rep_call"):
        item.rep_call = report  # napari's make_napari_viewer teardown reads rep_call.failed
    if (
        report.skipped
        and os.environ.get("CI")
        and SHARED_DATA.is_dir()
        and SHARED_DATA_NAME in str(report.longrepr)
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped for missing data although {SHARED_DATA} exists: {report.longrepr}"
        )


ISBI_CROP = 256


def _isbi_dense(index: int, crop: int = ISBI_CROP) -> tuple[np.ndarray, np.ndarray]:
    """ISBI slice ``index`` cropped: (image uint8, mask 0 = membrane / 255 = cell)."""
    image, classes = isbi_slice(index, crop=crop)
    return image, np.where(classes == 2, 255, 0).astype(np.uint8)


@pytest.fixture(scope="session")
def isbi_test_slice() -> tuple[np.ndarray, np.ndarray]:
    """A 128x128 uint8 ISBI crop not used for training, with its 0/255 truth."""
    return _isbi_dense(6, crop=128)


@pytest.fixture(scope="session")
def isbi_model():
    """A small U-Net (depth 2, width 8) trained 60 steps (seed 0) on 2 dense ISBI crops."""
    from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion

    pairs = [_isbi_dense(i) for i in (0, 1)]
    trainer = Trainer(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None, max_steps=60, seed=0, validate_every_steps=60, batch_size=4
        ),
    )
    return run_to_completion(trainer.run()).model


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the process with pytest's own exit status once everything is reported.

    Interpreter teardown with Qt, napari, torch's thread pools and dask's worker processes
    still alive crashed once in a while (a segmentation fault after "N passed"), which
    would turn a green run red; skipping that teardown keeps the status the tests earned."""
    if _EXIT_STATUS and os.environ.get("NAPARI_UNET_FULL_TEARDOWN") != "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@pytest.fixture(autouse=True)
def _grad_mode_left_as_found():
    """Fail the test that leaves autograd off in the main thread.

    A generator suspended inside ``torch.no_grad()``/``torch.inference_mode()`` and never
    finished leaves gradients off for whatever the thread runs next (later training then fails
    with "element 0 of tensors does not require grad"): this names the culprit instead.
    """
    import torch

    yield
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        pytest.fail("the test left autograd off (inference mode or no_grad) in the main thread")
