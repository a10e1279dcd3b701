"""Pairs of a real photograph with a known homography between them: the demo's and the node tests' inputs,
whose matches can be checked against the truth (:func:`ma_trt_convert.training.metrics.pair_summary`)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ma_trt_convert.training.geometry import WarpRange, random_homographies


def known_homography(index: int, height: int, width: int) -> np.ndarray:
    """Known homography ``[3, 3]`` float64 of pair ``index`` for ``height x width`` images (continuous
    pixels, pixel centres at +0.5): image-0 content at ``p`` appears in image 1 at ``H(p)``. Seeded by
    ``index``; rotation up to 15 degrees, scale 0.8-1.25, corners moved by up to 5 %."""
    warp = WarpRange(rotation_deg=15.0, min_scale=0.8, max_scale=1.25, perspective=0.05, shift=0.05)
    return random_homographies(1, height, width, warp, torch.Generator().manual_seed(index))[0].double().numpy()


def warped_pair(photo: np.ndarray, homography: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(image0, image1)``: the ``photo`` (grey ``[H, W]`` or colour ``[H, W, C]``) and its warp by
    ``homography`` (black outside), image 1 with a gain and offset that depend on ``index``."""
    # OpenCV's pixel centres are at integers: conjugate by the half-pixel shift
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    opencv = np.linalg.inv(shift) @ homography @ shift
    height, width = photo.shape[:2]
    warped = cv2.warpPerspective(photo, opencv, (width, height), flags=cv2.INTER_LINEAR)
    gain, offset = 0.8 + 0.05 * (index % 8), 10.0 * (index % 3)
    return photo, np.clip(warped.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
