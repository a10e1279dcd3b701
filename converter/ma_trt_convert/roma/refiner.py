"""Convolutional flow refiners (one per scale 16, 8, 4, 2, 1) and the local correlation they use.

Keys (under ``decoder.conv_refiner.<scale>.``): ``block1.{0,1,3}``, ``hidden_blocks.0..7.{0,1,3}`` (each
block: depthwise 5×5 conv, BatchNorm, ReLU, 1×1 conv), ``disp_emb`` (1×1 conv 2 → E) and ``out_conv``
(1×1 conv → Δflow x, Δflow y, Δcertainty).

Precision: in fp16 mode the blocks and ``disp_emb`` have fp16 weights; feature sampling
(``grid_sample``), the correlation sum and ``out_conv`` run in fp32, as under the reference's autocast.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.roma.coordinates import pixel_centre_grid
from ma_trt_convert.roma.precision import batch_norm_fp32

HIDDEN_BLOCKS = 8
KERNEL_SIZE = 5
DISPLACEMENT_SCALE = 40 / 32


def local_correlation(f0: torch.Tensor, f1: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
    """Correlation of each image-0 feature with a (2r+1)² window of image-1 features around its flow target.

    Window offsets are whole pixels of the current grid (normalised steps of ``2/h`` and ``2/w``),
    ordered row-major (y outer, x inner). Image-1 features are sampled bilinearly with zero padding
    (``align_corners=False``); the correlation is ``Σ_c f0_c/√C · f1_c``, computed in fp32 and returned in
    ``f0``'s dtype.

    The window is sampled one row of offsets at a time (``2r+1`` ``grid_sample`` calls of ``w·(2r+1)``
    points each): every sample and every channel sum is the same arithmetic as one call over the whole
    window, but the largest intermediate is ``2r+1`` times smaller (at 864 the scale-8 window of
    ``2 × 512 × 108² × 49`` fp32 values, 2.3 GB, becomes seven 0.33 GB rows).

    Args:
        f0: ``[B, C, h, w]`` image-0 features.
        f1: ``[B, C, h, w]`` image-1 features.
        flow: ``[B, 2, h, w]`` fp32 normalised image-1 coordinates per image-0 cell.
        radius: window radius ``r`` in pixels.

    Returns:
        ``[B, (2r+1)², h, w]``.
    """
    B, C, h, w = f0.shape
    k = 2 * radius + 1
    oy = torch.linspace(-2 * radius / h, 2 * radius / h, k, device=f0.device)
    ox = torch.linspace(-2 * radius / w, 2 * radius / w, k, device=f0.device)
    target = flow.permute(0, 2, 3, 1)[:, :, :, None]
    source = f1.float()
    query = (f0 / C**0.5).float()[..., None]
    rows = []
    for row in range(k):
        window = torch.stack((ox, oy[row].expand(k)), dim=-1).reshape(1, 1, 1, k, 2)
        coords = (target + window).reshape(B, h, w * k, 2)
        sampled = F.grid_sample(source, coords, mode="bilinear", padding_mode="zeros", align_corners=False)
        rows.append((query * sampled.reshape(B, C, h, w, k)).sum(dim=1))
    corr = torch.cat(rows, dim=-1)
    return corr.permute(0, 3, 1, 2).to(f0.dtype)


def _block(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_dim, out_dim, KERNEL_SIZE, padding=KERNEL_SIZE // 2, groups=in_dim),
        nn.BatchNorm2d(out_dim),
        nn.ReLU(),
        nn.Conv2d(out_dim, out_dim, 1),
    )


class BlockLayers(NamedTuple):
    """The layers of one refiner block, by role (the release keeps them at ``nn.Sequential`` positions 0..3)."""

    depthwise: nn.Conv2d
    norm: nn.Module
    activation: nn.Module
    pointwise: nn.Conv2d


def _run_block(block: BlockLayers, x: torch.Tensor) -> torch.Tensor:
    """Conv in its weight dtype, BatchNorm in fp32 (fp32 parameters; nothing once folded), ReLU, 1×1 conv."""
    y = block.depthwise(x.to(block.depthwise.weight.dtype))
    y = block.activation(batch_norm_fp32(block.norm, y))
    return block.pointwise(y)


class ConvRefiner(nn.Module):
    """Predicts a flow/certainty correction at one scale.

    Args:
        in_dim: channels of the concatenated input (2·C + embedding + window size²).
        hidden_dim: channels of the blocks (equal to ``in_dim`` in the release).
        displacement_dim: output channels of ``disp_emb``.
        corr_radius: local-correlation radius, or None for no correlation (scales 2 and 1).
    """

    def __init__(self, in_dim: int, hidden_dim: int, displacement_dim: int, corr_radius: int | None) -> None:
        super().__init__()
        self.block1 = _block(in_dim, hidden_dim)
        self.hidden_blocks = nn.Sequential(*(_block(hidden_dim, hidden_dim) for _ in range(HIDDEN_BLOCKS)))
        self.out_conv = nn.Conv2d(hidden_dim, 3, 1)
        self.disp_emb = nn.Conv2d(2, displacement_dim, 1)
        self.corr_radius = corr_radius

    def blocks(self) -> tuple[BlockLayers, ...]:
        """The nine blocks in order (``block1``, then ``hidden_blocks``), each by layer role."""
        return tuple(BlockLayers(*block) for block in (self.block1, *self.hidden_blocks))

    def correlation(self, x: torch.Tensor, y: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
        """:func:`local_correlation` (a subclass may compute the same values another way)."""
        return local_correlation(x, y, flow, radius)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, flow: torch.Tensor, scale_factor: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One refinement step.

        Args:
            x: image-0 projected features ``[B, C, h, w]``.
            y: image-1 projected features ``[B, C, h, w]``.
            flow: ``[B, 2, h, w]`` fp32 current normalised image-1 coordinates of each image-0 cell.
            scale_factor: 1 in pass 1, ``upsample_res / coarse_res`` in pass 2 (scales the displacement
                fed to ``disp_emb``).

        Returns:
            ``(delta_flow [B, 2, h, w], delta_certainty [B, 1, h, w])``, fp32, in the network's units
            (the caller converts Δflow to normalised coordinates).
        """
        return self.run_blocks(self.block_input(x, y, flow, scale_factor))

    def block_input(self, x: torch.Tensor, y: torch.Tensor, flow: torch.Tensor, scale_factor: float) -> torch.Tensor:
        """``cat(x, x̂, disp_emb(displacement), correlation)`` ``[B, in_dim, h, w]`` in the blocks' dtype."""
        _, _, h, w = x.shape
        dtype = self.blocks()[0].depthwise.weight.dtype
        x_hat = F.grid_sample(y.float(), flow.permute(0, 2, 3, 1), mode="bilinear", align_corners=False)
        displacement = flow - pixel_centre_grid(h, w, x.device)
        embedded = self.disp_emb((DISPLACEMENT_SCALE * scale_factor * displacement).to(dtype))
        parts = [x.to(dtype), x_hat.to(dtype), embedded]
        if self.corr_radius is not None:
            parts.append(self.correlation(x, y, flow, self.corr_radius).to(dtype))
        return torch.cat(parts, dim=1)

    def run_blocks(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The nine blocks and ``out_conv`` on the block input.

        Returns:
            ``(Δflow [B, 2, h, w], Δcertainty [B, 1, h, w])``, fp32.
        """
        for block in self.blocks():
            d = _run_block(block, d)
        d = self.out_conv(d.float())
        return d[:, :-1], d[:, -1:]
