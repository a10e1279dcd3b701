"""ELoFTR fast path: fused attention, a cheaper coarse matching, and a forward pass fit for CUDA-graph capture.

ELoFTR at 640×480 is a few hundred small kernels (21 ms eager on an H200, launch-bound); replaying them
as one CUDA graph is the main lever. Rewrites on the module itself:

* every attention runs through ``scaled_dot_product_attention`` (the export module does so in fp32
  already; in fp16 it forms fp16 scores and an fp32 softmax, which the fused kernel does in one pass
  with fp32 accumulation of the scores);
* the requested precision is applied with the module's own :meth:`ELoFTRExportModule.set_precision`;
* with a match budget, the coarse matching of :class:`FastELoFTRExportModule`:

  - ``coarse_fp16`` (fp16 only, default off): the ``L × S`` coarse similarity as an fp16 matrix product
    (fp32 accumulation, fp16 result), as the reference's own fp16 autocast computes it; the dual
    softmax and everything after it stay float32. The export module forms it from float32 features in
    float32 (a 4800×4800×256 fp32 GEMM at 640×480, ~0.3 ms on an H200). Off since the fidelity gate on
    the trained weights (H100, 2026-12-07, a budget above the match count): with it the fp16 match set
    leaves the reference's by Jaccard 0.9964 against the reference fp16's own 0.9980 (fail); without it
    0.9996 (pass), for 0.2 ms more uncompiled (docs/benchmarks.md);
  - ``budget_sort`` (default on, exact): the budget's first TopK unsorted and its ordering TopK (of all
    ``K`` kept candidates) as one sort of integer keys; the same rows in the same order as
    :func:`~ma_trt_convert.eloftr.coarse_matching.budget_selection`;
  - ``triton_topk`` (default off, needs Triton): each row's ``k`` best candidates by one Triton kernel
    (:mod:`.topk_triton`) instead of ``torch.topk``'s radix select;

* optionally convolution weights channels-last (``channels_last=True``). Off by default: measured on
  an H200 at 640×480 fp16 it was slower (7.26 ms against 6.92 ms per pair), its NHWC max-pool and
  bilinear-upsample kernels costing more than the layout conversions it saves.

RepVGG branches and the FPN BatchNorms are fused by the export build already.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ma_trt_convert.eloftr.coarse_matching import TEMPERATURE, dual_softmax
from ma_trt_convert.eloftr.coarse_transformer import AggregatedAttentionLayer
from ma_trt_convert.eloftr.export_module import ELoFTRExportModule
from ma_trt_convert.fast import triton_support
from ma_trt_convert.fast.fine_windows import windows_from_half
from ma_trt_convert.fast.retype import retype, retype_all
from ma_trt_convert.fast.topk_triton import triton_row_topk


class SdpaAggregatedAttentionLayer(AggregatedAttentionLayer):
    """:class:`AggregatedAttentionLayer` whose attention is always the fused kernel."""

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Multi-head attention on token maps ``[N, h', w', C]`` (any float dtype); returns ``[N, h'·w', C]``."""
        n, _, _, c = q.shape
        head = c // self.nhead
        q, k, v = (t.reshape(n, -1, self.nhead, head).transpose(1, 2) for t in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, -1, c)


def confidence_fp16(feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
    """Dual-softmax confidence ``[N, L, S]`` float32 of features ``[N, L, C]``, ``[N, S, C]`` (any float dtype),
    the similarity formed in float16 (fp32 accumulation, fp16 result) and the softmaxes in float32."""
    scale = feat0.shape[-1] ** 0.5
    low0, low1 = ((f / scale).half() for f in (feat0, feat1))
    return dual_softmax(torch.matmul(low0, low1.transpose(1, 2)).float() / TEMPERATURE)


def budget_selection_sorted(score: torch.Tensor, valid: torch.Tensor, budget: int) -> torch.Tensor:
    """:func:`~ma_trt_convert.eloftr.coarse_matching.budget_selection` with one TopK (unsorted) and one sort.

    The kept set is the TopK's; its order (valid first, each group by increasing candidate index) is
    that of the integer keys ``index + M·rejected``, which are distinct, so sorting them and taking
    them modulo ``M`` gives the ordered indices directly.
    """
    m = score.shape[1]
    _, kept = torch.topk(torch.where(valid, score, score - 2.0), budget, dim=1, sorted=False)
    rejected = torch.gather(valid, 1, kept).logical_not()
    return torch.sort(kept + rejected.long() * m, dim=1).values % m


class FastELoFTRExportModule(ELoFTRExportModule):
    """:class:`ELoFTRExportModule` with the coarse matching of the module docstring (with a match budget only;
    without one, the export module's). Set ``coarse_fp16``, ``budget_sort``, ``half_resolution_windows`` and
    ``fine_fp32`` after :func:`retype`."""

    coarse_fp16 = False
    budget_sort = False
    half_resolution_windows = False
    fine_fp32 = False
    triton_topk = False

    def row_topk(self, conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.triton_topk:
            return triton_row_topk(conf, interior1, k)
        return super().row_topk(conf, interior1, k)

    def confidence(self, feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
        if self.coarse_fp16 and self.precision == "fp16" and self.max_matches is not None:
            return confidence_fp16(feat0, feat1)
        return super().confidence(feat0, feat1)

    def _windows_from_half(self) -> bool:
        return self.half_resolution_windows and self.max_matches is not None

    def fine_features(self, coarse: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        if not self._windows_from_half():
            return super().fine_features(coarse, x2, x1)
        return self.fine_preprocess.half_resolution(coarse, x2, x1)

    def budget_windows(
        self, fine: torch.Tensor, cell0: torch.Tensor, cell1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._windows_from_half():
            half0, half1 = fine.chunk(2)
            dtype = torch.float32 if self.fine_fp32 else None
            return windows_from_half(half0, cell0, 0, dtype), windows_from_half(half1, cell1, 1, dtype)
        w0, w1 = super().budget_windows(fine, cell0, cell1)
        return (w0.float(), w1.float()) if self.fine_fp32 else (w0, w1)

    def select_budget(self, score: torch.Tensor, valid: torch.Tensor, budget: int) -> torch.Tensor:
        if self.budget_sort:
            return budget_selection_sorted(score, valid, budget)
        return super().select_budget(score, valid, budget)


def prepare(
    module: ELoFTRExportModule,
    precision: str,
    *,
    channels_last: bool = False,
    coarse_fp16: bool = False,
    budget_sort: bool = True,
    half_resolution_windows: bool = False,
    fine_fp32: bool = False,
    triton_topk: bool = False,
) -> ELoFTRExportModule:
    """Rewrite a private copy of an ELoFTR export module in place for speed; returns it.

    Two rewrites of the fine stage, off here by default (measured on an H100, docs/benchmarks.md):
    ``half_resolution_windows`` (with a match budget), the fine windows blended straight from
    the half-resolution map (:mod:`.fine_windows`), no full-resolution map at all (16 % faster compiled,
    slower uncompiled: :func:`~ma_trt_convert.fast.runner.build_fast_runner` turns it on for compiled
    runs, :data:`~ma_trt_convert.fast.variants.COMPILED_OPTIONS`). ``fine_fp32`` (with a match budget; off
    here, on for compiled runs by the same table): the fine windows handed to the fine matching in float32,
    so that its stage-1 similarity is an fp32 product (in fp16 it is an fp16 one, whose rounding the compiled
    graph's fused kernels shift past the gate's allowance on the trained weights; with it the compiled fp16
    path passes, for 0.06 ms at the default budget on an H100, docs/benchmarks.md).

    ``triton_topk``: the coarse rows' top-k by one Triton kernel (:mod:`.topk_triton`; same candidates above
    the threshold; off by default: it saved nothing compiled, 0.34 ms uncompiled on an H100; needs Triton).

    Raises:
        ValueError: ``precision`` is fp32 but the module's weights are fp16; ``triton_topk`` without Triton.
    """
    if triton_topk:
        triton_support.require("triton_topk")
    module.set_precision(precision)
    retype_all(module, AggregatedAttentionLayer, SdpaAggregatedAttentionLayer)
    if type(module) is ELoFTRExportModule:
        retype(module, FastELoFTRExportModule)
        module.coarse_fp16, module.budget_sort = coarse_fp16, budget_sort
        module.half_resolution_windows, module.fine_fp32 = half_resolution_windows, fine_fp32
        module.triton_topk = triton_topk
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return module
