"""Synthetic models of the runtime tests: sizes, the exported-model record and the textured test pair."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ELOFTR_SIZE = (160, 224)  # network height, width
ELOFTR_ROWS = 200
ROMA_RES = (56, 64)  # coarse, upsample


@dataclass(frozen=True)
class ExportedModel:
    """Release-layout weights, the ONNX exported from them, and the ``--checkpoint``/``--dinov2`` paths."""

    onnx: Path
    checkpoint: Path
    dinov2: Path | None
    build_args: dict[str, int]


def textured_images(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The converter's shifted textured pair as float32 ``[H, W]`` arrays in [0, 1]."""
    from ma_trt_convert.synthetic.pairs import textured_pair

    first, second = textured_pair(height, width)
    return first[0, 0].numpy(), second[0, 0].numpy()
