"""2-D rotary position encoding (RoPE) of the ELoFTR self-attention layers, tables as released.

Upstream builds the tables once for a 256×256 grid of aggregated tokens and stores them in float16
(they are not in the checkpoint). Token ``(r, c)`` (0-based row/column of the 1/32 token grid) gets
the positions ``p_r = (r + 1) * train / test`` and ``p_c = (c + 1) * train / test`` with
``train = 832`` and ``test`` the reference long side (MatchAnything sets ``NPE = [832, 832, s, s]``
with ``s`` the demo's resize long side). For frequency ``t = 0..63`` (``d_model / 4``) with
``w_t = exp(-t * ln(10000) / 64)``, rotation pair ``2t`` uses angle ``p_r * w_t`` and pair ``2t + 1``
uses ``p_c * w_t``; each pair ``(x[2m], x[2m+1])`` is rotated by its angle.

The tables here are computed with the same float32 operations in the same order, then rounded to
float16, so they are bit-identical to upstream's. The operations are plain ``arange``/``cos``/``sin``
and reshapes, so a traced graph computes them for whatever grid size it is given (dynamic-size ONNX).
"""

from __future__ import annotations

import math

import torch

TRAIN_RESOLUTION = 832
TOKEN_STRIDE = 32  # pixels per token of the 1/32 grid


def rope_tables(
    rows: int | torch.Tensor,
    cols: int | torch.Tensor,
    d_model: int,
    reference_size: int | torch.Tensor,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` float16 tables for a ``rows × cols`` token grid.

    Args:
        rows, cols: token grid size (the 1/32 grid after 4×4 aggregation of the 1/8 map); traced sizes
            (0-d tensors) while exporting.
        d_model: feature width (256); the tables have ``d_model`` channels.
        reference_size: upstream's test resolution in ``NPE`` (pixels, long side), a number or a 0-d tensor.
        device: where to compute them (default CPU).

    Returns:
        two float16 tensors ``[1, rows, cols, d_model]``; channel ``4t + 2e + j`` (``e`` 0 for rows,
        1 for columns; ``j`` 0/1 the two members of a rotation pair) holds frequency ``t``.
    """
    row_pos = torch.arange(1, rows + 1, device=device).float() * TRAIN_RESOLUTION / reference_size
    col_pos = torch.arange(1, cols + 1, device=device).float() * TRAIN_RESOLUTION / reference_size
    quarter = d_model // 4
    freq = torch.exp(torch.arange(0, quarter, 1, device=device).float() * (-math.log(10000.0) / quarter))
    row_angle = (row_pos[:, None, None] * freq).expand(-1, cols, -1)
    col_angle = (col_pos[None, :, None] * freq).expand(rows, -1, -1)
    angles = torch.stack([row_angle, col_angle], dim=-1).flatten(-2)
    cos, sin = (f(angles).half().unsqueeze(-1).expand(-1, -1, -1, 2).flatten(-2)[None] for f in (torch.cos, torch.sin))
    return cos, sin


def traced_reference_size(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The input's long side in pixels, ``32 · max(rows, cols)``, from a traced token grid size (0-d tensors)."""
    return torch.maximum(rows, cols) * TOKEN_STRIDE


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """``(x[2m], x[2m+1]) -> (-x[2m+1], x[2m])`` along the last axis."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[N, rows, cols, C]`` by the tables (same shape or broadcastable), in ``x``'s dtype."""
    return x * cos + rotate_pairs(x) * sin
