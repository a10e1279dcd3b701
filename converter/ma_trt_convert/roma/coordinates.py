"""Normalised pixel-centre grids shared by every stage of MatchAnything-RoMa.

Convention (the reference's, and ``grid_sample(align_corners=False)``'s): on an image ``W`` pixels wide,
pixel column ``j`` (0-based) has its centre at normalised ``x = -1 + (2j + 1)/W``; ``x = -1`` and
``x = 1`` are the outer edges of the first and last pixel. Pixels relate by ``x_pix = W/2·(x + 1)``
(so pixel centres fall on ``j + 0.5``). The same holds for rows and ``y``. Channel 0 is ``x``.
"""

from __future__ import annotations

import torch


def pixel_centre_grid(h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised centres of an ``h``×``w`` grid: ``[1, 2, h, w]`` fp32, channel 0 = x, channel 1 = y.

    Built with ``torch.linspace(-1 + 1/n, 1 - 1/n, n)`` per axis, exactly as the reference builds it.
    """
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy))[None]
