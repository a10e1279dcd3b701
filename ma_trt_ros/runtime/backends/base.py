"""The interface every backend implements: named arrays in (float images, or uint8 where a backend says it
takes them), named arrays out."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import numpy as np

from ma_trt_ros.contract.sizes import SizeRange
from ma_trt_ros.contract.tensors import TensorSpec


class Backend(Protocol):
    """One loaded model on one device.

    Attributes:
        name: ``"tensorrt"``, ``"onnxruntime"`` or ``"torch"``.
        variant: the model's variant (``"roma"``, ``"eloftr"``).
        model_id: file name and SHA-256 prefix (``eloftr.onnx@1a2b3c4d``), traced into messages.
        inputs, outputs: the model's tensors, batch first; every input has the same batch size. A
            dynamic-size model has -1 for the height and width of its image inputs.
        size_range: the input heights and widths a dynamic-size model takes; None for a fixed size.
        takes_uint8_images: whether 8-bit images may reach :meth:`run` as uint8 0..255, divided by 255 on
            the device: by the backend itself (the torch backend, whose image inputs are float32 in [0, 1]),
            or by the graph (an engine whose camera inputs are uint8: :func:`graph_takes_uint8`). The matcher
            then hands camera bytes over as they are, where no host arithmetic is needed on them.
    """

    name: str
    variant: str
    model_id: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    size_range: SizeRange | None
    takes_uint8_images: bool

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Outputs by name (host arrays the caller owns) and the backend's stage times in milliseconds.

        Every input has a concrete shape: a dynamic-size model's within :attr:`size_range`. ``wanted``
        names the outputs to return (None: all); a GPU backend copies only those to the host.
        """
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


def concrete_inputs(specs: tuple[TensorSpec, ...], sizes: Mapping[str, tuple[int, int]]) -> tuple[TensorSpec, ...]:
    """``specs`` with each dynamic image input's height and width (axes 2 and 3) set to ``sizes[name]``
    (pixels); inputs ``sizes`` does not name (e.g. the sampler's noise, whose length the caller sets) as they are."""
    return tuple(spec.at_size(*sizes[spec.name]) if spec.name in sizes else spec for spec in specs)


def graph_takes_uint8(specs: tuple[TensorSpec, ...]) -> bool:
    """Whether a graph's inputs include uint8 images (a RoMa camera-input export with ``camera_dtype`` uint8)."""
    return any(spec.dtype == "uint8" for spec in specs)
