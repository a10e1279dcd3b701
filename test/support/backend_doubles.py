"""Test doubles of runtime backends (no engine, no GPU): they return a KNOWN correspondence in network
coordinates, so tests can check the runtime's pixel mapping exactly.

Both follow the variants' I/O contracts (``ma_trt_ros.contract``) and the Backend interface.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from ma_trt_ros.contract.eloftr import ELOFTR
from ma_trt_ros.contract.roma import ROMA
from ma_trt_ros.contract.tensors import TensorSpec

# ELoFTR double: image-0 network point q0 (continuous network pixels) matches q1 = A q0 + B.
ELOFTR_A = np.array([0.75, 1.25], dtype=np.float32)
ELOFTR_B = np.array([6.0, -3.0], dtype=np.float32)
UPSTREAM_OFFSET = 4.0  # upstream ELoFTR reports continuous network pixels minus 4


def only_wanted(outputs: dict[str, np.ndarray], wanted: Collection[str] | None) -> dict[str, np.ndarray]:
    """The outputs a caller asked for (``wanted`` None: all), as a real backend returns them."""
    return {name: value for name, value in outputs.items() if wanted is None or name in wanted}


def eloftr_network_points(height: int, width: int, rows: int) -> np.ndarray:
    """float32 ``[rows, 2]`` continuous image-0 network points of the double's matches (inside the image)."""
    t = (np.arange(rows, dtype=np.float32) + 0.5) / rows
    return np.stack([4.0 + t * (width - 8.0), 4.0 + (1.0 - t) ** 2 * (height - 8.0)], axis=1)


def eloftr_map(q0: np.ndarray) -> np.ndarray:
    """The double's correspondence in continuous network pixels."""
    return q0 * ELOFTR_A + ELOFTR_B


class EloftrDoubleBackend:
    """ELoFTR-shaped test double: ``rows`` output rows, every other row valid, known keypoints."""

    name = "double"
    variant = "eloftr"
    model_id = "eloftr-double@00000000"
    size_range = None
    takes_uint8_images = False

    def __init__(self, height: int = 96, width: int = 128, rows: int = 12, batch: int = 1) -> None:
        self.height, self.width, self.rows = height, width, rows
        self.inputs = tuple(TensorSpec(n, (batch, 1, height, width), "float32") for n in ELOFTR.input_names)
        self.outputs = (
            TensorSpec("keypoints0", (batch, rows, 2), "float32"),
            TensorSpec("keypoints1", (batch, rows, 2), "float32"),
            TensorSpec("confidence", (batch, rows), "float32"),
            TensorSpec("valid", (batch, rows), "bool"),
            TensorSpec("num_valid", (batch,), "int32"),
            TensorSpec("cells", (batch, rows, 2), "int32"),
        )
        self.calls: list[dict[str, np.ndarray]] = []
        self.closed = 0

    def valid_rows(self) -> np.ndarray:
        return np.arange(self.rows) % 2 == 0

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        self.calls.append(dict(inputs))
        batch = self.inputs[0].shape[0]
        q0 = eloftr_network_points(self.height, self.width, self.rows)
        keypoints0 = np.broadcast_to(q0 - UPSTREAM_OFFSET, (batch, self.rows, 2)).copy()
        keypoints1 = np.broadcast_to(eloftr_map(q0) - UPSTREAM_OFFSET, (batch, self.rows, 2)).copy()
        # invalid rows carry garbage that must never reach a result
        keypoints0[:, ~self.valid_rows()] = -1e4
        confidence = np.broadcast_to(np.linspace(0.2, 0.9, self.rows, dtype=np.float32), (batch, self.rows)).copy()
        outputs = {
            "keypoints0": keypoints0,
            "keypoints1": keypoints1,
            "confidence": confidence,
            "valid": np.broadcast_to(self.valid_rows(), (batch, self.rows)).copy(),
            "num_valid": np.full(batch, self.valid_rows().sum(), np.int32),
            "cells": np.zeros((batch, self.rows, 2), np.int32),
        }
        return only_wanted(outputs, wanted), {"execute": 0.0}

    def gpu_memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self.closed += 1


# RoMa double: normalised image-0 point u matches v = A u + B (and the 1->0 warp is the exact inverse).
ROMA_A = np.array([0.8, 0.9], dtype=np.float32)
ROMA_B = np.array([0.1, -0.05], dtype=np.float32)


def roma_map_pixels(p0: np.ndarray, size0: tuple[int, int], size1: tuple[int, int]) -> np.ndarray:
    """The double's correspondence in pixels: image-0 pixel -> image-1 pixel, for ``(width, height)`` sizes."""
    u = 2.0 * p0 / np.array(size0, np.float32) - 1.0
    return (u * ROMA_A + ROMA_B + 1.0) * np.array(size1, np.float32) / 2.0


class RomaDoubleBackend:
    """RoMa-shaped test double on an ``res x res`` grid (one pass: coarse inputs only)."""

    name = "double"
    variant = "roma"
    model_id = "roma-double@00000000"
    size_range = None
    takes_uint8_images = False

    def __init__(self, res: int = 32) -> None:
        self.res = res
        self.inputs = tuple(TensorSpec(n, (1, 3, res, res), "float32") for n in ROMA.input_names[:2])
        self.outputs = tuple(
            TensorSpec(n, (1, res, res, 2) if n.startswith("warp") else (1, res, res), "float32")
            for n in ROMA.output_names
        )
        self.closed = 0

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        centres = (np.arange(self.res, dtype=np.float32) + 0.5) / self.res * 2.0 - 1.0
        grid = np.stack(np.meshgrid(centres, centres), axis=-1)
        # certainty rises from left to right: 0 in the first column
        certainty = np.broadcast_to(np.linspace(0.0, 1.0, self.res, dtype=np.float32), (self.res, self.res))
        outputs = {
            "warp": (grid * ROMA_A + ROMA_B)[None],
            "certainty": certainty[None].copy(),
            "warp_1to0": ((grid - ROMA_B) / ROMA_A)[None],
            "certainty_1to0": certainty[None].copy(),
        }
        return only_wanted(outputs, wanted), {"execute": 0.0}

    def gpu_memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self.closed += 1
