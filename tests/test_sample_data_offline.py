"""The ISBI sample without network: a message that says it downloads once, from where, and
how to place the files by hand, instead of a raw ``requests`` ConnectionError."""

from __future__ import annotations

import pytest

from napari_unet import sample_data
from napari_unet.core.errors import UserInputError


def test_isbi_sample_offline_says_it_downloads_once_and_how_to_place_the_files(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(sample_data.DATA_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(sample_data, "ISBI_BASE_URL", "http://127.0.0.1:9/")  # refused at once
    with pytest.raises(UserInputError) as caught:
        sample_data.isbi_sample()
    message = str(caught.value)
    assert "downloaded once" in message and "http://127.0.0.1:9/" in message
    assert str(tmp_path / "cache" / "isbi2012") in message
    assert "image/0.png" in message and "label/0.png" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_isbi_sample_downloads_through_pooch_with_sha256(monkeypatch, tmp_path):
    """The real download path is kept: pooch with the SHA-256 registry and the GitHub URL."""
    monkeypatch.setenv(sample_data.DATA_DIR_ENV, str(tmp_path))
    fetcher = sample_data.isbi_fetcher()
    assert fetcher.base_url == sample_data.ISBI_BASE_URL.rstrip("/") + "/"
    assert fetcher.base_url.startswith("https://raw.githubusercontent.com/zhixuhao/unet/")
    assert fetcher.registry["label/0.png"] == "sha256:" + sample_data.ISBI_REGISTRY["label/0.png"]


def test_isbi_download_size_is_one_figure_the_true_one_in_menu_and_message(tmp_path, monkeypatch):
    """The menu entry (napari.yaml) and the offline message give the same size, and it is the
    real size of the files the registry pins (summed from the SHA-256-checked copies in
    ``../shared/data`` when they are there)."""
    from pathlib import Path

    from npe2 import PluginManifest

    from tests.conftest import SHARED_DATA

    manifest = PluginManifest.from_file(Path(__file__).resolve().parents[1] / "napari.yaml")
    entry = {s.key: s.display_name for s in manifest.contributions.sample_data}["isbi2012"]
    assert f"downloads {sample_data.ISBI_DOWNLOAD_TEXT}" in entry
    monkeypatch.setenv(sample_data.DATA_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(sample_data, "ISBI_BASE_URL", "http://127.0.0.1:9/")
    with pytest.raises(UserInputError) as caught:
        sample_data.isbi_sample()
    assert sample_data.ISBI_DOWNLOAD_TEXT in str(caught.value)
    assert sample_data.ISBI_DOWNLOAD_TEXT == "about 1 MB"
    if (SHARED_DATA / "isbi2012").is_dir():
        import hashlib

        total = 0
        for name, digest in sample_data.ISBI_REGISTRY.items():
            kind, file = name.split("/")
            data = (SHARED_DATA / "isbi2012" / f"{kind}s" / file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, name
            total += len(data)
        assert total == sample_data.ISBI_DOWNLOAD_BYTES
