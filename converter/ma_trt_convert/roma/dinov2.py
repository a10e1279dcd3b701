"""DINOv2 ViT-L/14: the coarse ("scale 16") feature encoder of MatchAnything-RoMa.

Parameter names equal the keys of the released ``dinov2_vitl14_pretrain.pth`` (343 entries).
The positional embedding is stored for a 37×37 patch grid (518 px); :meth:`DinoV2Large.bake_pos_embed`
interpolates it once, at build time, for the resolution the module will run at, so the exported
graph holds a constant instead of a runtime bicubic resize.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.roma.precision import layer_norm_fp32
from ma_trt_convert.roma.transformer import TransformerBlock

PATCH_SIZE = 14
EMBED_DIM = 1024
DEPTH = 24
NUM_HEADS = 16
PRETRAIN_GRID = 37  # pos_embed holds 1 + 37·37 = 1370 entries


class PatchEmbed(nn.Module):
    """14×14 stride-14 convolution ``proj`` from RGB to 1024 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, EMBED_DIM, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` → tokens ``[B, (H/14)·(W/14), 1024]`` in row-major patch order."""
        return self.proj(x.to(self.proj.weight.dtype)).flatten(2).transpose(1, 2)


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """Resample DINOv2's positional embedding for a ``grid``×``grid`` patch grid.

    Follows the DINOv2 recipe the reference runs: the 37×37 patch table is resized bicubically
    (``align_corners=False``) with scale factor ``(grid + 0.1) / 37`` on both axes, computed in fp32, and
    the class-token entry is kept. The table is returned unchanged when ``grid`` is 37.

    Args:
        pos_embed: ``[1, 1 + 37·37, dim]`` as stored (any float dtype).
        grid: patches per side at the target resolution (``resolution // 14``).

    Returns:
        ``[1, 1 + grid·grid, dim]`` in ``pos_embed``'s dtype.
    """
    n_stored = pos_embed.shape[1] - 1
    if n_stored == grid * grid:
        return pos_embed.detach().clone()
    side = int(math.sqrt(n_stored))
    dim = pos_embed.shape[-1]
    table = pos_embed.detach().float()
    patches = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    factor = (grid + 0.1) / math.sqrt(n_stored)
    patches = F.interpolate(patches, scale_factor=(factor, factor), mode="bicubic")
    if patches.shape[-2:] != (grid, grid):
        raise ValueError(f"pos_embed interpolation gave {tuple(patches.shape[-2:])}, expected {grid}×{grid}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((table[:, :1], patches), dim=1).to(pos_embed.dtype)


class DinoV2Large(nn.Module):
    """ViT-L/14 (24 blocks, width 1024, 16 heads, LayerScale, LayerNorm eps 1e-6).

    ``mask_token`` is part of the released file and is loaded (strictly) but, as in the reference,
    never used at inference (it replaces masked patches during DINOv2 pre-training only).
    """

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + PRETRAIN_GRID * PRETRAIN_GRID, EMBED_DIM))
        self.mask_token = nn.Parameter(torch.zeros(1, EMBED_DIM))
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList(
            TransformerBlock(EMBED_DIM, NUM_HEADS, qkv_bias=True, layer_scale=True, eps=1e-6) for _ in range(DEPTH)
        )
        self.norm = nn.LayerNorm(EMBED_DIM, eps=1e-6)
        self.grid: int | None = None
        self.register_buffer("pos_embed_baked", torch.empty(0), persistent=False)

    def bake_pos_embed(self, resolution: int) -> None:
        """Fix the input side length (pixels, a multiple of 14) and precompute the positional embedding.

        Call after the weights are loaded and after any dtype conversion (the reference interpolates
        the table from the dtype it runs in).
        """
        if resolution % PATCH_SIZE:
            raise ValueError(f"DINOv2 input side {resolution} is not a multiple of {PATCH_SIZE}")
        self.grid = resolution // PATCH_SIZE
        self.pos_embed_baked = interpolate_pos_embed(self.pos_embed, self.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features of the final LayerNorm.

        Args:
            x: ``[B, 3, R, R]`` RGB in [0, 1] (no ImageNet normalisation), R the baked resolution.

        Returns:
            ``[B, 1024, R/14, R/14]`` in the module's parameter dtype (fp32, or fp16 in fp16 mode).
        """
        if self.grid is None:
            raise RuntimeError("call bake_pos_embed(resolution) before running DinoV2Large")
        B = x.shape[0]
        dtype = self.patch_embed.proj.weight.dtype
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.to(dtype).expand(B, -1, -1), tokens), dim=1) + self.pos_embed_baked
        for block in self.blocks:
            tokens = block(tokens)
        patches = layer_norm_fp32(self.norm, tokens[:, 1:]).to(dtype)
        return patches.transpose(1, 2).reshape(B, EMBED_DIM, self.grid, self.grid)
