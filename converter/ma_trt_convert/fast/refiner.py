"""RoMa refiner blocks on channel counts padded to a multiple of 8, channels-last, 1×1 convolutions as GEMMs.

The release refiners are 1377, 1137, 569, 144 and 24 channels wide. Tensor-core kernels want channel
counts that are multiples of 8: with these widths cuDNN and cuBLAS fall back to unaligned kernels
(``align1`` GEMMs, an NCHW 1×1 path, or per-call padding copies in NHWC), which cost most of the
refiners' 60 ms of a 560/864 pair on an H200. Padding is exact: the extra channels have zero depthwise
filters and zero bias (so they stay 0 through the ReLU) and zero rows and columns in every 1×1
convolution, so every real channel sees exactly the sums it saw before. The 1×1 convolutions run as
``F.linear`` on the channels-last activations, which adds the bias inside the GEMM instead of in a
separate pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.fast.correlation import gathered_local_correlation
from ma_trt_convert.fast.correlation_triton import triton_window_dots
from ma_trt_convert.roma.refiner import ConvRefiner

ALIGN = 8


def _pad(t: torch.Tensor, sizes: dict[int, int]) -> torch.Tensor:
    """``t`` zero-padded at the end of each dimension ``d`` to ``sizes[d]``."""
    out = t.new_zeros([sizes.get(d, n) for d, n in enumerate(t.shape)])
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


@torch.no_grad()
def pad_refiner_channels(refiner: ConvRefiner) -> int:
    """Pad the block width of ``refiner`` to a multiple of :data:`ALIGN` with zero channels, in place.

    Returns:
        The padded width. Block inputs must then carry that many channels (:class:`PaddedRefiner` appends
        zero channels to the concatenated input).
    """
    blocks = refiner.blocks()
    width = blocks[0].depthwise.in_channels
    padded = -(-width // ALIGN) * ALIGN
    for conv1, conv2 in ((block.depthwise, block.pointwise) for block in blocks):
        conv1.weight = nn.Parameter(_pad(conv1.weight, {0: padded}), requires_grad=False)
        conv1.bias = nn.Parameter(_pad(conv1.bias, {0: padded}), requires_grad=False)
        conv1.in_channels = conv1.out_channels = conv1.groups = padded
        conv2.weight = nn.Parameter(_pad(conv2.weight, {0: padded, 1: padded}), requires_grad=False)
        conv2.bias = nn.Parameter(_pad(conv2.bias, {0: padded}), requires_grad=False)
        conv2.in_channels = conv2.out_channels = padded
    out = refiner.out_conv
    out.weight = nn.Parameter(_pad(out.weight, {1: padded}), requires_grad=False)
    out.in_channels = padded
    return padded


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution of a channels-last ``[B, C, H, W]`` map as a GEMM with the bias fused; channels-last out."""
    return F.linear(x.permute(0, 2, 3, 1), conv.weight.flatten(1), conv.bias).permute(0, 3, 1, 2)


class PaddedRefiner(ConvRefiner):
    """:class:`ConvRefiner` whose blocks run channels-last on the padded width of :func:`pad_refiner_channels`."""

    def run_blocks(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, h, w = d.shape
        blocks = self.blocks()
        missing = blocks[0].depthwise.in_channels - C
        if missing:
            d = torch.cat((d, d.new_zeros(B, missing, h, w)), dim=1)
        d = d.contiguous(memory_format=torch.channels_last)
        for block in blocks:
            d = pointwise(block.pointwise, block.activation(block.depthwise(d)))
        out = pointwise(self.out_conv, d.float())
        return out[:, :-1], out[:, -1:]


class GatheredCorrelationRefiner(ConvRefiner):
    """:class:`ConvRefiner` whose local correlation is :func:`.correlation.gathered_local_correlation`."""

    def correlation(self, x: torch.Tensor, y: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
        return gathered_local_correlation(x, y, flow, radius)


class GatheredPaddedRefiner(GatheredCorrelationRefiner, PaddedRefiner):
    """Both rewrites: gathered correlation and padded channels-last blocks."""


class TritonCorrelationRefiner(ConvRefiner):
    """:class:`ConvRefiner` whose gathered correlation takes its dot products from one Triton kernel
    (:mod:`.correlation_triton`; the chunked form off CUDA)."""

    def correlation(self, x: torch.Tensor, y: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
        return gathered_local_correlation(x, y, flow, radius, window_dots=triton_window_dots)


class TritonPaddedRefiner(TritonCorrelationRefiner, PaddedRefiner):
    """The Triton correlation and padded channels-last blocks."""


def refiner_class(correlation: str, blocks: str) -> type[ConvRefiner]:
    """The refiner class for ``correlation`` (``"gathered"``/``"triton"``/``"export"``) and ``blocks``
    (``"padded"``/``"export"``)."""
    return {
        ("gathered", "padded"): GatheredPaddedRefiner,
        ("gathered", "export"): GatheredCorrelationRefiner,
        ("triton", "padded"): TritonPaddedRefiner,
        ("triton", "export"): TritonCorrelationRefiner,
        ("export", "padded"): PaddedRefiner,
        ("export", "export"): ConvRefiner,
    }[(correlation, blocks)]
