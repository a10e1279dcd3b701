"""Accuracy of matches against a known homography (HPatches-style), for any matcher.

Points are in continuous pixels (:mod:`.geometry`); homographies map image 0 to image 1. Arrays are
numpy float64 on the host.
"""

from __future__ import annotations

import numpy as np

PRECISION_THRESHOLDS_PX = (1.0, 3.0, 5.0)
AUC_THRESHOLDS_PX = (3.0, 5.0, 10.0)


def project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[P, 2]`` points mapped by a ``[3, 3]`` homography (``inf`` where the point maps to infinity)."""
    mapped = np.concatenate([points, np.ones_like(points[:, :1])], axis=1) @ homography.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return mapped[:, :2] / mapped[:, 2:]


def match_errors(homography: np.ndarray, points0: np.ndarray, points1: np.ndarray) -> np.ndarray:
    """``[P]`` distance in image-1 pixels between ``H(points0)`` and ``points1``."""
    return np.linalg.norm(project(homography, points0) - points1, axis=1)


def corner_error(truth: np.ndarray, estimate: np.ndarray | None, height: int, width: int) -> float:
    """Mean distance (image-1 px) between the four image-0 corners mapped by ``truth`` and by ``estimate``.

    ``inf`` when no homography was estimated.
    """
    if estimate is None:
        return float("inf")
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    error = np.linalg.norm(project(truth, corners) - project(estimate, corners), axis=1).mean()
    return float(error) if np.isfinite(error) else float("inf")


def error_auc(errors: list[float], threshold: float) -> float:
    """Area under the recall-versus-error curve up to ``threshold``, normalised to [0, 1] (SuperGlue/LoFTR style)."""
    ordered = np.sort(np.asarray(errors, dtype=np.float64))
    recall = (np.arange(len(ordered)) + 1) / len(ordered)
    ordered, recall = np.r_[0.0, ordered], np.r_[0.0, recall]
    last = np.searchsorted(ordered, threshold)
    x = np.r_[ordered[:last], threshold]
    y = np.r_[recall[:last], recall[last - 1]]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) / threshold)


def estimate_homography(points0: np.ndarray, points1: np.ndarray) -> np.ndarray | None:
    """Homography ``[3, 3]`` from matches with OpenCV's MAGSAC++ (3 px), or None with fewer than 4 matches."""
    import cv2

    if len(points0) < 4:
        return None
    estimate, _ = cv2.findHomography(
        points0.astype(np.float64), points1.astype(np.float64), cv2.USAC_MAGSAC, 3.0, maxIters=10000, confidence=0.9999
    )
    return estimate


def pair_summary(homography: np.ndarray, points0: np.ndarray, points1: np.ndarray, height: int, width: int) -> dict:
    """Matches, precision at :data:`PRECISION_THRESHOLDS_PX` and corner error (px) of one pair's matches."""
    errors = match_errors(homography, points0, points1)
    summary: dict[str, float | int] = {"matches": len(errors)}
    for threshold in PRECISION_THRESHOLDS_PX:
        summary[f"precision_{threshold:g}px"] = float((errors < threshold).mean()) if len(errors) else 0.0
    summary["corner_error_px"] = corner_error(homography, estimate_homography(points0, points1), height, width)
    return summary


def aggregate(pairs: list[dict]) -> dict:
    """Mean matches, match-weighted precision and corner-error AUC (:data:`AUC_THRESHOLDS_PX`) over pairs."""
    matches = np.array([p["matches"] for p in pairs], dtype=np.float64)
    total = max(matches.sum(), 1.0)
    result: dict[str, float] = {"pairs": len(pairs), "matches_per_pair": float(matches.mean())}
    for threshold in PRECISION_THRESHOLDS_PX:
        key = f"precision_{threshold:g}px"
        result[key] = float(sum(p[key] * p["matches"] for p in pairs) / total)
    for threshold in AUC_THRESHOLDS_PX:
        result[f"auc_{threshold:g}px"] = error_auc([p["corner_error_px"] for p in pairs], threshold)
    return result
