"""Pictures of a match result for people: matches side by side, and the dense certainty as a heatmap.

Inputs are the matcher's float images (``[H, W, 3]`` RGB or ``[H, W]`` gray in [0, 1]); outputs are
uint8 RGB arrays (``rgb8``). Colours come from OpenCV's TURBO colour map: blue = low
confidence / certainty, red = high. OpenCV is imported on first use.
"""

from __future__ import annotations

import numpy as np

LINE_THICKNESS_PX = 1


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB of a float ``[H, W, 3]`` or ``[H, W]`` image in [0, 1]."""
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def turbo_colours(values: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3]`` RGB TURBO colours of ``values`` in [0, 1] (clipped; NaN counts as 0)."""
    import cv2

    levels = np.rint(np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(levels.reshape(-1, 1), cv2.COLORMAP_TURBO).reshape(-1, 3)
    return bgr[:, ::-1]


def matches_picture(
    image0: np.ndarray,
    image1: np.ndarray,
    points0: np.ndarray,
    points1: np.ndarray,
    confidence: np.ndarray,
    max_lines: int,
) -> np.ndarray:
    """Image 0 and image 1 side by side (tops aligned) with a line per match coloured by confidence.

    Points are float ``[N, 2]`` pixels of each image (top-left-corner origin); the ``max_lines``
    most confident matches are drawn. Returns uint8 ``[max(H0, H1), W0 + W1, 3]`` RGB.
    """
    import cv2

    left, right = to_rgb8(image0), to_rgb8(image1)
    height = max(left.shape[0], right.shape[0])
    canvas = np.zeros((height, left.shape[1] + right.shape[1], 3), np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] :] = right
    order = np.argsort(-confidence, kind="stable")[:max_lines]
    colours = turbo_colours(confidence[order])
    offset = np.array([left.shape[1], 0.0])
    for k, colour in zip(order, colours, strict=True):
        start = np.floor(points0[k]).astype(int)
        end = np.floor(points1[k] + offset).astype(int)
        cv2.line(canvas, tuple(start.tolist()), tuple(end.tolist()), tuple(int(c) for c in colour), LINE_THICKNESS_PX)
    return canvas


def certainty_picture(certainty: np.ndarray) -> np.ndarray:
    """uint8 ``[Hg, Wg, 3]`` RGB heatmap of a certainty grid ``[Hg, Wg]`` in [0, 1]."""
    return turbo_colours(certainty.ravel()).reshape(*certainty.shape, 3)
