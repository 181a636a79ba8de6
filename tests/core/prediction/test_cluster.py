"""Where a prediction runs (core/prediction/cluster.py): addresses checked before connecting, an
unreachable scheduler a clear error within the time limit, a lost worker a message that
says the finished blocks are kept."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from napari_unet.core import UserInputError
from napari_unet.core.prediction.cluster import ClusterChoice, cluster_client, cluster_run


@pytest.mark.parametrize(
    "address",
    ["tcp://10.0.0.5:8786", "127.0.0.1:8786", "tcp://[::1]:8786", "ws://node-3.cluster:8786"],
)
def test_scheduler_addresses_are_accepted(address):
    ClusterChoice("address", address=address).check()


def test_tls_addresses_are_accepted_with_a_tls_configuration(tmp_path):
    import dask.config

    settings = {
        "distributed.comm.tls.ca-file": str(tmp_path / "ca.pem"),
        "distributed.comm.tls.client.cert": str(tmp_path / "client.pem"),
    }
    with dask.config.set(settings):
        ClusterChoice("address", address="tls://node-3.cluster:8786").check()
    with pytest.raises(UserInputError, match="TLS security configuration"):
        ClusterChoice("address", address="tls://node-3.cluster:8786").check()


@pytest.mark.parametrize(
    "address",
    ["", "not an address!", "http://x y", "ucx://host:1", "tcp://host", "tcp://host:port"],
)
def test_malformed_addresses_are_refused_with_an_example(address):
    with pytest.raises(UserInputError, match="tcp://host:8786"):
        ClusterChoice("address", address=address).check()


def test_an_unknown_place_is_a_programming_error():
    with pytest.raises(ValueError, match="place"):
        ClusterChoice("everywhere")


def test_running_here_needs_no_client():
    with cluster_client(ClusterChoice()) as client:
        assert client is None


def test_an_unreachable_scheduler_is_refused_within_the_time_limit():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with (
        pytest.raises(UserInputError, match=f"127.0.0.1:{port}.*within 1 s"),
        cluster_client(ClusterChoice("address", address=f"tcp://127.0.0.1:{port}", timeout=1.0)),
    ):
        pass
    assert time.monotonic() - start < 30  # a bounded wait, not a hang


def test_a_worker_that_died_says_the_finished_blocks_are_kept():
    from distributed.scheduler import KilledWorker

    def run():
        yield 1
        raise KilledWorker("predict_block_task-1", SimpleNamespace(address="tcp://w:1"), 3)

    work = cluster_run(run(), "/data/out")
    assert next(work) == 1
    with pytest.raises(UserInputError, match="kept in /data/out: start again to resume"):
        next(work)
