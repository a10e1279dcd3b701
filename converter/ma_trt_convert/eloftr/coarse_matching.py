"""Coarse dual-softmax matching with MatchAnything's rule, as fixed-size top-k candidates.

Upstream (``MTD_SPVS = True`` in MatchAnything's ELoFTR config) keeps **every** entry of the
confidence matrix above the threshold, with no mutual-nearest check, after removing border cells:

    sim  = (f0 / 16) · (f1 / 16)ᵀ / 0.1          f0: [L, 256], f1: [S, 256] (transformer output)
    conf = softmax(sim, dim=S) * softmax(sim, dim=L)
    keep (i, j)  iff  conf[i, j] > thr  and neither cell i (image 0) nor j (image 1) lies within
                      ``BORDER`` cells of its grid's edge.

Exactness of the fixed-size form: for a fixed row ``i``, ``conf[i, j] <= softmax(sim, dim=S)[i, j]``
and the latter sums to 1 over ``j``. If ``n`` entries of the row exceed ``thr`` then ``n * thr < 1``,
so ``n <= ceil(1/thr) - 1 =: k``. Taking the top-``k`` entries of each row (after zeroing border
columns) therefore contains every kept pair, for any ``0 < thr < 1``. With ``thr = 0.1``, ``k = 9``.
(The bound is exact in real arithmetic; in float32 the row sum of the softmax is 1 to ~1e-6, so a
miss would need ``k + 1`` entries all within ~1e-7 of ``thr``.)

Cell indices are row-major: cell ``i`` of a ``h × w`` grid is at row ``i // w``, column ``i % w``.
"""

from __future__ import annotations

import math

import torch

BORDER = 2
TEMPERATURE = 0.1


def candidates_per_cell(threshold: float) -> int:
    """``k = ceil(1/threshold) - 1``: the most entries of one row that can exceed ``threshold``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return math.ceil(1.0 / threshold) - 1


def interior_mask(h: int, w: int, border: int = BORDER) -> torch.Tensor:
    """float32 ``[h*w]``: 1 for cells at least ``border`` cells from every edge, else 0."""
    rows = torch.arange(h)
    cols = torch.arange(w)
    keep_r = (rows >= border) & (rows < h - border)
    keep_c = (cols >= border) & (cols < w - border)
    return (keep_r[:, None] & keep_c[None, :]).flatten().float()


def confidence_matrix(feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
    """Dual-softmax confidence ``[N, L, S]`` (float32) of float32 features ``[N, L, C]``, ``[N, S, C]``."""
    scale = feat0.shape[-1] ** 0.5
    sim = torch.matmul(feat0 / scale, (feat1 / scale).transpose(1, 2)) / TEMPERATURE
    return torch.softmax(sim, dim=1) * torch.softmax(sim, dim=2)


def top_candidates(
    conf: torch.Tensor, interior0: torch.Tensor, interior1: torch.Tensor, k: int, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` best image-1 cells of every image-0 cell and which of them pass the rule.

    Args:
        conf: ``[N, L, S]`` float32 confidence matrix.
        interior0, interior1: ``[L]``, ``[S]`` float32 0/1 masks from :func:`interior_mask`.
        k: candidates per row (``candidates_per_cell(threshold)`` for the exact rule; at most S).
        threshold: the confidence threshold.

    Returns:
        ``(score, j, valid)``, each ``[N, L, k]``: the confidence of each candidate (0 for border
        columns), the image-1 cell index (int64), and ``score > threshold`` and row ``i`` interior.
        Within a row, candidates are sorted by decreasing score.
    """
    score, j = torch.topk(conf * interior1, k, dim=2)
    valid = (score > threshold) & (interior0 > 0)[None, :, None]
    return score, j, valid
