"""PyTorch's CPU threads sleep rather than spin while they wait (a busy machine keeps its
cores for work), unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW_POLICY = (
    "import napari_unet.core, os, torch; "
    "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads() >= 1)"
)


def _policy_after_import(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", SHOW_POLICY], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_importing_the_engine_sets_a_passive_openmp_wait_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_after_import(env) == "PASSIVE True"


def test_a_wait_policy_the_user_set_is_kept():
    assert _policy_after_import({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE True"
