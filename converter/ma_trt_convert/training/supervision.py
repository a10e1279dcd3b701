"""Ground truth from the known homography, on the port's coarse grid and fine windows.

Continuous pixel convention of :mod:`.geometry`. Coarse cell ``i`` of an ``h × w`` grid (8-px cells,
row-major) has its centre at ``(8·cx + 4, 8·cy + 4)``; window pixel ``a`` (row-major 8×8) of cell
``i`` is the full-resolution pixel ``(8·cx + ax, 8·cy + ay)``, centred at ``+0.5``. The port's reported
keypoints are those pixel indices minus 3.5 (:mod:`ma_trt_convert.eloftr.fine_matching`), i.e. pixel
centres minus :data:`REPORTED_OFFSET` px, as the runtime reads them.
"""

from __future__ import annotations

import torch

from ma_trt_convert.eloftr.fine_preprocess import STRIDE, WINDOW
from ma_trt_convert.training.geometry import apply_homography

REPORTED_OFFSET = 4.0
PADDED = WINDOW + 2


def _lookup(mask: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """bool ``[N, P]``: ``mask`` ``[N, 1, H, W]`` at integer pixels ``[N, P, 2]`` ``(x, y)``, False outside."""
    _, _, height, width = mask.shape
    x, y = pixels[..., 0], pixels[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = (y.clamp(0, height - 1) * width + x.clamp(0, width - 1)).long()
    return inside & torch.gather(mask.flatten(1), 1, flat)


def cell_origins(cells: torch.Tensor, grid_width: int) -> torch.Tensor:
    """float32 ``[..., 2]``: top-left pixel ``8·(cx, cy)`` of row-major cells (int64)."""
    return torch.stack([cells % grid_width, cells // grid_width], dim=-1).float() * STRIDE


def coarse_targets(homography: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor) -> torch.Tensor:
    """int64 ``[N, L]``: the image-1 cell holding ``H(centre of image-0 cell i)``, −1 where none.

    Args:
        homography: ``[N, 3, 3]`` image 0 -> image 1.
        valid0, valid1: bool ``[N, 1, H, W]`` source-content masks (:class:`.pair_batches.PairBatch`).
    """
    n, _, height, width = valid0.shape
    h, w = height // STRIDE, width // STRIDE
    cells = torch.arange(h * w, device=homography.device)
    centres = (cell_origins(cells, w) + STRIDE / 2).expand(n, -1, -1)
    mapped = torch.nan_to_num(apply_homography(homography, centres), nan=-1.0, posinf=-1.0, neginf=-1.0)
    pixel1 = torch.floor(mapped).clamp(-1, max(height, width)).long()
    ok = _lookup(valid0, centres.long()) & _lookup(valid1, pixel1)
    target = (pixel1[..., 1] // STRIDE) * w + pixel1[..., 0] // STRIDE
    return torch.where(ok, target, torch.full_like(target, -1))


def window_targets(
    homography: torch.Tensor, cell0: torch.Tensor, cell1: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each image-0 window pixel lands in the padded image-1 window, for given cell pairs.

    Args:
        homography: ``[N, 3, 3]`` image 0 -> image 1.
        cell0, cell1: int64 ``[N, K]`` cell pairs (image 0, image 1).
        valid0, valid1: source-content masks ``[N, 1, H, W]``.

    Returns:
        ``(index, mapped)``: int64 ``[N, K, 64]`` row-major index in the padded 10×10 image-1 window
        (the window of :func:`ma_trt_convert.eloftr.fine_preprocess.windows1`), −1 where the pixel
        lands outside it or on padding; float32 ``[N, K, 64, 2]``, ``H`` of each pixel's centre.
    """
    n, k = cell0.shape
    w = valid0.shape[-1] // STRIDE
    offsets = torch.arange(WINDOW * WINDOW, device=cell0.device)
    window = torch.stack([offsets % WINDOW, offsets // WINDOW], dim=-1).float()
    pixels0 = cell_origins(cell0, w)[:, :, None, :] + window
    mapped = apply_homography(homography, (pixels0 + 0.5).reshape(n, -1, 2)).reshape(n, k, -1, 2)
    mapped = torch.nan_to_num(mapped, nan=-1e6, posinf=-1e6, neginf=-1e6)
    local = torch.floor(mapped - cell_origins(cell1, w)[:, :, None, :] + 1).clamp(-1, PADDED).long()
    inside = ((local >= 0) & (local < PADDED)).all(dim=-1)
    ok = inside & _lookup(valid0, pixels0.reshape(n, -1, 2).long()).reshape(n, k, -1)
    ok = ok & _lookup(valid1, torch.floor(mapped).clamp(-1, 1e6).long().reshape(n, -1, 2)).reshape(n, k, -1)
    index = local[..., 1] * PADDED + local[..., 0]
    return torch.where(ok, index, torch.full_like(index, -1)), mapped


def offset_targets(
    mapped: torch.Tensor, cell1: torch.Tensor, a: torch.Tensor, b: torch.Tensor, grid_width: int
) -> torch.Tensor:
    """float32 ``[N, K, 2]``: the stage-2 offset ``(ex, ey)`` that makes the reported image-1 point exact.

    The reported point is ``8·c1 + b − 3.5 + e`` (pixel centre ``8·c1 + b + 0.5 + e``), so the target is
    ``H(centre of pixel a) − (8·c1 + b + 0.5)``.

    Args:
        mapped: ``[N, K, 64, 2]`` from :func:`window_targets`.
        cell1: int64 ``[N, K]`` image-1 cells.
        a, b: int64 ``[N, K]`` stage-1 picks (image-0 window pixel, inner image-1 window pixel).
        grid_width: coarse grid width ``W/8``.
    """
    truth = torch.gather(mapped, 2, a[..., None, None].expand(-1, -1, 1, 2)).squeeze(2)
    inner = torch.stack([b % WINDOW, b // WINDOW], dim=-1).float()
    return truth - (cell_origins(cell1, grid_width) + inner + 0.5)
