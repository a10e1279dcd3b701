"""RepVGG-A1 backbone of MatchAnything-ELoFTR (1 input channel), trainable layout and fused form.

The released checkpoint stores every block *unfused*: a 3×3 conv + BatchNorm (``rbr_dense``), a 1×1
conv + BatchNorm (``rbr_1x1``) and, where input and output shapes agree, a bare BatchNorm
(``rbr_identity``). In eval mode the three branches are affine in the input, so they collapse into
one 3×3 conv with bias (:func:`fuse_backbone`); the result is numerically the same up to float
rounding (~1e-6 relative).

Stages (input ``[N, 1, H, W]`` grayscale in [0, 1]):
    layer0: 1 block, stride 2 -> 64 channels at 1/2
    layer1: 2 blocks -> 64 channels at 1/2   (``x1``)
    layer2: 4 blocks, first stride 2 -> 128 channels at 1/4  (``x2``)
    layer3: 14 blocks, first stride 2 -> 256 channels at 1/8  (coarse features)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGE_WIDTHS = (64, 64, 128, 256)
STAGE_DEPTHS = (1, 2, 4, 14)


class ConvBN(nn.Sequential):
    """Bias-free conv followed by BatchNorm; children named ``conv`` and ``bn`` as released."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(x) == scale * x + shift`` in eval mode."""
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return scale, bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    """Unfused RepVGG block: ``relu(dense3x3(x) + conv1x1(x) [+ bn(x)])``.

    Args:
        in_ch, out_ch: channel counts.
        stride: 1 or 2. The identity branch exists only when ``stride == 1`` and ``in_ch == out_ch``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.rbr_identity = nn.BatchNorm2d(in_ch) if stride == 1 and in_ch == out_ch else None
        self.rbr_dense = ConvBN(in_ch, out_ch, 3, stride, 1)
        self.rbr_1x1 = ConvBN(in_ch, out_ch, 1, stride, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return F.relu(out)

    @torch.no_grad()
    def fused(self) -> FusedRepVGGBlock:
        """The equivalent single 3×3 conv + ReLU (valid in eval mode)."""
        conv3 = self.rbr_dense.conv
        scale3, shift3 = _bn_scale_shift(self.rbr_dense.bn)
        scale1, shift1 = _bn_scale_shift(self.rbr_1x1.bn)
        kernel = conv3.weight * scale3[:, None, None, None]
        kernel = kernel + F.pad(self.rbr_1x1.conv.weight * scale1[:, None, None, None], [1, 1, 1, 1])
        bias = shift3 + shift1
        if self.rbr_identity is not None:
            scale_id, shift_id = _bn_scale_shift(self.rbr_identity)
            eye = torch.zeros_like(kernel)
            channels = torch.arange(kernel.shape[0])
            eye[channels, channels, 1, 1] = 1.0
            kernel = kernel + eye * scale_id[:, None, None, None]
            bias = bias + shift_id
        fused = FusedRepVGGBlock(conv3.in_channels, conv3.out_channels, conv3.stride[0])
        fused.conv.weight.copy_(kernel)
        fused.conv.bias.copy_(bias)
        return fused


class FusedRepVGGBlock(nn.Module):
    """Deploy form of :class:`RepVGGBlock`: ``relu(conv3x3(x) + bias)``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x.to(self.conv.weight.dtype)))


def _stage(in_ch: int, out_ch: int, depth: int) -> nn.ModuleList:
    return nn.ModuleList(RepVGGBlock(in_ch if i == 0 else out_ch, out_ch, 2 if i == 0 else 1) for i in range(depth))


class RepVGGBackbone(nn.Module):
    """RepVGG-A1 feature extractor with the released module names (``layer0`` … ``layer3``)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer0: nn.Module = RepVGGBlock(1, STAGE_WIDTHS[0], 2)
        self.layer1 = nn.ModuleList(RepVGGBlock(64, 64, 1) for _ in range(STAGE_DEPTHS[1]))
        self.layer2 = _stage(STAGE_WIDTHS[1], STAGE_WIDTHS[2], STAGE_DEPTHS[2])
        self.layer3 = _stage(STAGE_WIDTHS[2], STAGE_WIDTHS[3], STAGE_DEPTHS[3])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features of ``images`` ``[N, 1, H, W]`` (H, W multiples of 8).

        Returns:
            ``(coarse, x2, x1)``: ``[N, 256, H/8, W/8]``, ``[N, 128, H/4, W/4]``, ``[N, 64, H/2, W/2]``,
            in the dtype of the backbone weights.
        """
        out = self.layer0(images)
        for block in self.layer1:
            out = block(out)
        x1 = out
        for block in self.layer2:
            out = block(out)
        x2 = out
        for block in self.layer3:
            out = block(out)
        return out, x2, x1


def fuse_backbone(backbone: RepVGGBackbone) -> RepVGGBackbone:
    """Replace every :class:`RepVGGBlock` of ``backbone`` by its fused form, in place; returns it."""
    backbone.layer0 = backbone.layer0.fused()
    for stage in (backbone.layer1, backbone.layer2, backbone.layer3):
        for index, block in enumerate(stage):
            stage[index] = block.fused()
    return backbone
