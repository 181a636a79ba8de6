"""Uncompressed TIFFs are read through a memory map (no strip decoded whole, nothing
allocated from the header's claim), with the same values as tifffile reads them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tifffile

from napari_unet.core.errors import UserInputError
from napari_unet.core.io.image_files import open_tiff_lazy
from napari_unet.core.io.mapped_tiff import MappedTiff
from tests.conftest import isbi_slice


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_uncompressed_tiff_is_mapped_and_reads_like_tifffile(byteorder, tmp_path):
    stack = np.stack([isbi_slice(i, crop=128)[0].astype(np.uint16) * 3 for i in range(3)])
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, byteorder=byteorder)
    opened = open_tiff_lazy(path)
    assert isinstance(opened, MappedTiff) and opened.shape == stack.shape
    assert opened.dtype == np.uint16 and opened[1, 5:9, 7:20].dtype.isnative
    np.testing.assert_array_equal(opened[1, 5:9, 7:20], stack[1, 5:9, 7:20])
    np.testing.assert_array_equal(np.asarray(opened), stack)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(opened))[2], stack[2])


def test_compressed_tiff_stays_a_chunked_view(tmp_path):
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, isbi_slice(0, crop=128)[0], compression="zlib")
    opened = open_tiff_lazy(path)
    assert not isinstance(opened, MappedTiff)
    np.testing.assert_array_equal(opened[:, :], isbi_slice(0, crop=128)[0])


def test_truncated_uncompressed_tiff_is_one_clear_error(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, isbi_slice(0, crop=128)[0])
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserInputError, match="cut.tif"):
        open_tiff_lazy(path)
