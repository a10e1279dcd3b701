"""Two-stage fine matching with local regression, for a fixed number of candidates.

For each candidate (image-0 cell, image-1 cell) with windows ``w0`` ``[64, 64ch]`` and ``w1``
``[100, 64ch]`` (see :mod:`.fine_preprocess`):

Stage 1 (channels 0..55, both divided by √64 = 8):
    ``s = w0 · w1ᵀ`` ``[64, 100]``; ``p = softmax(s, over 64) * softmax(s, over 100)``; keep the inner
    8×8 of the 10×10 image-1 window -> ``[64, 64]``; the arg-max gives window pixels ``a`` (image 0)
    and ``b`` (image 1, inner 8×8 grid), row-major.
Stage 2 (channels 56..63, image-1 side divided by √8):
    ``t = w0[a] · w1ᵀ`` ``[100]``, read on the 10×10 grid at rows ``by-1..by+1`` and columns
    ``bx-1..bx+1`` where ``(bx, by)`` is ``b`` in *inner*-grid coordinates. This window is therefore
    centred one pixel up-left of ``b`` in the padded grid, and index −1 wraps to 9 (upstream indexes
    the padded 10×10 grid with inner coordinates and Python negative-index semantics; reproduced as
    found). ``softmax(t / 10)`` over the 9 values gives the expectation ``(ex, ey)`` in [−1, 1] of the
    3×3 grid ``{−1, 0, 1}²``.

Coordinates (upstream convention, pixels of the image given to the network):
    ``kp0 = 8·(cx0, cy0) + (ax − 3.5, ay − 3.5)``
    ``kp1 = 8·(cx1, cy1) + (bx − 3.5, by − 3.5) + (ex, ey)``
where ``(ax, ay)`` is ``a`` as column/row in the 8×8 window. Upstream never adds the 3.5 back: a
point at window pixel ``(ax, ay)`` is reported 3.5 px up-left of that pixel's index (4 px up-left of
its centre in a pixel-centre-at-+0.5 convention). We reproduce the numbers exactly.
"""

from __future__ import annotations

import torch

from ma_trt_convert.eloftr.coarse_matching import dual_softmax
from ma_trt_convert.eloftr.fine_preprocess import WINDOW

SLICE = 8
REGRESS_TEMPERATURE = 10.0
CENTRE = WINDOW // 2 - 0.5


def regression_index() -> torch.Tensor:
    """int64 ``[64, 9]``: for inner pixel ``b``, the flat 10×10 indices of the 3×3 stage-2 window."""
    side = WINDOW + 2
    inner = torch.arange(WINDOW * WINDOW)
    by, bx = inner // WINDOW, inner % WINDOW
    d = torch.tensor([-1, 0, 1])
    rows = (by[:, None, None] + d[None, :, None]) % side
    cols = (bx[:, None, None] + d[None, None, :]) % side
    return (rows * side + cols).reshape(-1, 9)


def window_offset(flat: torch.Tensor) -> torch.Tensor:
    """``(x − 3.5, y − 3.5)`` float32 ``[..., 2]`` of row-major 8×8 window indices ``flat``."""
    return torch.stack([flat % WINDOW, flat // WINDOW], dim=-1).float() - CENTRE


def stage1_probability(w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """Stage-1 dual-softmax matrix float32 ``[N, L, k, 64, 100]`` of windows shaped as in :func:`stage1_argmax`.

    Entry ``[..., a, q]``: image-0 window pixel ``a`` (row-major 8×8) against pixel ``q`` of the padded
    10×10 image-1 window (row-major); training supervises it, inference takes the arg-max of its inner 8×8.
    """
    c = w0.shape[-1]
    feat = c - SLICE
    # upstream divides both sides by √C = 8; a power-of-two scale is exact, so it is applied once
    # (as 1/C) to the small image-0 side instead of copying the large image-1 windows
    s = torch.matmul(w0[..., :feat] / c, w1[..., :feat].transpose(-1, -2)).float()
    return dual_softmax(s)


def stage1_argmax(w0: torch.Tensor, w1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage-1 best pixel pair per candidate.

    Args:
        w0: ``[N, L, 1, 64, C]`` image-0 windows (shared by the k candidates of a row).
        w1: ``[N, L, k, 100, C]`` image-1 windows.

    Returns:
        ``(a, b)`` int64 ``[N, L, k]``: row-major index in the 8×8 image-0 window and in the inner
        8×8 of the image-1 window.
    """
    p = stage1_probability(w0, w1)
    side = WINDOW + 2
    inner = p.unflatten(-1, (side, side))[..., 1:-1, 1:-1].flatten(-3)
    best = inner.argmax(dim=-1)
    return best // (WINDOW * WINDOW), best % (WINDOW * WINDOW)


def stage2_offset(
    w0: torch.Tensor, w1: torch.Tensor, a: torch.Tensor, b: torch.Tensor, reg_index: torch.Tensor
) -> torch.Tensor:
    """Sub-pixel offset ``(ex, ey)`` float32 ``[N, L, k, 2]`` in [−1, 1] px (local regression).

    Args:
        w0, w1: as in :func:`stage1_argmax`.
        a, b: from :func:`stage1_argmax`.
        reg_index: :func:`regression_index`.
    """
    k = w1.shape[2]
    ff0 = w0[..., -SLICE:].float().expand(-1, -1, k, -1, -1)
    row0 = torch.gather(ff0, 3, a[..., None, None].expand(-1, -1, -1, 1, SLICE))
    ff1 = w1[..., -SLICE:].float() / SLICE**0.5
    t = torch.matmul(row0, ff1.transpose(-1, -2)).squeeze(-2)
    t9 = torch.gather(t, -1, reg_index[b])
    heat = torch.softmax(t9 / REGRESS_TEMPERATURE, dim=-1)
    return torch.matmul(heat, _regression_grid(heat.device))


def _regression_grid(device: torch.device) -> torch.Tensor:
    """float32 ``[9, 2]`` on ``device``: ``(x, y)`` of the row-major 3×3 grid ``{−1, 0, 1}²``.

    Built on ``device`` directly: a host tensor copied in would break CUDA-graph capture.
    """
    d = torch.arange(3, dtype=torch.float32, device=device) - 1.0
    return torch.stack([d.repeat(3), d.repeat_interleave(3)], dim=-1)
