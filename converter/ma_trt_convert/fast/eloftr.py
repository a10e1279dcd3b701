"""ELoFTR fast path: fused attention, a cheaper coarse matching, and a forward pass fit for CUDA-graph capture.

ELoFTR at 640×480 is a few hundred small kernels (21 ms eager on an H200, launch-bound); replaying them
as one CUDA graph is the main lever. Rewrites on the module itself:

* every attention runs through ``scaled_dot_product_attention`` (the export module does so in fp32
  already; in fp16 it forms fp16 scores and an fp32 softmax, which the fused kernel does in one pass
  with fp32 accumulation of the scores);
* the requested precision is applied with the module's own :meth:`ELoFTRMatcher.set_precision`;
* with a match budget, the coarse matching of :class:`FastELoFTRMatcher`:

  - ``coarse_fp16`` (fp16 only, default on): the ``L × S`` coarse similarity as an fp16 matrix product
    (fp32 accumulation, fp16 result), as the reference's own fp16 autocast computes it; the dual
    softmax and everything after it stay float32. The export module forms it from float32 features in
    float32 (a 4800×4800×256 fp32 GEMM at 640×480, ~0.3 ms on an H200);
  - ``budget_sort`` (default on, exact): the budget's first TopK unsorted and its ordering TopK (of all
    ``K`` kept candidates) as one sort of integer keys; the same rows in the same order as
    :func:`~ma_trt_convert.eloftr.coarse_matching.budget_selection`;

* optionally convolution weights channels-last (``channels_last=True``). Off by default: measured on
  an H200 at 640×480 fp16 it was slower (7.26 ms against 6.92 ms per pair), its NHWC max-pool and
  bilinear-upsample kernels costing more than the layout conversions it saves.

RepVGG branches and the FPN BatchNorms are fused by the export build already.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ma_trt_convert.eloftr.coarse_matching import (
    TEMPERATURE,
    confidence_matrix,
    dual_softmax,
    interior_mask,
    top_candidates,
)
from ma_trt_convert.eloftr.coarse_transformer import AggregatedAttentionLayer
from ma_trt_convert.eloftr.fine_preprocess import select_windows0, windows1
from ma_trt_convert.eloftr.matcher import ELoFTRMatcher, MatchResult, _budget_rows, _Rows, _Windows
from ma_trt_convert.fast.retype import retype, retype_all


class SdpaAggregatedAttentionLayer(AggregatedAttentionLayer):
    """:class:`AggregatedAttentionLayer` whose attention is always the fused kernel."""

    def _attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
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


def _budget_rows_sorted(candidates: _Rows, budget: int) -> _Rows:
    """The export module's ``_budget_rows`` with :func:`budget_selection_sorted`."""
    kept = budget_selection_sorted(candidates.score, candidates.valid, budget)
    score, valid, cell0, cell1 = (torch.gather(t, 1, kept) for t in candidates)
    return _Rows(torch.where(valid, score, torch.zeros_like(score)), valid, cell0, cell1)


class FastELoFTRMatcher(ELoFTRMatcher):
    """:class:`ELoFTRMatcher` with the coarse matching of the module docstring (with a match budget only;
    without one, the export module's forward). Set ``coarse_fp16`` and ``budget_sort`` after :func:`retype`."""

    coarse_fp16 = False
    budget_sort = False

    def match(self, image0: torch.Tensor, image1: torch.Tensor) -> MatchResult:
        if self.max_matches is None:
            return super().match(image0, image1)
        n, k = image0.shape[0], self.top_k
        dtype = self.fine_preprocess.layer3_outconv.weight.dtype
        coarse, x2, x1 = self.backbone(torch.cat([image0, image1], dim=0).to(dtype))
        feat0, feat1 = self.loftr_coarse(*coarse.chunk(2))
        interior = interior_mask(feat0.shape[2], feat0.shape[3], device=feat0.device)
        flat0, flat1 = feat0.flatten(2).transpose(1, 2), feat1.flatten(2).transpose(1, 2)
        fp16 = self.coarse_fp16 and dtype == torch.float16
        conf = (confidence_fp16 if fp16 else confidence_matrix)(flat0, flat1)
        score, cell1, valid = (t.flatten(1) for t in top_candidates(conf, interior, interior, k, self.threshold))
        num_valid = valid.float().sum(dim=1).to(torch.int32)
        cell0 = (torch.arange(score.shape[1], device=score.device) // k).expand(n, -1)
        rows = _budget_rows_sorted if self.budget_sort else _budget_rows
        rows = rows(_Rows(score, valid, cell0, cell1), self.max_matches)
        fine0, fine1 = self.fine_preprocess(torch.cat([feat0, feat1], dim=0), x2, x1).chunk(2)
        windows = _Windows(select_windows0(fine0, rows.cell0).unsqueeze(2), windows1(fine1, rows.cell1).unsqueeze(2))
        keypoints0, keypoints1 = self._refine(windows, rows.cell0, rows.cell1, feat0.shape[3])
        return MatchResult(keypoints0, keypoints1, rows.score, rows.valid, num_valid, rows.cell0, rows.cell1)


def prepare(
    module: ELoFTRMatcher,
    precision: str,
    *,
    channels_last: bool = False,
    coarse_fp16: bool = True,
    budget_sort: bool = True,
) -> ELoFTRMatcher:
    """Rewrite a private copy of an ELoFTR export module in place for speed; returns it.

    Raises:
        ValueError: ``precision`` is fp32 but the module's weights are fp16.
    """
    module.set_precision(precision)
    retype_all(module, AggregatedAttentionLayer, SdpaAggregatedAttentionLayer)
    if type(module) is ELoFTRMatcher:
        retype(module, FastELoFTRMatcher)
        module.coarse_fp16, module.budget_sort = coarse_fp16, budget_sort
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return module
