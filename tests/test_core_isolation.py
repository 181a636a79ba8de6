"""The engine and the command line import neither napari nor any Qt binding.

Checked in a fresh interpreter, because this test session itself has napari and Qt loaded
(pytest-qt, make_napari_viewer).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

FORBIDDEN_PREFIXES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui")

MODULES = ["napari_unet", "napari_unet.core", "napari_unet.cli"]
if importlib.util.find_spec("napari_unet.core.attacks") is not None:
    MODULES.append("napari_unet.core.attacks")
MODULES += [
    "napari_unet.core.transforms",
    "napari_unet.core.robustness.sweeps",
    "napari_unet.core.training.natural_augment",
    "napari_unet.cli.robustness",
]
# bioimage.io export and package loading, and the command that uses them
MODULES += [
    "napari_unet.core.model.bioimageio_export",
    "napari_unet.core.model.bioimageio_package",
    "napari_unet.cli.export",
]
# lazy training and cluster runs (workers import these without napari or Qt)
MODULES += [
    "napari_unet.core.data.lazy_units",
    "napari_unet.core.data.patches",
    "napari_unet.core.prediction.distributed",
    "napari_unet.core.prediction.cluster",
]

_PROBE = """
import importlib, json, sys
importlib.import_module({module!r})
print(json.dumps(sorted(sys.modules)))
"""


def forbidden(loaded: list[str]) -> list[str]:
    """Names among ``loaded`` that belong to napari (except napari_unet), Qt or magicgui."""
    bad = []
    for name in loaded:
        top = name.split(".")[0]
        if top == "napari_unet":
            continue
        if top.startswith(FORBIDDEN_PREFIXES):
            bad.append(name)
    return bad


def test_forbidden_detects_gui_modules():
    """The filter itself: catches napari, Qt and magicgui, keeps napari_unet."""
    loaded = [
        "napari",
        "napari.utils",
        "napari_unet.core",
        "qtpy.QtCore",
        "PyQt5.QtWidgets",
        "PySide6",
        "magicgui.widgets",
        "numpy",
        "torch",
    ]
    assert forbidden(loaded) == [
        "napari",
        "napari.utils",
        "qtpy.QtCore",
        "PyQt5.QtWidgets",
        "PySide6",
        "magicgui.widgets",
    ]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_napari_or_qt(module):
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert module in loaded
    assert forbidden(loaded) == [], f"importing {module} loaded {forbidden(loaded)}"


_PROBE_ALL = """
import importlib, json, pkgutil, sys
import napari_unet.core, napari_unet.cli
names = []
for package in (napari_unet.core, napari_unet.cli):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_every_core_and_cli_module_imports_no_napari_or_qt():
    """All modules under napari_unet.core and napari_unet.cli, found on disk, in one process
    (any of them importing napari or Qt would leave it in ``sys.modules``)."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE_ALL], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "napari_unet.core.prediction.object_scale" in found["modules"]
    assert len(found["modules"]) > 30
    assert forbidden(found["loaded"]) == []
