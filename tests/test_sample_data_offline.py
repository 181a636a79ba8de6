"""The ISBI sample without network: a message that says it downloads once, from where, and
how to place the files by hand, instead of a raw ``requests`` ConnectionError."""

from __future__ import annotations

import pytest

from napari_unet import sample_data
from napari_unet.core.errors import UserInputError


def test_isbi_sample_offline_says_it_downloads_once_and_how_to_place_the_files(
        tmp_path, monkeypatch):
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
