"""ELoFTR fast path: fused attention and a forward pass fit for CUDA-graph capture.

ELoFTR at 640×480 is a few hundred small kernels (21 ms eager on an H200, launch-bound); replaying them
as one CUDA graph is the main lever. Rewrites on the module itself:

* every attention runs through ``scaled_dot_product_attention`` (the export module does so in fp32
  already; in fp16 it forms fp16 scores and an fp32 softmax, which the fused kernel does in one pass
  with fp32 accumulation of the scores);
* the requested precision is applied with the module's own :meth:`ELoFTRMatcher.set_precision`;
* optionally convolution weights channels-last (``channels_last=True``). Off by default: measured on
  an H200 at 640×480 fp16 it was slower (7.26 ms against 6.92 ms per pair), its NHWC max-pool and
  bilinear-upsample kernels costing more than the layout conversions it saves.

RepVGG branches and the FPN BatchNorms are fused by the export build already.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ma_trt_convert.eloftr.coarse_transformer import AggregatedAttentionLayer
from ma_trt_convert.eloftr.matcher import ELoFTRMatcher
from ma_trt_convert.fast.retype import retype_all


class SdpaAggregatedAttentionLayer(AggregatedAttentionLayer):
    """:class:`AggregatedAttentionLayer` whose attention is always the fused kernel."""

    def _attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Multi-head attention on token maps ``[N, h', w', C]`` (any float dtype); returns ``[N, h'·w', C]``."""
        n, _, _, c = q.shape
        head = c // self.nhead
        q, k, v = (t.reshape(n, -1, self.nhead, head).transpose(1, 2) for t in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, -1, c)


def prepare(module: ELoFTRMatcher, precision: str, *, channels_last: bool = False) -> ELoFTRMatcher:
    """Rewrite a private copy of an ELoFTR export module in place for speed; returns it.

    Raises:
        ValueError: ``precision`` is fp32 but the module's weights are fp16.
    """
    module.set_precision(precision)
    retype_all(module, AggregatedAttentionLayer, SdpaAggregatedAttentionLayer)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return module
