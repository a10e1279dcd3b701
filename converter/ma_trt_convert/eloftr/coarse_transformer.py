"""Coarse transformer: 4 × (self, cross) aggregated-attention layers on the 1/8 feature maps.

One layer, for a target map ``x`` ``[N, 256, h, w]`` and a source map ``s`` (``s = x`` for self
layers, the other image for cross layers), with ``h, w`` multiples of 4:

1. queries from a depthwise 4×4 stride-4 conv of ``x``; keys/values from a 4×4 max-pool of ``s``;
   both LayerNorm'ed (``norm1``, shared) -> tokens on the 1/32 grid;
2. linear ``q/k/v`` projections (no bias); RoPE on ``q`` and ``k`` in self layers only;
3. 8-head softmax attention (head width 32, scale 1/√32), ``merge`` projection;
4. message bilinearly upsampled ×4 (``align_corners=False``) back to ``h × w``;
5. ``x + norm2(mlp(cat[x, message]))`` with ``mlp = Linear(512,512) → LeakyReLU(0.01) → Linear(512,256)``.

Self layers update both images with the same weights; a cross layer first updates image 0 from
image 1, then image 1 from the *updated* image 0 (as upstream).

Precision: the weights of convs/linears set the compute dtype of those ops (float16 in the fp16
module); LayerNorm, the attention softmax and the residual stream stay float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.eloftr.rope import TOKEN_STRIDE, apply_rope, rope_tables, traced_reference_size

D_MODEL = 256
N_HEADS = 8
AGG = 4
N_LAYER_PAIRS = 4


class AggregatedAttentionLayer(nn.Module):
    """One encoder layer; module names follow the released checkpoint."""

    def __init__(self, d_model: int = D_MODEL, nhead: int = N_HEADS) -> None:
        super().__init__()
        self.nhead = nhead
        self.aggregate = nn.Conv2d(d_model, d_model, AGG, stride=AGG, bias=False, groups=d_model)
        self.max_pool = nn.MaxPool2d(AGG, AGG)
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.merge = nn.Linear(d_model, d_model, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(2 * d_model, 2 * d_model, bias=False),
            nn.LeakyReLU(0.01),
            nn.Linear(2 * d_model, d_model, bias=False),
        )
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Multi-head attention on token maps ``[N, h', w', C]``; returns ``[N, h'·w', C]``.

        float32 inputs use ``scaled_dot_product_attention`` (bit-identical to upstream on CPU);
        float16 inputs compute the scores in float16 and the softmax in float32.
        """
        n, _, _, c = q.shape
        head = c // self.nhead
        q, k, v = (t.reshape(n, -1, self.nhead, head).transpose(1, 2) for t in (q, k, v))
        if q.dtype == torch.float32:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * head**-0.5
            out = torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v)
        return out.transpose(1, 2).reshape(n, -1, c)

    def forward(
        self, x: torch.Tensor, source: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        """Update ``x`` ``[N, C, h, w]`` (float32) from ``source`` ``[N, C, h, w]``; returns float32."""
        dtype = self.q_proj.weight.dtype
        n, c, h, w = x.shape
        x_low = x.to(dtype)
        query = self.norm1(self.aggregate(x_low).permute(0, 2, 3, 1).float()).to(dtype)
        kv = self.norm1(self.max_pool(source.to(dtype)).permute(0, 2, 3, 1).float()).to(dtype)
        query, key, value = self.q_proj(query), self.k_proj(kv), self.v_proj(kv)
        if rope is not None:
            query, key = apply_rope(query, *rope), apply_rope(key, *rope)
        message = self.merge(self.attend(query, key, value))
        message = message.reshape(n, h // AGG, w // AGG, c).permute(0, 3, 1, 2)
        message = F.interpolate(message, size=(h, w), mode="bilinear", align_corners=False)
        message = self.mlp(torch.cat([x_low, message], dim=1).permute(0, 2, 3, 1))
        return x + self.norm2(message.float()).permute(0, 3, 1, 2)


class CoarseTransformer(nn.Module):
    """The 8 layers (self, cross, …) with RoPE tables for the coarse grid of each input size.

    Args:
        rope_reference_size: upstream's NPE test resolution (pixels, see :mod:`.rope`); None: the long
            side of each input (``8 · max(h, w)``), which is what MatchAnything's demo sets for the
            size it resizes to.

    The tables are constants of the grid size: computed once per size on the CPU (as upstream does)
    and kept on the features' device in :attr:`rope_dtype`; while tracing for export they are
    computed in the graph instead, so a dynamic-size graph gets the tables of each input size.
    """

    def __init__(self, rope_reference_size: int | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(AggregatedAttentionLayer() for _ in range(2 * N_LAYER_PAIRS))
        self.rope_reference_size = rope_reference_size
        self.rope_dtype = torch.float32
        self._tables: dict[tuple[int, int, torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def set_rope_dtype(self, dtype: torch.dtype) -> None:
        """Use the (float16-valued) RoPE tables in ``dtype``, the dtype of the projections."""
        self.rope_dtype = dtype

    def rope(self, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)`` ``[1, h/4, w/4, 256]`` in :attr:`rope_dtype` for a ``h × w`` coarse map."""
        rows, cols = h // AGG, w // AGG
        if torch.jit.is_tracing():
            reference = self.rope_reference_size or traced_reference_size(rows, cols)
            return tuple(t.to(self.rope_dtype) for t in rope_tables(rows, cols, D_MODEL, reference, device))
        key = (rows, cols, device, self.rope_dtype)
        if key not in self._tables:
            reference = self.rope_reference_size or max(rows, cols) * TOKEN_STRIDE
            self._tables[key] = tuple(
                t.to(device, self.rope_dtype) for t in rope_tables(rows, cols, D_MODEL, reference)
            )
        return self._tables[key]

    def forward(self, feat0: torch.Tensor, feat1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform ``feat0``, ``feat1`` ``[N, 256, h, w]`` (any dtype); returns float32 maps of that shape."""
        feat0, feat1 = feat0.float(), feat1.float()
        rope = self.rope(feat0.shape[2], feat0.shape[3], feat0.device)
        for index, layer in enumerate(self.layers):
            if index % 2 == 0:
                both = torch.cat([feat0, feat1], dim=0)
                feat0, feat1 = layer(both, both, rope).chunk(2)
            else:
                feat0 = layer(feat0, feat1, None)
                feat1 = layer(feat1, feat0, None)
        return feat0, feat1
