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

Global match budget (:func:`budget_selection`): of the ``M = L·k`` candidates, keep the ``K`` best by
confidence, every valid one ranked above every invalid one, with one fixed-size TopK. The kept valid
set is therefore exactly the full valid set whenever it has at most ``K`` members, and otherwise its
``K`` most confident members.

Cell indices are row-major: cell ``i`` of a ``h × w`` grid is at row ``i // w``, column ``i % w``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

BORDER = 2
TEMPERATURE = 0.1
# candidate indices are ranked as float32 keys (TensorRT's TopK takes floating-point input): exact
# below 2^24, and the invalid ones are shifted by M, so M must stay below 2^23
MAX_CANDIDATES = 2**23


def candidates_per_cell(threshold: float) -> int:
    """``k = ceil(1/threshold) - 1``: the most entries of one row that can exceed ``threshold``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return math.ceil(1.0 / threshold) - 1


def interior_mask(
    h: int | torch.Tensor, w: int | torch.Tensor, border: int = BORDER, device: torch.device | None = None
) -> torch.Tensor:
    """float32 ``[h*w]`` on ``device``: 1 for cells at least ``border`` cells from every edge, else 0.

    ``h, w`` may be traced sizes (0-d tensors) while exporting a dynamic-size graph.
    """
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    keep_r = (rows >= border) & (rows < h - border)
    keep_c = (cols >= border) & (cols < w - border)
    return (keep_r[:, None] & keep_c[None, :]).flatten().float()


def confidence_matrix(feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
    """Dual-softmax confidence ``[N, L, S]`` (float32) of float32 features ``[N, L, C]``, ``[N, S, C]``.

    The softmax over image-0 cells (dim 1) is taken as a last-axis softmax of the transposed scores:
    the same values, but GPU softmax kernels are several times faster along the contiguous axis
    (measured on an H200 at 640×480, 4800² scores: ~4 ms along dim 1).
    """
    return dual_softmax(_similarity(feat0, feat1))


def _similarity(feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
    scale = feat0.shape[-1] ** 0.5
    return torch.matmul(feat0 / scale, (feat1 / scale).transpose(1, 2)) / TEMPERATURE


def dual_softmax(scores: torch.Tensor) -> torch.Tensor:
    """``softmax(scores, dim=-2) * softmax(scores, dim=-1)``, both softmaxes along a contiguous last axis."""
    return torch.softmax(scores.transpose(-1, -2), dim=-1).transpose(-1, -2) * torch.softmax(scores, dim=-1)


def masked_topk(conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(conf * interior1, k, dim=2)``: scores ``[N, L, k]`` float32 and image-1 cells int64, by
    decreasing score."""
    return torch.topk(conf * interior1, k, dim=2)


def top_candidates(
    conf: torch.Tensor,
    interior0: torch.Tensor,
    interior1: torch.Tensor,
    k: int,
    threshold: float,
    topk: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]] = masked_topk,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` best image-1 cells of every image-0 cell and which of them pass the rule.

    Args:
        conf: ``[N, L, S]`` float32 confidence matrix.
        interior0, interior1: ``[L]``, ``[S]`` float32 0/1 masks from :func:`interior_mask`.
        k: candidates per row (``candidates_per_cell(threshold)`` for the exact rule; at most S).
        threshold: the confidence threshold.
        topk: :func:`masked_topk` or another form of its contract (the fast path's kernel).

    Returns:
        ``(score, j, valid)``, each ``[N, L, k]``: the confidence of each candidate (0 for border
        columns), the image-1 cell index (int64), and ``score > threshold`` and row ``i`` interior.
        Within a row, candidates are sorted by decreasing score.
    """
    score, j = topk(conf, interior1, k)
    valid = (score > threshold) & (interior0 > 0)[None, :, None]
    return score, j, valid


def budget_selection(score: torch.Tensor, valid: torch.Tensor, budget: int) -> torch.Tensor:
    """Which ``budget`` of the ``M`` candidates to keep, with static shapes (two TopK, no NonZero).

    Args:
        score: ``[N, M]`` float32 confidence of each candidate (>= 0).
        valid: ``[N, M]`` bool, the candidate passes the rule.
        budget: ``K``, at most ``M`` (and below ``MAX_CANDIDATES``).

    Returns:
        int64 ``[N, K]`` candidate indices: the ``K`` largest ``score`` with every valid candidate
        ranked above every invalid one (so all valid ones when there are at most ``K``), ordered
        valid first and by increasing candidate index within each group. The valid prefix thus has
        the order of the unbudgeted output, which does not depend on confidence near-ties.
    """
    m = score.shape[1]
    _, kept = torch.topk(torch.where(valid, score, score - 2.0), budget, dim=1)
    rejected = torch.gather(valid, 1, kept).logical_not()
    order_key = kept.float() + rejected.float() * m
    _, order = torch.topk(order_key, budget, dim=1, largest=False)
    return torch.gather(kept, 1, order)
