"""Whether the fast path's own Triton kernels can run, and where.

Triton comes with CUDA builds of PyTorch; CPU-only builds (CI) have none, and the kernels' callers fall
back to PyTorch forms of the same contract. On a CPU the kernels run only under Triton's interpreter
(``TRITON_INTERPRET=1``, read when a kernel is defined), which the kernel tests use without a GPU.
"""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only PyTorch builds come without Triton
    triton = tl = None

AVAILABLE = triton is not None


def kernel_runs_on(device: torch.device) -> bool:
    """Whether a kernel runs for tensors on ``device``: Triton is here, and the device is CUDA or the
    interpreter is on."""
    return AVAILABLE and (device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1")


def require(option: str, instead: str = "") -> None:
    """Refuse ``option`` (a fast-path option that runs one of these kernels) where Triton is missing.

    Raises:
        ValueError: naming the option (and ``instead``, what to use without Triton), when :data:`AVAILABLE`
            is false.
    """
    if not AVAILABLE:
        hint = f"; use {instead}" if instead else ""
        raise ValueError(f"{option} needs Triton (CUDA builds of PyTorch bring it){hint}")
