"""RoMa fast path: fused attention and LayerNorm, a direct GP solve, channels-last convolutions.

Rewrites applied to a private copy of a :class:`~ma_trt_convert.roma.export_module.RomaExportModule`
(BatchNorms are folded into the convolutions by the export build already):

* attention in DINOv2 and the coordinate decoder through ``scaled_dot_product_attention`` (one fused
  kernel instead of fp16 scores, an fp32 softmax over ``[2B, heads, N, N]`` and two casts);
* LayerNorm as one fused kernel when the residual stream has the norm's dtype (DINOv2 in fp16: the
  kernel keeps fp32 statistics, as the export module's explicit fp32 LayerNorm does);
* the GP system ``(K_yy + σI)·W = f`` solved by Cholesky factorisation and two triangular solves, in
  fp32, as the reference does (romatch), instead of the export graph's 15 Newton–Schulz steps
  (``gp="export"`` keeps the export module's solver);
* the local correlation of the refiners from dot products gathered at whole-pixel positions
  (:mod:`.correlation`; ``correlation="triton"`` takes the dot products from one Triton kernel,
  :mod:`.correlation_triton`; ``correlation="export"`` keeps the row-wise ``grid_sample`` form);
* refiner blocks on channel counts padded to a multiple of 8, channels-last, with the 1×1
  convolutions as GEMMs with fused bias (:mod:`.refiner`; ``blocks="export"`` keeps them as exported);
* VGG and DINOv2 convolution weights in channels-last layout, which fp16 tensor-core convolutions use
  natively (``channels_last=False`` keeps NCHW). The refiners stay NCHW: their channel counts (1377,
  1137, 569) are not multiples of 8, and cuDNN pads every channels-last activation to one (measured on
  an H200: the whole pair 12 ms slower with channels-last refiners).

``fp32_refiners`` (fp16 runners; for the fidelity gate's search of what fp16 moves): the refiners of the
given scales keep fp32 weights and run their blocks in fp32 on fp32 inputs (their features arrive in fp16
and are widened), against the reference's autocast, which runs them in fp16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.fast import triton_support
from ma_trt_convert.fast.refiner import pad_refiner_channels, refiner_class
from ma_trt_convert.fast.retype import retype_all
from ma_trt_convert.roma.camera_input import RomaCameraExportModule
from ma_trt_convert.roma.export_module import RomaExportModule
from ma_trt_convert.roma.folding import fold_batch_norms
from ma_trt_convert.roma.gp import GaussianProcess
from ma_trt_convert.roma.refiner import ConvRefiner
from ma_trt_convert.roma.transformer import SelfAttention, TransformerBlock

GP_CHOICES = ("cholesky", "export")
CORRELATION_CHOICES = ("gathered", "triton", "export")
BLOCK_CHOICES = ("padded", "export")


class SdpaSelfAttention(SelfAttention):
    """:class:`SelfAttention` through the fused kernel (scale ``head_dim**-0.5``, as the original)."""

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


class FusedNormTransformerBlock(TransformerBlock):
    """:class:`TransformerBlock` whose LayerNorms skip the fp32 round trip when the dtypes allow."""

    def norm(self, layer: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        """Fused when ``x`` has the norm's dtype, else the explicit fp32 form."""
        if x.dtype == layer.weight.dtype:
            return F.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)
        return super().norm(layer, x)


def solve_by_cholesky(mat: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``mat^{-1}·rhs`` for SPD ``mat`` ``[B, N, N]`` and ``rhs`` ``[B, N, D]``, fp32: Cholesky factorisation
    (no host synchronisation: ``cholesky_ex`` does not check the factor) and two triangular solves."""
    chol, _ = torch.linalg.cholesky_ex(mat)
    half = torch.linalg.solve_triangular(chol, rhs, upper=False)
    return torch.linalg.solve_triangular(chol.mT, half, upper=True)


class CholeskyGaussianProcess(GaussianProcess):
    """:class:`GaussianProcess` solved by Cholesky factorisation (fp32, no host synchronisation)."""

    def solve(self, mat: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """``mat^{-1}·rhs`` by :func:`solve_by_cholesky`."""
        return solve_by_cholesky(mat, rhs)


def prepare(
    module: RomaExportModule,
    precision: str,
    *,
    gp: str = "cholesky",
    correlation: str = "gathered",
    blocks: str = "padded",
    channels_last: bool = True,
    fp32_refiners: tuple[int, ...] = (),
) -> RomaExportModule:
    """Rewrite a private copy of a RoMa export module in place for speed; returns it.

    Args:
        module: the copy (modified).
        precision: ``"fp32"`` or ``"fp16"`` (see :meth:`RomaExportModule.set_precision`).
        gp: ``"cholesky"`` (direct solve) or ``"export"`` (the export module's iterative solver).
        correlation: ``"gathered"`` (:mod:`.correlation`), ``"triton"`` (its dot products by one Triton
            kernel; needs Triton, which CUDA builds of PyTorch bring; what ``build_fast_runner`` asks for on
            CUDA, :data:`.variants.TRITON_OPTIONS`) or ``"export"`` (row-wise ``grid_sample``).
        blocks: ``"padded"`` (:mod:`.refiner`) or ``"export"`` (the export module's NCHW blocks).
        channels_last: store VGG and DINOv2 convolution weights channels-last.
        fp32_refiners: scales (of 16, 8, 4, 2, 1) whose refiners stay fp32 in an fp16 runner.
    """
    if gp not in GP_CHOICES:
        raise ValueError(f"gp must be one of {GP_CHOICES}, got {gp!r}")
    if correlation not in CORRELATION_CHOICES:
        raise ValueError(f"correlation must be one of {CORRELATION_CHOICES}, got {correlation!r}")
    if correlation == "triton":
        triton_support.require('correlation="triton"', instead='"gathered"')
    if blocks not in BLOCK_CHOICES:
        raise ValueError(f"blocks must be one of {BLOCK_CHOICES}, got {blocks!r}")
    module.set_precision(precision)
    matcher = module.matcher
    unknown = {str(scale) for scale in fp32_refiners} - set(matcher.refiners)
    if unknown:
        raise ValueError(f"fp32_refiners: no refiner at scale {sorted(unknown)}; scales: {sorted(matcher.refiners)}")
    for scale in fp32_refiners:
        matcher.refiners[str(scale)].float()
    fold_batch_norms(matcher)
    retype_all(matcher, SelfAttention, SdpaSelfAttention)
    retype_all(matcher, TransformerBlock, FusedNormTransformerBlock)
    if gp == "cholesky":
        retype_all(matcher, GaussianProcess, CholeskyGaussianProcess)
    retype_all(matcher, ConvRefiner, refiner_class(correlation, blocks))
    if blocks == "padded":
        for refiner in matcher.refiners.values():
            pad_refiner_channels(refiner)
    if channels_last:
        matcher.vgg.to(memory_format=torch.channels_last)
        matcher.dinov2.to(memory_format=torch.channels_last)
    return module


def prepare_camera_input(module: RomaCameraExportModule, precision: str, **options: object) -> RomaCameraExportModule:
    """:func:`prepare` for the RoMa inside a camera-input module (the in-graph resize stays as it is); returns it."""
    prepare(module.roma, precision, **options)
    return module
