"""2-D rotary position encoding (RoPE) of the ELoFTR self-attention layers, tables as released.

Upstream builds the tables once for a 256×256 grid of aggregated tokens and stores them in float16
(they are not in the checkpoint). Token ``(r, c)`` (0-based row/column of the 1/32 token grid) gets
the positions ``p_r = (r + 1) * train / test`` and ``p_c = (c + 1) * train / test`` with
``train = 832`` and ``test`` the reference long side (MatchAnything sets ``NPE = [832, 832, s, s]``
with ``s`` the demo's resize long side). For frequency ``t = 0..63`` (``d_model / 4``) with
``w_t = exp(-t * ln(10000) / 64)``, rotation pair ``2t`` uses angle ``p_r * w_t`` and pair ``2t + 1``
uses ``p_c * w_t``; each pair ``(x[2m], x[2m+1])`` is rotated by its angle.

The tables here are computed with the same float32 operations in the same order, then rounded to
float16, so they are bit-identical to upstream's.
"""

from __future__ import annotations

import math

import torch

TRAIN_RESOLUTION = 832


def rope_tables(rows: int, cols: int, d_model: int, reference_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` float16 tables for a ``rows × cols`` token grid.

    Args:
        rows, cols: token grid size (the 1/32 grid after 4×4 aggregation of the 1/8 map).
        d_model: feature width (256); the tables have ``d_model`` channels.
        reference_size: upstream's test resolution in ``NPE`` (pixels, long side).

    Returns:
        two float16 tensors ``[1, rows, cols, d_model]``.
    """
    ones = torch.ones(rows, cols)
    row_pos = ones.cumsum(0).unsqueeze(-1) * TRAIN_RESOLUTION / reference_size
    col_pos = ones.cumsum(1).unsqueeze(-1) * TRAIN_RESOLUTION / reference_size
    quarter = d_model // 4
    freq = torch.exp(torch.arange(0, quarter, 1).float() * (-math.log(10000.0) / quarter))[None, None, :]
    cos = torch.empty(rows, cols, d_model // 2, dtype=torch.float16)
    sin = torch.empty(rows, cols, d_model // 2, dtype=torch.float16)
    cos[:, :, 0::2] = torch.cos(row_pos * freq).half()
    cos[:, :, 1::2] = torch.cos(col_pos * freq).half()
    sin[:, :, 0::2] = torch.sin(row_pos * freq).half()
    sin[:, :, 1::2] = torch.sin(col_pos * freq).half()
    return cos.repeat_interleave(2, dim=-1)[None], sin.repeat_interleave(2, dim=-1)[None]


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """``(x[2m], x[2m+1]) -> (-x[2m+1], x[2m])`` along the last axis."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[N, rows, cols, C]`` by the tables (same shape or broadcastable), in ``x``'s dtype."""
    return x * cos + rotate_pairs(x) * sin
