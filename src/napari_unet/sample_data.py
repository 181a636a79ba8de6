"""Sample data for napari's File > Open Sample menu.

* ``synthetic_sample``: a 2D fluorescence-like image of blobs (nuclei) with a few
  strokes already painted (1 = background, 2 = object); generated on the fly and
  deterministic, so the demo works with no network.
* ``isbi_sample``: the first slices of the ISBI 2012 EM segmentation challenge
  training set (Drosophila larva ventral nerve cord, ssTEM), with simulated strokes on
  slice 0. Downloaded on first use with pooch from the PNG export of the
  zhixuhao/unet repository, verified by SHA-256, then cached. Set the environment
  variable ``NAPARI_UNET_DATA_DIR`` to choose the cache folder (for offline use, fill it
  with :func:`seed_isbi_cache`).

No napari import: these functions return napari ``LayerDataTuple`` lists.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.errors import UserInputError

LayerDataTuple = tuple[np.ndarray, dict[str, Any], str]

DATA_DIR_ENV = "NAPARI_UNET_DATA_DIR"
ISBI_BASE_URL = "https://raw.githubusercontent.com/zhixuhao/unet/master/data/membrane/train/"
ISBI_SLICES = 5
ISBI_REGISTRY: dict[str, str] = {
    "image/0.png": "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",
    "image/1.png": "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",
    "image/2.png": "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",
    "image/3.png": "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",
    "image/4.png": "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",
    "label/0.png": "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",
}
# bytes of the files above (fixed by their SHA-256): 187651 + 188189 + 188971 + 187963 +
# 189054 + 14322; the menu entry (napari.yaml) and the offline message both show
# ISBI_DOWNLOAD_TEXT, which tests/test_sample_data_offline.py checks against this
ISBI_DOWNLOAD_BYTES = 956_150


def download_size_text(size: int) -> str:
    """``size`` bytes as the menu and the messages say it: "about 1 MB" (decimal MB,
    one significant digit below 10 MB, whole MB above)."""
    megabytes = size / 1e6
    return f"about {float(f'{megabytes:.1g}') if megabytes < 10 else round(megabytes):g} MB"


ISBI_DOWNLOAD_TEXT = download_size_text(ISBI_DOWNLOAD_BYTES)


# --------------------------------------------------------------------------- synthetic
def synthetic_image(
    shape: tuple[int, int] = (256, 256), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence-like image of nuclei and its true classes.

    Returns ``image`` ``(Y, X)`` uint16 (blurred blobs of varying brightness on an uneven
    background, Poisson-like noise) and ``classes`` ``(Y, X)`` uint8 (1 = background,
    2 = nucleus). Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    objects = np.zeros(shape, bool)
    signal = np.zeros(shape, np.float32)
    n_blobs = max(8, shape[0] * shape[1] // 2200)
    for _ in range(n_blobs):
        cy, cx = rng.uniform(8, shape[0] - 8), rng.uniform(8, shape[1] - 8)
        ry, rx = rng.uniform(6, 13), rng.uniform(6, 13)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        inside = (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
        objects |= inside
        signal[inside] = np.maximum(signal[inside], rng.uniform(0.5, 1.0))
    texture = ndi.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), 2)
    signal = ndi.gaussian_filter(signal * (1 + 0.15 * texture), 1.2)
    background = 0.08 + 0.06 * (xx / shape[1]) + 0.04 * (yy / shape[0])
    expected = 800 * (background + signal)
    noisy = rng.poisson(expected).astype(np.float32) + rng.normal(100, 10, shape)
    image = np.clip(noisy, 0, 65535).astype(np.uint16)
    classes = np.where(objects, 2, 1).astype(np.uint8)
    return image, classes


def synthetic_sample() -> list[LayerDataTuple]:
    """napari sample: synthetic nuclei image + sparse strokes (a few per class)."""
    image, classes = synthetic_image()
    strokes = simulate_strokes(classes, strokes_per_class=5, stroke_length=40, seed=0)
    return [
        (image, {"name": "synthetic nuclei"}, "image"),
        (strokes.astype(np.uint8), {"name": "synthetic nuclei strokes"}, "labels"),
    ]


# --------------------------------------------------------------------------- ISBI 2012
def data_dir() -> Path:
    """Cache folder of downloaded samples: ``$NAPARI_UNET_DATA_DIR`` or pooch's user cache."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("napari-unet"))


def isbi_fetcher() -> Any:
    """A ``pooch.Pooch`` for the ISBI slices (downloads lazily, checks SHA-256)."""
    import pooch

    return pooch.create(
        path=data_dir() / "isbi2012",
        base_url=ISBI_BASE_URL,
        registry={name: f"sha256:{digest}" for name, digest in ISBI_REGISTRY.items()},
    )


def seed_isbi_cache(source: str | os.PathLike) -> Path:
    """Copy ISBI PNGs from a local folder (``images/i.png``, ``labels/i.png``) into the cache.

    For offline machines and tests; the files are still verified by SHA-256 when loaded.
    """
    source = Path(source)
    target = data_dir() / "isbi2012"
    for name in ISBI_REGISTRY:
        kind, file = name.split("/")
        src = source / ("images" if kind == "image" else "labels") / file
        dst = target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            shutil.copyfile(src, dst)
    return target


def load_isbi(slices: int = ISBI_SLICES) -> tuple[np.ndarray, np.ndarray]:
    """ISBI stack ``(slices, 512, 512)`` uint8 and slice 0's mask (255 = cell interior)."""
    from skimage.io import imread

    fetcher = isbi_fetcher()
    images = np.stack([imread(_fetch(fetcher, f"image/{i}.png")) for i in range(slices)])
    mask = imread(_fetch(fetcher, "label/0.png"))
    return images.astype(np.uint8), mask


def _fetch(fetcher: Any, name: str) -> str:
    """``fetcher.fetch(name)``; a failed download becomes a :class:`UserInputError` that says
    the sample is downloaded once, from where, and how to place the files by hand."""
    try:
        return fetcher.fetch(name)
    except OSError as err:  # requests' ConnectionError, timeouts, DNS failures are OSErrors
        raise UserInputError(
            f"The ISBI 2012 sample must be downloaded once ({len(ISBI_REGISTRY)} PNG files, "
            f"{ISBI_DOWNLOAD_TEXT}) from "
            f"{ISBI_BASE_URL} but the download of {name} failed "
            f"({type(err).__name__}). Connect to the internet and open the sample again, or "
            f"copy the files by hand: {', '.join(ISBI_REGISTRY)} (from that address's "
            f"image/ and label/ folders) into {Path(fetcher.path)}/ (checked by SHA-256; "
            f"set {DATA_DIR_ENV} to use another folder). The synthetic sample needs no "
            "download."
        ) from None


def isbi_sample() -> list[LayerDataTuple]:
    """napari sample: 5 ISBI 2012 EM slices, with simulated strokes on slice 0.

    Strokes follow the project's convention for the ISBI masks: 1 = membrane
    (background), 2 = cell interior.
    """
    images, mask = load_isbi()
    strokes = np.zeros(images.shape, np.uint8)
    strokes[0] = simulate_strokes(np.where(mask > 127, 2, 1).astype(np.uint8), seed=0)
    return [
        (images, {"name": "ISBI 2012 EM"}, "image"),
        (strokes, {"name": "ISBI 2012 EM strokes"}, "labels"),
    ]
