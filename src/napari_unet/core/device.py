"""Choice of compute device, precision and CPU threads."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def available_cpu_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def configure_cpu_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads: all available cores unless told otherwise."""
    n = threads if threads and threads > 0 else available_cpu_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def select_device(name: str = "auto") -> torch.device:
    """Return the device for ``name``: ``auto`` picks CUDA, then MPS, then CPU;
    ``cuda:N`` names one GPU.

    Raises ``ValueError`` naming the problem when an explicit device is not available.
    """
    index = _cuda_index(name)
    if name not in DEVICES and index is None:
        raise ValueError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)} or cuda:N.")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA GPU is available; use --device cpu.")
    if index is not None and index >= torch.cuda.device_count():
        raise ValueError(
            f"There is no GPU {name}: this machine has "
            f"{torch.cuda.device_count()} (cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1})."
        )
    if name == "mps" and not mps_ok:
        raise ValueError("MPS was requested but is not available; use --device cpu.")
    return torch.device(name)


def _cuda_index(name: str) -> int | None:
    """N of ``cuda:N``, else None."""
    prefix, _, number = name.partition(":")
    return int(number) if prefix == "cuda" and number.isdigit() else None


def device_choices() -> list[tuple[str, str]]:
    """(label, device name) of every device this machine offers, for a choice list:
    auto, CPU, each CUDA GPU by name, and MPS when available."""
    choices = [("auto (GPU if any)", "auto"), ("CPU", "cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            choices.append((f"GPU {i}: {torch.cuda.get_device_name(i)}", f"cuda:{i}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append(("Apple GPU (MPS)", "mps"))
    return choices


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class PrecisionPolicy:
    """How a device computes: the autocast dtype (None = plain float32) and whether
    training scales the loss so that float16 gradients do not underflow to zero."""

    device: torch.device
    dtype: torch.dtype | None
    grad_scaling: bool = False

    @property
    def name(self) -> str:
        """``float32``, ``bfloat16`` or ``float16 + gradient scaling``."""
        if self.dtype is None:
            return "float32"
        name = str(self.dtype).removeprefix("torch.")
        return f"{name} + gradient scaling" if self.grad_scaling else name

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision per the policy; a no-op for float32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for float16 training, else None."""
        return torch.amp.GradScaler(self.device.type) if self.grad_scaling else None


def bf16_supported(device: torch.device) -> bool:
    """bfloat16 in hardware: CUDA compute capability 8.0+ (A100, H100, RTX 30xx...).

    Emulated bfloat16 (T4, V100) does not count: it is slow, and float16 with a
    gradient scaler is the right choice there."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return device.type == "cpu"  # the CPU computes bfloat16, used only when asked


def precision_policy(device: torch.device, requested: str = "auto") -> PrecisionPolicy:
    """The precision for ``device``: ``auto`` picks bfloat16 on CUDA GPUs that have it,
    float16 with gradient scaling on CUDA GPUs that do not (T4, V100), and float32 on
    the CPU (mixed precision is slower there) and on MPS (no bfloat16 before macOS 14,
    so labels stay identical to the CPU's). An explicit request is honoured where the
    device can do it; ``ValueError`` otherwise."""
    if requested not in PRECISIONS:
        raise ValueError(f"Unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}.")
    if requested == "float32" or (requested == "auto" and device.type != "cuda"):
        return PrecisionPolicy(device, None)
    if requested == "auto":
        requested = "bfloat16" if bf16_supported(device) else "float16"
    if requested == "bfloat16":
        if not bf16_supported(device):
            raise ValueError(f"{device.type} has no bfloat16; use float16 or float32.")
        return PrecisionPolicy(device, torch.bfloat16)
    return PrecisionPolicy(device, torch.float16, grad_scaling=True)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The automatic mixed-precision dtype of ``device`` (None: float32)."""
    return precision_policy(device).dtype


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision per the automatic policy of ``device`` (a no-op on CPU and MPS)."""
    return precision_policy(device).autocast()


def describe_device(device: torch.device) -> str:
    """``cuda:0 (NVIDIA T4)``, ``mps`` or ``cpu``: the device as shown to the user."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def describe_compute(device: torch.device, policy: PrecisionPolicy) -> str:
    """One line for logs and widgets: ``device: cuda:0 (NVIDIA T4), precision: float16 +
    gradient scaling``."""
    return f"device: {describe_device(device)}, precision: {policy.name}"


def memory_format(device: torch.device, spatial_dims: int) -> torch.memory_format:
    """channels_last for 2D everywhere (oneDNN on CPU and tensor cores on CUDA both run
    NHWC convolutions faster: ~1.6x for a 512x512 forward pass on the 2-core CPU);
    channels_last_3d for 3D on CUDA only."""
    if spatial_dims == 2:
        return torch.channels_last
    return torch.channels_last_3d if device.type == "cuda" else torch.contiguous_format
