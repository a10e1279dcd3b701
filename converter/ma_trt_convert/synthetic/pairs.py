"""Synthetic image pairs with known content (tests, ``verify``, benchmarks, the demo).

Never real images: the pairs exercise the pipelines, they say nothing about matching quality.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MARGIN = 8


def textured_pair(
    height: int, width: int, shift: tuple[int, int] = (3, -3), seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random texture ``[1, 1, H, W]`` float32 in [0, 1] and the same texture moved by ``shift``.

    ``shift = (dx, dy)`` in pixels, ``|dx|, |dy| <= 8``: image-0 content at ``(x, y)`` appears in
    image 1 at ``(x + dx, y + dy)``.
    """
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, (height + 2 * MARGIN) // 4, (width + 2 * MARGIN) // 4, generator=gen)
    texture = F.interpolate(coarse, scale_factor=4, mode="bilinear", align_corners=False)
    dx, dy = shift
    image0 = texture[..., MARGIN : MARGIN + height, MARGIN : MARGIN + width]
    image1 = texture[..., MARGIN - dy : MARGIN - dy + height, MARGIN - dx : MARGIN - dx + width]
    return image0.contiguous(), image1.contiguous()


def texture(size: int, channels: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random texture ``[channels, size, size]`` in [0, 1] (sum of upsampled noise octaves)."""
    image = torch.zeros(1, channels, size, size)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.2)):
        noise = torch.rand(1, channels, cells, cells, generator=generator)
        image += weight * F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    return image[0].clamp(0, 1)


def octave_pair(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``octaves`` pair: ``[3, size, size]`` texture and its shifted, re-lit copy."""
    base = texture(size + 16, 3, generator)
    first = base[:, :size, :size]
    second = (base[:, 9 : size + 9, 5 : size + 5] * 0.9 + 0.05).clamp(0, 1)
    return first, second
