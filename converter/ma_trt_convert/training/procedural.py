"""Procedural training images: smooth random textures with random filled shapes on top."""

from __future__ import annotations

import torch

from ma_trt_convert.synthetic.pairs import texture


def _shape_mask(size: int, generator: torch.Generator) -> torch.Tensor:
    """float32 ``[size, size]`` 0/1 mask of one random ellipse or rotated rectangle."""
    centre = torch.rand(2, generator=generator) * size
    radii = (0.03 + 0.2 * torch.rand(2, generator=generator)) * size
    angle = torch.rand(1, generator=generator) * torch.pi
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    dx, dy = xs - centre[0], ys - centre[1]
    u = (dx * torch.cos(angle) + dy * torch.sin(angle)) / radii[0]
    v = (-dx * torch.sin(angle) + dy * torch.cos(angle)) / radii[1]
    if torch.rand(1, generator=generator) < 0.5:
        return (u * u + v * v <= 1).float()
    return ((u.abs() <= 1) & (v.abs() <= 1)).float()


def procedural_image(size: int, shapes: int, generator: torch.Generator) -> torch.Tensor:
    """float32 RGB ``[3, size, size]`` in [0, 1]: a :func:`~ma_trt_convert.synthetic.pairs.texture` with
    ``shapes`` random ellipses/rectangles of random colour (shaded by one shared grey texture) painted over it."""
    image = texture(size, 3, generator)
    shading = 0.3 * texture(size, 1, generator)
    for _ in range(shapes):
        mask = _shape_mask(size, generator)
        colour = torch.rand(3, 1, 1, generator=generator)
        image = image * (1 - mask) + ((colour + shading) / 1.3) * mask
    return image.clamp(0, 1)
