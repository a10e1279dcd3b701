"""ELoFTR's fine windows straight from the half-resolution FPN map, without the full-resolution map.

The export module up-samples the whole ``[N, 64, H/2, W/2]`` map ×2 (bilinear, ``align_corners=False``)
and then cuts the windows of the kept rows out of it (:mod:`ma_trt_convert.eloftr.fine_preprocess`). Each
full-resolution pixel ``o`` of that up-sampling (per axis) is a two-tap blend of half-resolution pixels:
``o = 2k`` → ``0.25·x[k-1] + 0.75·x[k]``, ``o = 2k+1`` → ``0.75·x[k] + 0.25·x[k+1]``, indices clamped
to the map (PyTorch clamps the source coordinate at 0 and the upper tap at the last pixel, which gives
the same values up to float rounding). So the 8×8 image-0 window of cell ``(cx, cy)`` (full-resolution
pixels ``8c .. 8c+7`` per axis) and the 10×10 image-1 window (``8c-1 .. 8c+8``, zero outside the image)
both read only the 6×6 half-resolution patch ``4c-1 .. 4c+4``. This module gathers those patches and blends
them, in float32, rounded once to the map's dtype: the windows of
:func:`~ma_trt_convert.eloftr.fine_preprocess.select_windows0` and
:func:`~ma_trt_convert.eloftr.fine_preprocess.windows1` within float rounding, without writing and
re-reading the full map (79 MB at 640×480 in fp16).
"""

from __future__ import annotations

import torch

from ma_trt_convert.eloftr.fine_preprocess import STRIDE, WINDOW

PATCH = 6  # half-resolution pixels per axis a window reads
IMAGE0_FIRST, IMAGE1_FIRST = 0, -1  # first full-resolution offset of a window from 8·c, per image


def blend_taps(first: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For ``size`` full-resolution offsets ``first, first+1, ...`` from ``8·c``: the first of each one's two
    taps (int64 ``[size]``, indices into the patch ``4c-1 .. 4c+4``; the second is the next one) and the
    weights of the first and second tap (float32 ``[size]``). Made by device kernels, no host copy, so
    that a CUDA graph can capture it."""
    offsets = torch.arange(first, first + size, device=device)
    odd = offsets % 2  # Python's remainder: offset -1 is odd
    weight_a = 0.25 + 0.5 * odd.float()
    return torch.div(offsets, 2, rounding_mode="floor") + odd, weight_a, 1.0 - weight_a


def cell_coordinates(cells: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column (int64 ``[N, K]``, coarse cells) of row-major cell indices on the ``H/8 × W/8`` grid of the
    image whose half-resolution map is ``half`` (``[N, C, H/2, W/2]``)."""
    per_row = half.shape[3] * 2 // STRIDE
    return cells // per_row, cells % per_row


def patches(half: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """float32 ``[N, K, 6, 6, C]``: the half-resolution patch ``4c-1 .. 4c+4`` (clamped to the map) of each cell.

    Args:
        half: ``[N, C, H/2, W/2]`` half-resolution features.
        cells: int64 ``[N, K]`` cell indices, row-major on the ``H/8 × W/8`` grid.
    """
    n, c, h, w = half.shape
    cy, cx = cell_coordinates(cells, half)
    start = torch.arange(PATCH, device=cells.device) - 1
    rows = (cy * (STRIDE // 2))[..., None] + start
    cols = (cx * (STRIDE // 2))[..., None] + start
    flat = rows.clamp(0, h - 1)[..., :, None] * w + cols.clamp(0, w - 1)[..., None, :]
    offset = torch.arange(n, device=cells.device)[:, None, None, None] * (h * w)
    table = half.flatten(2).transpose(1, 2).reshape(-1, c)
    picked = table.index_select(0, (flat + offset).reshape(-1))
    return picked.reshape(n, cells.shape[1], PATCH, PATCH, c).float()


def _blend(patch: torch.Tensor, first: int, size: int, axis: int) -> torch.Tensor:
    """``patch`` ``[..., 6, ..., C]`` blended along ``axis`` into ``size`` full-resolution offsets from ``first``."""
    taps, weight_a, weight_b = blend_taps(first, size, patch.device)
    shape = [1] * patch.dim()
    shape[axis] = size
    first_tap, second_tap = patch.index_select(axis, taps), patch.index_select(axis, taps + 1)
    return first_tap * weight_a.reshape(shape) + second_tap * weight_b.reshape(shape)


def windows_from_half(
    half: torch.Tensor, cells: torch.Tensor, image: int, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The fine windows of ``cells`` (int64 ``[N, K]``) of ``half`` (``[N, C, H/2, W/2]``), in ``dtype``
    (default ``half``'s; float32 keeps the blend unrounded): image 0 ``[N, K, 64, C]`` (as ``select_windows0``
    of the full map), image 1 ``[N, K, 100, C]`` (as ``windows1``: zero outside the image)."""
    first, size = (IMAGE0_FIRST, WINDOW) if image == 0 else (IMAGE1_FIRST, WINDOW + 2)
    blended = _blend(_blend(patches(half, cells), first, size, 2), first, size, 3)
    if image == 1:
        h, w = half.shape[2:]
        cy, cx = cell_coordinates(cells, half)
        offsets = torch.arange(first, first + size, device=cells.device)
        rows = (cy * STRIDE)[..., None] + offsets
        cols = (cx * STRIDE)[..., None] + offsets
        inside = ((rows >= 0) & (rows < 2 * h))[..., :, None] & ((cols >= 0) & (cols < 2 * w))[..., None, :]
        blended = blended * inside[..., None]
    return blended.flatten(2, 3).to(dtype or half.dtype)
