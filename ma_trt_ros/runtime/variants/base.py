"""What the runtime knows of a variant besides its tensor contract: how images become inputs and
outputs become matches in pixels of the images as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.contract.variant_contract import VariantContract
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.result import DenseField, ImageSize


@dataclass(frozen=True)
class DecodedMatches:
    """Matches of one pair in pixels of the images as received (see :mod:`ma_trt_ros.runtime.result`)."""

    points0: np.ndarray
    points1: np.ndarray
    confidence: np.ndarray
    dense: DenseField | None = None
    truncated: bool = False


class VariantIO(Protocol):
    """Pre- and post-processing of one variant (numpy/OpenCV only)."""

    contract: VariantContract

    def prepare(
        self,
        image0: np.ndarray,
        image1: np.ndarray,
        inputs: Mapping[str, TensorSpec],
        outputs: Mapping[str, TensorSpec],
        options: MatchOptions,
    ) -> dict[str, np.ndarray]:
        """Network inputs of one pair, batch 1, for an engine with ``inputs`` and ``outputs`` (float images
        in [0, 1]; ``options`` for inputs that steer a post-processing the graph does itself)."""
        ...

    def outputs_read(self, outputs: Mapping[str, TensorSpec]) -> tuple[str, ...]:
        """The names of the outputs :meth:`decode` reads, for an engine with ``outputs`` (the others need
        not leave the device)."""
        ...

    def decode(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: Mapping[str, TensorSpec],
        sizes: tuple[ImageSize, ImageSize],
        options: MatchOptions,
    ) -> DecodedMatches:
        """Matches from one batch item's outputs (batch axis removed) of an engine with ``inputs``,
        for images of ``sizes`` (image 0, image 1) as received."""
        ...


def input_size(spec: TensorSpec) -> tuple[int, int]:
    """``(width, height)`` of an NCHW image input."""
    return spec.shape[3], spec.shape[2]
