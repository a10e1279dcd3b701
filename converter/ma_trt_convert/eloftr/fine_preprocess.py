"""Fine-level features: the FPN to full resolution and the local windows around coarse cells.

FPN (names as released; 1×1 convs and 3×3 convs without bias; the BatchNorm after the first 3×3 conv
of each ``*_outconv2`` is folded into that conv by :meth:`FinePreprocess.fuse`):

    c  = layer3_outconv(coarse / 16)                                      256 ch @ 1/8
    x2 = layer2_outconv2(layer2_outconv(x2) + up2(c))                     128 ch @ 1/4
    x1 = layer1_outconv2(layer1_outconv(x1) + up2(x2))                     64 ch @ 1/2
    fine = up2(x1)                                                        64 ch @ 1/1
    with outconv2 = conv3x3 → BN → LeakyReLU(0.01) → conv3x3, up2 = bilinear ×2, align_corners=False.

Windows (pixel index convention: pixel ``(x, y)`` is column ``x``, row ``y`` of the full-resolution map):
    image 0, cell ``(cx, cy)``: the 8×8 pixels ``x in [8cx, 8cx+7]``, ``y in [8cy, 8cy+7]``;
    image 1, cell ``(cx, cy)``: the 10×10 pixels ``x in [8cx-1, 8cx+8]``, ``y in [8cy-1, 8cy+8]``,
    zero outside the image. Window entries are row-major.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.eloftr.coarse_transformer import D_MODEL

WINDOW = 8
STRIDE = 8
FINE_DIM = 64


def _conv1x1(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, bias=False)


def _conv3x3(in_ch: int, out_ch: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)


def _outconv2(channels: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        _conv3x3(channels, channels), nn.BatchNorm2d(channels), nn.LeakyReLU(0.01), _conv3x3(channels, out_ch)
    )


@torch.no_grad()
def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv with bias equal to ``bn(conv(x))`` in eval mode."""
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    fused = _conv3x3(conv.in_channels, conv.out_channels, bias=True)
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    fused.bias.copy_(bn.bias - bn.running_mean * scale)
    return fused


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=(2 * x.shape[-2], 2 * x.shape[-1]), mode="bilinear", align_corners=False)


class FinePreprocess(nn.Module):
    """FPN from the backbone's 1/2 and 1/4 maps and the transformed 1/8 map to a 64-ch full-res map."""

    def __init__(self) -> None:
        super().__init__()
        self.layer3_outconv = _conv1x1(D_MODEL, D_MODEL)
        self.layer2_outconv = _conv1x1(128, D_MODEL)
        self.layer2_outconv2 = _outconv2(D_MODEL, 128)
        self.layer1_outconv = _conv1x1(64, 128)
        self.layer1_outconv2 = _outconv2(128, FINE_DIM)

    def fuse(self) -> None:
        """Fold the BatchNorms into the preceding convs (eval-mode equivalent), in place."""
        for seq in (self.layer2_outconv2, self.layer1_outconv2):
            seq[0] = _fold_bn(seq[0], seq[1])
            seq[1] = nn.Identity()

    def forward(self, coarse: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Full-resolution features ``[N, 64, H, W]`` in the conv weights' dtype: :meth:`half_resolution`
        bilinearly up-sampled ×2."""
        return _up2(self.half_resolution(coarse, x2, x1))

    def half_resolution(self, coarse: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """The FPN up to its last up-sampling: ``[N, 64, H/2, W/2]`` in the conv weights' dtype.

        Args:
            coarse: transformed coarse map ``[N, 256, H/8, W/8]`` (float32, not yet divided by 16).
            x2, x1: backbone maps ``[N, 128, H/4, W/4]``, ``[N, 64, H/2, W/2]``.
        """
        dtype = self.layer3_outconv.weight.dtype
        c = _up2(self.layer3_outconv((coarse / coarse.shape[1] ** 0.5).to(dtype)))
        x2 = _up2(self.layer2_outconv2(self.layer2_outconv(x2.to(dtype)) + c))
        return self.layer1_outconv2(self.layer1_outconv(x1.to(dtype)) + x2)


def windows0(fine: torch.Tensor) -> torch.Tensor:
    """Image-0 windows ``[N, L, 64, C]`` of ``fine`` ``[N, C, H, W]``; ``L = (H/8)(W/8)`` row-major cells."""
    n, c, h, w = fine.shape
    blocks = fine.reshape(n, c, h // STRIDE, WINDOW, w // STRIDE, WINDOW)
    return blocks.permute(0, 2, 4, 3, 5, 1).reshape(n, -1, WINDOW * WINDOW, c)


def select_windows0(fine: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Image-0 windows ``[N, K, 64, C]`` of the given cells (int64 ``[N, K]``) of ``fine`` ``[N, C, H, W]``."""
    all_windows = windows0(fine)
    n, cell_count = all_windows.shape[:2]
    offset = torch.arange(n, device=fine.device)[:, None] * cell_count
    picked = all_windows.flatten(0, 1).index_select(0, (cells + offset).reshape(-1))
    return picked.reshape(n, cells.shape[1], *all_windows.shape[2:])


def window1_index(cells: torch.Tensor, height: int | torch.Tensor, width: int | torch.Tensor) -> torch.Tensor:
    """int64 ``[N, M, 100]``: flat indices into the 1-padded ``(H+2) × (W+2)`` map of each image-1 window.

    Args:
        cells: int64 ``[N, M]`` image-1 cell indices (row-major on the ``H/8 × W/8`` grid).
        height, width: full-resolution size ``H, W`` (traced sizes while exporting).
    """
    side = WINDOW + 2
    offsets = torch.arange(side, device=cells.device)
    cy, cx = cells // (width // STRIDE), cells % (width // STRIDE)
    rows = cy[..., None, None] * STRIDE + offsets[:, None]
    cols = cx[..., None, None] * STRIDE + offsets[None, :]
    return (rows * (width + 2) + cols).flatten(-2)


def windows1(fine: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Image-1 windows of the given cells.

    Args:
        fine: ``[N, C, H, W]`` image-1 features.
        cells: int64 ``[N, M]`` image-1 cell indices.

    Returns:
        ``[N, M, 100, C]``.
    """
    n, c, h, w = fine.shape
    padded = F.pad(fine, [1, 1, 1, 1]).flatten(2).transpose(1, 2).reshape(-1, c)
    offset = torch.arange(n, device=fine.device)[:, None, None] * ((h + 2) * (w + 2))
    flat = (window1_index(cells, h, w) + offset).reshape(-1)
    return padded.index_select(0, flat).reshape(n, cells.shape[1], (WINDOW + 2) ** 2, c)
