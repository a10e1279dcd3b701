"""Pictures of results: both images side by side with match lines, and certainty heatmaps.

Every function returns RGB uint8 ``[H, W, 3]`` arrays (publish as ``rgb8``; OpenCV's ``imwrite``
wants BGR: :func:`to_bgr`). Colours follow OpenCV's TURBO colour map: blue = low, red = high.
"""

from __future__ import annotations

import cv2
import numpy as np

from ma_trt_ros.runtime.images import as_float_image, to_rgb
from ma_trt_ros.runtime.result import DenseField, MatchResult

MAX_DRAWN_LINES = 1000
GAP_PX = 8


def _rgb8(image: np.ndarray) -> np.ndarray:
    rgb = to_rgb(as_float_image(image, "image"))
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def colours(values: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3]`` RGB colours of values in [0, 1] (TURBO)."""
    levels = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).reshape(-1, 1)
    return cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[:, 0, ::-1]


def side_by_side(image0: np.ndarray, image1: np.ndarray, result: MatchResult) -> np.ndarray:
    """Image 0 left, image 1 right (top-aligned, :data:`GAP_PX` apart), with up to
    :data:`MAX_DRAWN_LINES` match lines (the most confident) coloured by confidence."""
    left, right = _rgb8(image0), _rgb8(image1)
    height = max(left.shape[0], right.shape[0])
    canvas = np.zeros((height, left.shape[1] + GAP_PX + right.shape[1], 3), np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    offset = left.shape[1] + GAP_PX
    canvas[: right.shape[0], offset:] = right
    order = np.argsort(-result.confidence, kind="stable")[:MAX_DRAWN_LINES]
    # sub-pixel drawing: OpenCV takes fixed-point coordinates with `shift` fractional bits
    shift = 4
    scale = float(1 << shift)
    for index, colour in zip(order, colours(result.confidence[order]), strict=True):
        (x0, y0), (x1, y1) = result.points0[index].tolist(), result.points1[index].tolist()
        start = (round((x0 - 0.5) * scale), round((y0 - 0.5) * scale))
        end = (round((x1 - 0.5 + offset) * scale), round((y1 - 0.5) * scale))
        cv2.line(canvas, start, end, tuple(int(c) for c in colour), 1, cv2.LINE_AA, shift)
    return canvas


def certainty_heatmap(dense: DenseField, width: int, height: int) -> np.ndarray:
    """The certainty of ``dense`` as a TURBO heatmap stretched to ``width`` x ``height`` (image 0's size)."""
    levels = (np.clip(dense.certainty, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    heat = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[:, :, ::-1]
    return cv2.resize(heat, (width, height), interpolation=cv2.INTER_NEAREST)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``heat`` blended over ``image`` (same size) with weight ``alpha``."""
    return cv2.addWeighted(_rgb8(image), 1.0 - alpha, heat, alpha, 0.0)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """RGB -> BGR (for ``cv2.imwrite``)."""
    return np.ascontiguousarray(image[:, :, ::-1])
