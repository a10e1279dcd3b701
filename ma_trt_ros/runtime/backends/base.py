"""The interface every backend implements: named float arrays in, named arrays out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from ma_trt_ros.contract.tensors import TensorSpec


class Backend(Protocol):
    """One loaded model on one device.

    Attributes:
        name: ``"tensorrt"``, ``"onnxruntime"`` or ``"torch"``.
        variant: the model's variant (``"roma"``, ``"eloftr"``).
        model_id: file name and SHA-256 prefix (``eloftr.onnx@1a2b3c4d``), traced into messages.
        inputs, outputs: the model's tensors, batch first; every input has the same batch size.
    """

    name: str
    variant: str
    model_id: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Outputs by name (host arrays the caller owns) and the backend's stage times in milliseconds."""
        ...

    def gpu_memory_bytes(self) -> int | None:
        """Device memory this backend holds (None on CPU)."""
        ...

    def close(self) -> None:
        """Free everything (idempotent)."""
        ...


def batch_size(specs: tuple[TensorSpec, ...]) -> int:
    """The fixed batch size of a model's inputs."""
    return specs[0].shape[0]
