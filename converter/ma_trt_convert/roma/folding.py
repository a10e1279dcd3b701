"""BatchNorm folding for the RoMa port: every eval-mode BatchNorm merged into the convolution before it.

RoMa's BatchNorms all follow a biased convolution directly (VGG19-BN, the 1×1 projections, the depthwise
5×5 conv of every refiner block), so ``bn(conv(x)) = conv'(x)`` with

    s = γ / √(running_var + ε),   W' = W · s (per output channel),   b' = (b − running_mean) · s + β.

The folded weights are computed in fp32 (or float64 where the parameters are float64) and written
back in the convolution's dtype; the BatchNorm is replaced by ``nn.Identity`` so the module tree keeps
its indices. Exact in real arithmetic; in fp32 the outputs move by rounding only (relative ~1e-7).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def fold_into_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """Make ``conv`` compute ``norm(conv(x))`` (eval mode); ``conv`` must have a bias. In place."""
    if conv.bias is None:
        raise ValueError("fold_into_conv needs a convolution with a bias")
    dtype = torch.promote_types(conv.weight.dtype, torch.float32)
    scale = norm.weight.to(dtype) / (norm.running_var.to(dtype) + norm.eps).sqrt()
    weight = conv.weight.to(dtype) * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = (conv.bias.to(dtype) - norm.running_mean.to(dtype)) * scale + norm.bias.to(dtype)
    conv.weight.copy_(weight)
    conv.bias.copy_(bias)


def fold_sequence(layers: nn.Sequential | nn.ModuleList) -> int:
    """Fold every ``Conv2d`` directly followed by a ``BatchNorm2d`` in ``layers``; returns how many were folded."""
    folded = 0
    for index in range(1, len(layers)):
        conv, norm = layers[index - 1], layers[index]
        if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
            fold_into_conv(conv, norm)
            layers[index] = nn.Identity()
            folded += 1
    return folded


def fold_batch_norms(matcher: nn.Module) -> int:
    """Fold all BatchNorms of a RomaNetwork (eval mode); returns how many (62)."""
    folded = fold_sequence(matcher.vgg.layers)
    for projection in matcher.proj.values():
        folded += fold_sequence(projection)
    for refiner in matcher.refiners.values():
        folded += fold_sequence(refiner.block1)
        for block in refiner.hidden_blocks:
            folded += fold_sequence(block)
    return folded
