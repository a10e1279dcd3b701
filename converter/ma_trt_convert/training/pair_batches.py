"""Training pairs: a crop of a source image and its homographic warp, rendered on the device.

Image 0 is an axis-aligned, scaled crop of a source (photograph or procedural image); image 1 shows the
same source through a random homography ``H`` (image 0 -> image 1, :mod:`.geometry` conventions), so
every image-0 point ``p`` whose source point exists appears in image 1 at ``H(p)``. Both images are
rendered with bilinear ``grid_sample`` from the source, then turned grey by a (possibly different)
modality and changed photometrically (:mod:`.appearance`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ma_trt_convert.training.appearance import MODALITIES, photometric, to_modality
from ma_trt_convert.training.geometry import WarpRange, random_homographies, sampling_grid, translation_scale
from ma_trt_convert.training.procedural import procedural_image

VALID_LEVEL = 0.999


class PairBatch(NamedTuple):
    """One batch of ``N`` pairs.

    Attributes:
        image0, image1: float32 ``[N, 1, H, W]`` grey in [0, 1] (the network's input).
        homography: float32 ``[N, 3, 3]`` image-0 -> image-1, continuous pixels.
        valid0, valid1: bool ``[N, 1, H, W]``: the pixel shows source content (not padding).
    """

    image0: torch.Tensor
    image1: torch.Tensor
    homography: torch.Tensor
    valid0: torch.Tensor
    valid1: torch.Tensor


class ImageBank:
    """Source images on one device: RGB plus a validity channel, zero-padded to a common square.

    Attributes:
        stack: float16 ``[S, 4, side, side]``: RGB in [0, 1] at the top-left, channel 3 is 1 inside the image.
        sizes: float32 ``[S, 2]`` ``(width, height)`` of each image in pixels.
        names: one name per source (photograph name or ``procedural_<i>``).
    """

    def __init__(self, images: dict[str, np.ndarray | torch.Tensor], device: torch.device | str) -> None:
        tensors = {name: _as_chw(image) for name, image in images.items()}
        side = max(max(t.shape[1:]) for t in tensors.values())
        self.stack = torch.zeros(len(tensors), 4, side, side, dtype=torch.float16, device=device)
        for index, t in enumerate(tensors.values()):
            self.stack[index, :3, : t.shape[1], : t.shape[2]] = t.to(device)
            self.stack[index, 3, : t.shape[1], : t.shape[2]] = 1.0
        self.sizes = torch.tensor([[t.shape[2], t.shape[1]] for t in tensors.values()], dtype=torch.float32)
        self.names = list(tensors)

    @property
    def device(self) -> torch.device:
        return self.stack.device


def _as_chw(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float32 ``[3, H, W]`` in [0, 1] of a uint8 ``[H, W, 3]`` array or a float ``[3, H, W]`` tensor."""
    if isinstance(image, np.ndarray):
        return torch.from_numpy(image).permute(2, 0, 1).float() / 255
    return image.float()


def procedural_images(count: int, size: int, shapes: int, seed: int) -> dict[str, torch.Tensor]:
    """``count`` seeded :func:`~.procedural.procedural_image` sources ``[3, size, size]``, named ``procedural_<i>``."""
    generator = torch.Generator().manual_seed(seed)
    return {f"procedural_{i}": procedural_image(size, shapes, generator) for i in range(count)}


def _crop_placement(sizes: torch.Tensor, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """Image-0 -> source homographies ``[N, 3, 3]``: a crop covering 50–100 % of the largest fitting one."""
    n = sizes.shape[0]
    largest = torch.minimum(sizes[:, 0] / width, sizes[:, 1] / height)
    scale = largest * (0.5 + 0.5 * torch.rand(n, generator=generator))
    room = sizes - scale[:, None] * torch.tensor([width, height])
    offset = room * torch.rand(n, 2, generator=generator)
    return translation_scale(scale, offset)


def _render(bank: ImageBank, sources: torch.Tensor, to_source: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """float32 ``[N, 4, H, W]``: RGB + validity of ``sources`` seen through ``to_source`` (image -> source)."""
    side = bank.stack.shape[-1]
    extent = torch.full((sources.shape[0], 2), float(side), device=bank.device)
    grid = sampling_grid(to_source.to(bank.device), height, width, extent)
    return F.grid_sample(bank.stack[sources].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _modalities(n: int, cross_modal: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Modality indices ``[N]`` of image 0 (luma 70 %) and image 1 (a random other one with prob. ``cross_modal``)."""
    count = len(MODALITIES)
    first = torch.where(torch.rand(n, generator=generator) < 0.7, 0, torch.randint(count, (n,), generator=generator))
    other = torch.randint(count, (n,), generator=generator)
    second = torch.where(torch.rand(n, generator=generator) < cross_modal, other, first)
    return first, second


def render_pairs(
    bank: ImageBank, count: int, height: int, width: int, warp: WarpRange, cross_modal: float, seed: int
) -> PairBatch:
    """``count`` random pairs ``height × width`` from ``bank``, fully determined by ``seed``.

    Geometry is drawn on the CPU, appearance on the bank's device (both from ``seed``).
    """
    generator = torch.Generator().manual_seed(seed)
    device_generator = torch.Generator(device=bank.device).manual_seed(seed)
    sources = torch.randint(len(bank.names), (count,), generator=generator)
    to_source0 = _crop_placement(bank.sizes[sources], height, width, generator)
    homography = random_homographies(count, height, width, warp, generator)
    to_source1 = to_source0 @ torch.linalg.inv(homography)
    modality0, modality1 = _modalities(count, cross_modal, generator)
    device_sources = sources.to(bank.device)
    images = []
    for to_source, modality in ((to_source0, modality0), (to_source1, modality1)):
        rendered = _render(bank, device_sources, to_source, height, width)
        grey = to_modality(rendered[:, :3], modality.to(bank.device), device_generator)
        images.append((photometric(grey, device_generator), rendered[:, 3:] > VALID_LEVEL))
    (image0, valid0), (image1, valid1) = images
    return PairBatch(image0, image1, homography.to(bank.device), valid0, valid1)
