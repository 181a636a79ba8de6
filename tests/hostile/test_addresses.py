"""``predict --scheduler ADDRESS``: a malformed address, an unknown or unusable protocol,
or TLS without a security configuration is exit code 2 and ONE stderr line naming the
address, before any connection is tried (distributed's own address parsing)."""

from __future__ import annotations

import time

import pytest
import tifffile

from napari_unet.core import save_model
from tests.cli.bad_input_files import run_cli, tiny_model
from tests.conftest import isbi_slice

BAD = {  # address: words in the one line
    "127.0.0.1": "has no port number",
    "tcp://127.0.0.1": "has no port number",
    "tcp://127.0.0.1:notaport": "cannot be read",
    "tcp://127.0.0.1:8786/": "cannot be read",
    "tcp://127.0.0.1:8786/status": "cannot be read",
    "tcp://127.0.0.1:99999": "not between 1 and 65535",
    "tcp://127.0.0.1:0": "not between 1 and 65535",
    "tcp://127.0.0.1:-1": "not between 1 and 65535",
    "tcp://:8786": "is not a host name",
    "tcp://user@host:8786": "is not a host name",
    "tcp://[::1": "cannot be read",
    "ucx://127.0.0.1:8786": "UCX",
    "tls://127.0.0.1:8786": "TLS security configuration",
    "wss://127.0.0.1:8786": "TLS security configuration",
    "inproc://127.0.0.1/1/2": "same process",
    "http://127.0.0.1:8787": "dashboard",
    "zmq://127.0.0.1:8786": "unknown protocol",
    "tcp:/127.0.0.1:8786": "not a dask scheduler address",
    "": "empty",
    "   ": "empty",
    "tcp://127.0.0.1:8786 extra": "spaces",
    "tcp://host\x00:8786": "control characters",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("addresses")
    tifffile.imwrite(root / "img.tif", isbi_slice(0, crop=64)[0])
    return {"model": save_model(tiny_model(), root / "m.pt"), "img": root / "img.tif"}


@pytest.mark.parametrize("address", list(BAD))
def test_bad_scheduler_address_is_one_line_before_any_connection(address, files, tmp_path, capsys):
    start = time.monotonic()
    code, lines, err = run_cli(
        [
            "predict",
            "--model",
            files["model"],
            "--images",
            files["img"],
            "--out-dir",
            tmp_path / "out",
            "--scheduler",
            address,
        ],
        capsys,
    )
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in err and "please report" not in err, err
    assert "--scheduler" in lines[0] and BAD[address] in lines[0], err
    assert time.monotonic() - start < 5  # no connection was tried (that waits 20 s)
    assert not (tmp_path / "out").exists()
