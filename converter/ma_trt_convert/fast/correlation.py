"""RoMa's local correlation as dot products at whole-pixel positions, gathered in channels-last rows.

:func:`ma_trt_convert.roma.refiner.local_correlation` samples image-1 features bilinearly at
``p + o`` for every whole-pixel window offset ``o`` and correlates them with the image-0 feature. The
offsets are whole pixels, so every window position has the same bilinear weights (the fractional
part of ``p``), and bilinear sampling is linear in the features:

    corr(q, o) = Σ_corners w_corner(p) · ⟨f0(q)/√C, f1(⌊p⌋ + corner + o)⟩,   f1 = 0 outside the image.

So the ``(2r+2)²`` image-1 feature vectors around ``⌊p⌋`` are gathered once as contiguous rows of a
channels-last table (an appended zero row stands for "outside"), dotted with ``f0(q)/√C`` in fp32,
and the ``(2r+1)²`` correlations are bilinear combinations of those dot products. The same values as
``grid_sample`` over an NCHW map, without its strided per-channel reads (28 ms of one RoMa pair at
560/864 on an H200) and without materialising the sampled window.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# bytes of gathered fp32 rows per chunk of image-0 cells
CHUNK_BYTES = 256 * 2**20


# window_dots(f1, query, index): the (2r+2)² dot products per image-0 cell (see :func:`chunked_window_dots`)
WindowDots = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def window_table(f1: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The image-1 features as table rows: ``[B·(h·w + 1), C]`` in ``dtype``, row ``b·(h·w + 1) + y·w + x``
    the feature at ``(x, y)`` of batch ``b``, row ``b·(h·w + 1) + h·w`` zeros (outside the image)."""
    B, C = f1.shape[:2]
    rows = torch.cat((f1.to(dtype).flatten(2).transpose(1, 2), f1.new_zeros(B, 1, C, dtype=dtype)), dim=1)
    return rows.reshape(-1, C)


def chunked_window_dots(f1: torch.Tensor, query: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Dot products of each cell's query with its gathered table rows, chunk by chunk (gather, then ``bmm``).

    Args:
        f1: ``[B, C, h, w]`` image-1 features (fp32 or fp16; gathered as fp32).
        query: ``[B, h·w, C]`` fp32 image-0 features divided by √C.
        index: ``[B, h·w, N]`` int64 rows of :func:`window_table` (batch offsets included).

    Returns:
        ``[B, h·w, N]`` fp32.
    """
    B, cells, N = index.shape
    C = query.shape[-1]
    table = window_table(f1, torch.float32)
    chunk = max(1, CHUNK_BYTES // (B * N * C * 4))
    dots = []
    for start in range(0, cells, chunk):
        rows = index[:, start : start + chunk]
        m = rows.shape[1]
        gathered = table.index_select(0, rows.reshape(-1)).reshape(B * m, N, C)
        q = query[:, start : start + chunk].reshape(B * m, C, 1)
        dots.append(torch.bmm(gathered, q).reshape(B, m, N))
    return torch.cat(dots, dim=1)


def gathered_local_correlation(
    f0: torch.Tensor, f1: torch.Tensor, flow: torch.Tensor, radius: int, window_dots: WindowDots = chunked_window_dots
) -> torch.Tensor:
    """Same contract as :func:`ma_trt_convert.roma.refiner.local_correlation`.

    Args:
        f0, f1: ``[B, C, h, w]`` image-0 / image-1 features (fp32 or fp16).
        flow: ``[B, 2, h, w]`` fp32 normalised image-1 coordinates (``align_corners=False``), x first.
        radius: window radius ``r`` in pixels.
        window_dots: computes the dot products (:func:`chunked_window_dots`, or a fused kernel of the
            same contract, :mod:`.correlation_triton`).

    Returns:
        ``[B, (2r+1)², h, w]`` in ``f0``'s dtype, window offsets row-major (y outer, x inner).
    """
    B, C, h, w = f0.shape
    k, n = 2 * radius + 1, 2 * radius + 2
    cells = h * w
    px = ((flow[:, 0] + 1) * w - 1) / 2  # grid_sample's unnormalisation, [B, h, w]
    py = ((flow[:, 1] + 1) * h - 1) / 2
    x0, y0 = px.floor(), py.floor()
    steps = torch.arange(-radius, radius + 2, device=flow.device)
    xs = x0.long()[..., None] + steps  # [B, h, w, n]
    ys = y0.long()[..., None] + steps
    inside = ((ys >= 0) & (ys < h))[..., :, None] & ((xs >= 0) & (xs < w))[..., None, :]  # [B, h, w, n, n]
    index = ys.clamp(0, h - 1)[..., :, None] * w + xs.clamp(0, w - 1)[..., None, :]
    index = torch.where(inside, index, torch.full_like(index, cells))
    index = (index + torch.arange(B, device=flow.device).reshape(B, 1, 1, 1, 1) * (cells + 1)).reshape(B, cells, n * n)
    query = (f0 / C**0.5).float().flatten(2).transpose(1, 2)  # [B, cells, C]
    d = window_dots(f1, query, index).reshape(B, h, w, n, n)
    fx, fy = (px - x0)[..., None, None], (py - y0)[..., None, None]
    corr = (1 - fy) * ((1 - fx) * d[..., :-1, :-1] + fx * d[..., :-1, 1:]) + fy * (
        (1 - fx) * d[..., 1:, :-1] + fx * d[..., 1:, 1:]
    )
    return corr.reshape(B, h, w, k * k).permute(0, 3, 1, 2).to(f0.dtype)
