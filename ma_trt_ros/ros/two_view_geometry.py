"""Two-view geometry fitted to sparse matches with OpenCV's USAC (MAGSAC++): homography or fundamental matrix.

Points are pixels of the two images (the message pixel convention); the matrices map image-0
pixels to image-1 pixels: ``p1 ~ H p0`` and ``p1^T F p0 = 0`` with ``p = (x, y, 1)``.
OpenCV is imported only when a geometry is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_POINTS = {"homography": 4, "fundamental": 8}
USAC_CONFIDENCE = 0.999
USAC_MAX_ITERATIONS = 2000


@dataclass(frozen=True)
class TwoViewGeometry:
    """A fitted geometry.

    Attributes:
        kind: ``none``, ``homography`` or ``fundamental``.
        matrix: float64 ``[3, 3]`` (zeros when ``kind`` is ``none``).
        inliers: bool ``[N]``, one flag per match (empty when ``kind`` is ``none``).
    """

    kind: str
    matrix: np.ndarray
    inliers: np.ndarray


NO_GEOMETRY = TwoViewGeometry("none", np.zeros((3, 3)), np.zeros(0, dtype=bool))


def fit_geometry(points0: np.ndarray, points1: np.ndarray, kind: str, reproj_px: float) -> TwoViewGeometry:
    """Fit ``kind`` (``none``, ``homography``, ``fundamental``) to float ``[N, 2]`` pixel matches.

    ``reproj_px`` is the inlier threshold in pixels (reprojection error for a homography, distance
    to the epipolar line for a fundamental matrix). Returns :data:`NO_GEOMETRY` when ``kind`` is
    ``none``, when there are fewer matches than the model needs (4 / 8) or when USAC finds no model.
    """
    if kind == "none" or len(points0) < MIN_POINTS.get(kind, 0):
        return NO_GEOMETRY
    import cv2

    src = np.ascontiguousarray(points0, dtype=np.float64)
    dst = np.ascontiguousarray(points1, dtype=np.float64)
    if kind == "homography":
        matrix, mask = cv2.findHomography(
            src, dst, cv2.USAC_MAGSAC, reproj_px, maxIters=USAC_MAX_ITERATIONS, confidence=USAC_CONFIDENCE
        )
    elif kind == "fundamental":
        matrix, mask = cv2.findFundamentalMat(
            src, dst, cv2.USAC_MAGSAC, reproj_px, USAC_CONFIDENCE, USAC_MAX_ITERATIONS
        )
    else:
        raise ValueError(f"unknown geometry {kind!r}; use none, homography or fundamental")
    if matrix is None or matrix.shape != (3, 3) or mask is None:
        return NO_GEOMETRY
    return TwoViewGeometry(kind, matrix.astype(np.float64), mask.ravel().astype(bool))
