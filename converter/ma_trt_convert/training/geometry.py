"""Homographies between training images, in continuous pixel coordinates.

Convention: a point ``(x, y)`` is in continuous pixels of an image, origin at the top-left corner of
the top-left pixel, pixel ``(column c, row r)`` centred at ``(c + 0.5, r + 0.5)``. A homography ``H``
(float32 ``[N, 3, 3]``) maps image-a points to image-b points: ``[x_b, y_b, 1] ~ H [x_a, y_a, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WarpRange:
    """Range of the random image-0 -> image-1 homographies.

    Attributes:
        rotation_deg: rotation uniform in ``[-rotation_deg, rotation_deg]`` degrees.
        min_scale, max_scale: scale log-uniform in ``[min_scale, max_scale]``.
        perspective: each corner moves by up to this fraction of the image side (after the similarity).
        shift: the whole image moves by up to this fraction of its side.
    """

    rotation_deg: float = 45.0
    min_scale: float = 0.5
    max_scale: float = 2.0
    perspective: float = 0.1
    shift: float = 0.15


def apply_homography(h: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``H`` ``[N, 3, 3]`` applied to points ``[N, P, 2]``; float32 ``[N, P, 2]`` (inf where w = 0)."""
    ones = torch.ones_like(points[..., :1])
    mapped = torch.cat([points, ones], dim=-1) @ h.transpose(1, 2)
    return mapped[..., :2] / mapped[..., 2:]


def homography_from_corners(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The ``[N, 3, 3]`` homography (``H[2, 2] = 1``) mapping four points ``source`` ``[N, 4, 2]`` onto ``target``."""
    x, y = source[..., 0], source[..., 1]
    u, v = target[..., 0], target[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    system = torch.cat([rows_u, rows_v], dim=1).double()
    rhs = torch.cat([u, v], dim=1).double()
    solution = torch.linalg.solve(system, rhs)
    return torch.cat([solution, torch.ones_like(solution[:, :1])], dim=1).reshape(-1, 3, 3).float()


def image_corners(height: int, width: int, count: int, device: torch.device | None = None) -> torch.Tensor:
    """float32 ``[count, 4, 2]``: the corners of a ``height × width`` image, clockwise from the top-left."""
    corners = torch.tensor([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]], device=device)
    return corners.expand(count, -1, -1).clone()


def random_homographies(
    count: int, height: int, width: int, warp: WarpRange, generator: torch.Generator
) -> torch.Tensor:
    """``count`` random image-0 -> image-1 homographies float32 ``[count, 3, 3]`` for ``height × width`` images.

    A similarity about the image centre (rotation, scale), then independent corner moves (perspective)
    and a global shift, all drawn from ``generator`` (CPU).
    """
    corners = image_corners(height, width, count)
    centre = torch.tensor([width / 2, height / 2])
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(warp.rotation_deg)
    log_scale = torch.empty(count).uniform_(math.log(warp.min_scale), math.log(warp.max_scale), generator=generator)
    scale = log_scale.exp()
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    moved = (corners - centre) @ rotation.transpose(1, 2) + centre
    side = torch.tensor([width, height], dtype=torch.float32)
    moved = (
        moved + (torch.rand(count, 4, 2, generator=generator) * 2 - 1) * warp.perspective * side * scale[:, None, None]
    )
    moved = moved + (torch.rand(count, 1, 2, generator=generator) * 2 - 1) * warp.shift * side
    return homography_from_corners(corners, moved)


def sampling_grid(h: torch.Tensor, height: int, width: int, source_sizes: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` grid ``[N, height, width, 2]`` (``align_corners=False``) reading sources through ``h``.

    Args:
        h: ``[N, 3, 3]`` output-image -> source-image homographies (continuous pixels).
        height, width: output size in pixels.
        source_sizes: float32 ``[N, 2]`` ``(width, height)`` in pixels of the region of each source
            that the grid addresses (the normalised range [-1, 1] spans it).
    """
    ys, xs = torch.meshgrid(
        torch.arange(height, device=h.device) + 0.5, torch.arange(width, device=h.device) + 0.5, indexing="ij"
    )
    pixels = torch.stack([xs, ys], dim=-1).reshape(1, -1, 2).expand(h.shape[0], -1, -1)
    source = apply_homography(h, pixels)
    normalised = 2 * source / source_sizes[:, None, :] - 1
    return normalised.reshape(-1, height, width, 2)


def translation_scale(scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``[N, 3, 3]`` homographies ``p -> scale · p + offset`` (scale ``[N]``, offset ``[N, 2]``)."""
    h = torch.zeros(scale.shape[0], 3, 3, device=scale.device)
    h[:, 0, 0] = scale
    h[:, 1, 1] = scale
    h[:, :2, 2] = offset
    h[:, 2, 2] = 1.0
    return h
