"""A RoMa refiner block's depthwise convolution, bias and ReLU as one Triton kernel on channels-last maps.

In the padded channels-last refiner blocks (:mod:`.refiner`) each block starts with a ``k × k`` depthwise
convolution (BatchNorm folded into its weight and bias) and a ReLU. cuDNN runs the convolution as its own
kernel (run of 2026-12-07, H100, compiled by regions: 5.3 ms of a 560/864 pair's forward in
``sm90_xmma_depthwise_convolution_fprop``, ~98 µs a call) and the ReLU (with Inductor's copies around it)
as another pass over the map (~2.9 ms). Both are memory-bound: the kernel here reads each input tile once
per tap from the L1/L2-cached channels-last map, sums the ``k²`` taps in fp32, adds the bias, applies the
ReLU and writes the result once, in the input's dtype.

Same values as ``relu(conv2d(x, weight, bias, padding=k // 2, groups=C))`` up to the order of the fp32
sums (one rounding to the output dtype). Registered as the operator ``ma_trt::depthwise_relu``, opaque to
``torch.compile`` and captured by CUDA graphs like any kernel. Off CUDA (and without Triton)
:func:`triton_depthwise_relu` is the PyTorch form; on a CPU the kernel runs only under Triton's
interpreter (``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.fast.triton_support import AVAILABLE, kernel_runs_on, tl, triton

BLOCK_PIXELS = 32  # pixels (of one image row run, flattened over the batch) per program
BLOCK_CHANNELS = 64  # channels per program (the padded widths are multiples of 8)


if AVAILABLE:

    @triton.jit
    def _depthwise_relu_kernel(
        x,
        weight,
        bias,
        out,
        pixels,
        height,
        width,
        channels,
        kernel: tl.constexpr,
        block_p: tl.constexpr,
        block_c: tl.constexpr,
    ):
        """``out[p, c] = relu(bias[c] + Σ_taps x[p + tap, c] · weight[tap, c])`` on channels-last maps seen as
        ``[B·H·W, C]`` rows; taps outside the image read 0 (zero padding ``kernel // 2``)."""
        pixel = tl.program_id(0).to(tl.int64) * block_p + tl.arange(0, block_p)
        lanes = tl.program_id(1) * block_c + tl.arange(0, block_c)
        in_pixels = pixel < pixels
        in_channels = lanes < channels
        column = pixel % width
        row = (pixel // width) % height
        acc = tl.zeros([block_p, block_c], dtype=tl.float32)
        for tap in tl.static_range(kernel * kernel):
            dy = tap // kernel - kernel // 2
            dx = tap % kernel - kernel // 2
            inside = in_pixels & (row + dy >= 0) & (row + dy < height) & (column + dx >= 0) & (column + dx < width)
            source = pixel + dy * width + dx
            values = tl.load(
                x + source[:, None] * channels + lanes[None, :], mask=inside[:, None] & in_channels[None, :], other=0.0
            )
            taps = tl.load(weight + tap * channels + lanes, mask=in_channels, other=0.0)
            acc += values.to(tl.float32) * taps.to(tl.float32)[None, :]
        acc += tl.load(bias + lanes, mask=in_channels, other=0.0).to(tl.float32)[None, :]
        acc = tl.maximum(acc, 0.0)
        tl.store(
            out + pixel[:, None] * channels + lanes[None, :],
            acc.to(out.dtype.element_ty),
            mask=in_pixels[:, None] & in_channels[None, :],
        )

    @torch.library.custom_op("ma_trt::depthwise_relu", mutates_args=())
    def depthwise_relu_kernel(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The kernel on a channels-last ``x`` ``[B, C, H, W]``, ``taps`` ``[k², C]`` and ``bias`` ``[C]`` (``x``'s
        dtype); returns a channels-last ``[B, C, H, W]`` of ``x``'s dtype."""
        B, C, H, W = x.shape
        kernel = math.isqrt(taps.shape[0])
        x = x.contiguous(memory_format=torch.channels_last)
        out = torch.empty_like(x)
        grid = (triton.cdiv(B * H * W, BLOCK_PIXELS), triton.cdiv(C, BLOCK_CHANNELS))
        _depthwise_relu_kernel[grid](
            x, taps, bias, out, B * H * W, H, W, C, kernel=kernel, block_p=BLOCK_PIXELS, block_c=BLOCK_CHANNELS
        )
        return out

    @depthwise_relu_kernel.register_fake
    def _depthwise_relu_shape(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x, memory_format=torch.channels_last)


def fits_the_kernel(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` is a depthwise convolution the kernel computes: square odd kernel, stride 1, no
    dilation, zero padding of half the kernel, a bias."""
    k = conv.kernel_size[0]
    return (
        conv.groups == conv.in_channels == conv.out_channels
        and conv.kernel_size == (k, k)
        and k % 2 == 1
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.padding == (k // 2, k // 2)
        and conv.padding_mode == "zeros"
        and conv.bias is not None
    )


@torch.no_grad()
def attach_taps(conv: nn.Conv2d) -> None:
    """Give a depthwise ``conv`` (:func:`fits_the_kernel`) the buffer ``taps``: its weight as ``[k², C]`` rows
    (the layout the kernel reads), made once from the final weight (after padding and dtype changes).

    Raises:
        ValueError: ``conv`` is not a depthwise convolution the kernel computes.
    """
    if not fits_the_kernel(conv):
        raise ValueError(f"the depthwise kernel cannot compute {conv}")
    conv.register_buffer("taps", conv.weight.reshape(conv.out_channels, -1).t().contiguous(), persistent=False)


def triton_depthwise_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``relu(conv(x))`` for a ``conv`` given its taps (:func:`attach_taps`) and a channels-last ``x`` in the
    conv's dtype, by the kernel where it runs (:func:`kernel_runs_on`), else by PyTorch."""
    if not kernel_runs_on(x.device):
        return F.relu(conv(x))
    return depthwise_relu_kernel(x, conv.taps, conv.bias)
