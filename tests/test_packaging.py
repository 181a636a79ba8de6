"""napari finds the plugin's manifest, in the editable install and from a built wheel.

``napari.yaml`` lives at the top of the repository (the design card) and
``src/napari_unet/napari.yaml`` is a symlink to it; npe2 finds the manifest through the
``napari.manifest`` entry point ``napari_unet:napari.yaml``, i.e. a file inside the package.
So the wheel must carry the real file, which these tests check by building one and
installing it into a fresh virtual environment (about 10-20 s; kept in the default run).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "napari.yaml"
DIST = "napari-unet"
ENTRY_VALUE = "napari_unet:napari.yaml"


def _entry_point() -> importlib.metadata.EntryPoint | None:
    for ep in importlib.metadata.entry_points(group="napari.manifest"):
        if ep.name == DIST:
            return ep
    return None


# --- the installed (editable) package --------------------------------------------------


def test_entry_point_names_the_packaged_manifest():
    ep = _entry_point()
    assert ep is not None, "no 'napari.manifest' entry point named napari-unet is installed"
    assert ep.value == ENTRY_VALUE


def test_npe2_loads_the_manifest_from_the_distribution():
    import npe2

    manifest = npe2.PluginManifest.from_distribution(DIST)
    assert manifest.name == DIST
    # What npe2 reads through the entry point is the top-level napari.yaml.
    assert manifest == npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.contributions.widgets, "the manifest declares no widgets"


def test_plugin_manager_discovers_napari_unet():
    import npe2

    pm = npe2.PluginManager()  # a private manager: the global one is napari's
    pm.discover(include_npe1=False)
    manifest = pm.get_manifest(DIST)
    assert manifest.name == DIST
    assert {w.command for w in manifest.contributions.widgets} <= {
        c.id for c in manifest.contributions.commands
    }


def test_packaged_manifest_is_the_top_level_file():
    packaged = REPO / "src" / "napari_unet" / "napari.yaml"
    assert packaged.read_bytes() == MANIFEST.read_bytes()


# --- a wheel in a fresh virtual environment --------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built without network access (needs hatchling installed)."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip(
            "hatchling (the build backend) is not installed, so the wheel cannot be "
            "built offline; pip install hatchling to run this test"
        )
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("napari_unet-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_wheel_carries_the_real_manifest(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_unet/napari.yaml" in names
        info = zf.getinfo("napari_unet/napari.yaml")
        # A symlink stored as a link would have the S_IFLNK bits and hold only its target.
        assert (info.external_attr >> 16) & 0o170000 != 0o120000
        assert zf.read("napari_unet/napari.yaml") == MANIFEST.read_bytes()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "[napari.manifest]" in text
    assert f"{DIST} = {ENTRY_VALUE}" in text
    assert any(n.startswith("napari_unet/core/") for n in names)


_VENV_PROBE = """
import importlib.metadata as md, importlib.resources as res, json, sys
eps = [ep.value for ep in md.entry_points(group="napari.manifest") if ep.name == "napari-unet"]
module, resource = eps[0].split(":")
text = res.files(module).joinpath(resource).read_text()
import napari_unet
heavy = [m for m in ("torch", "numpy", "napari", "qtpy") if m in sys.modules]
print(json.dumps({"entry_points": eps, "manifest": text, "file": napari_unet.__file__,
                  "heavy": heavy}))
"""


def test_wheel_installs_into_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    bindir = "Scripts" if os.name == "nt" else "bin"
    python = venv / bindir / ("python.exe" if os.name == "nt" else "python")
    # The outer pip installs into the new environment (pip >= 22.3): no network, no deps.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    proc = subprocess.run(
        [str(python), "-c", _VENV_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["entry_points"] == [ENTRY_VALUE]
    assert found["manifest"] == MANIFEST.read_text()
    # It ran the installed copy, not the repository's src/ (no system site packages).
    assert Path(found["file"]).resolve().is_relative_to(venv.resolve())
    assert found["heavy"] == [], "napari_unet/__init__ must stay light"
