"""Pre-norm transformer block shared by the DINOv2 encoder and the coordinate decoder.

Both stacks store the same sub-module names (``norm1``, ``attn.qkv``, ``attn.proj``, ``ls1.gamma``,
``norm2``, ``mlp.fc1``, ``mlp.fc2``, ``ls2.gamma``), so one implementation serves the released
``dinov2_vitl14_pretrain.pth`` keys and the ``decoder.embedding_decoder.blocks.N`` keys.

Precision is explicit, never autocast: every Linear casts its input to its own weight dtype (fp16
weights make an fp16 matmul), LayerNorm and softmax always compute in fp32 (fp16 sums overflow) and
hand their result on in the dtype of the next Linear. The residual stream keeps the dtype it
arrives in: fp16 in DINOv2 (the reference converts the whole ViT to fp16), fp32 in the coordinate
decoder (the reference's autocast adds fp16 branch outputs to an fp32 stream).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.roma.precision import layer_norm_fp32, linear


class LayerScale(nn.Module):
    """Per-channel scale ``gamma`` (DINOv2's LayerScale); key ``gamma`` [dim]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.to(x.dtype)


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with exact (erf) GELU, hidden width ``4·dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(self.fc2, F.gelu(linear(self.fc1, x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens ``[B, N, dim]``; softmax in fp32.

    The logits are formed from ``q·scale`` (scale ``head_dim**-0.5``) so that fp16 products stay small.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, dim]`` -> ``[B, N, dim]`` in the ``proj`` weight dtype."""
        B, N, C = x.shape
        qkv = linear(self.qkv, x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = self.attend(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(B, N, C)
        return linear(self.proj, out)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``softmax(q·scale·kᵀ)·v`` per head, ``[B, heads, N, head_dim]`` each, softmax in fp32."""
        logits = torch.matmul(q * self.scale, k.transpose(-2, -1))
        weights = torch.softmax(logits.float(), dim=-1).to(v.dtype)
        return torch.matmul(weights, v)


class TransformerBlock(nn.Module):
    """``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))`` on tokens ``[B, N, dim]``.

    Args:
        dim: token width.
        num_heads: attention heads.
        qkv_bias: whether ``attn.qkv`` has a bias (DINOv2 yes, coordinate decoder no).
        layer_scale: whether ``ls1``/``ls2`` exist (DINOv2 yes, coordinate decoder no).
        eps: LayerNorm epsilon (DINOv2 1e-6, coordinate decoder 1e-5).
    """

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool, layer_scale: bool, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = SelfAttention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim)
        self.ls1: nn.Module = LayerScale(dim) if layer_scale else nn.Identity()
        self.ls2: nn.Module = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm(self.norm1, x))).to(x.dtype)
        return x + self.ls2(self.mlp(self.norm(self.norm2, x))).to(x.dtype)

    def norm(self, layer: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        """``layer(x)`` with fp32 statistics (:func:`~ma_trt_convert.roma.precision.layer_norm_fp32`)."""
        return layer_norm_fp32(layer, x)
