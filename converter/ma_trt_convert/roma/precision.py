"""Explicit precision helpers: each layer runs in its parameters' dtype, normalisations in fp32.

The fp16 variant of the port is made of fp16 *parameters* plus the casts these helpers insert, never
of autocast, so that the traced ONNX graph is strongly typed (every Cast is explicit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply ``layer`` in its weight dtype (the input is cast to it)."""
    return layer(x.to(layer.weight.dtype))


def layer_norm_fp32(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm computed in fp32 whatever the dtypes of ``x`` and of the norm's parameters; returns fp32."""
    return F.layer_norm(x.float(), norm.normalized_shape, norm.weight.float(), norm.bias.float(), norm.eps)


def batch_norm_fp32(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm with fp32 parameters computed in fp32, returned in ``x``'s dtype.

    This is what cuDNN does for an fp16 activation under autocast (fp32 statistics, fp16 in and out).
    A norm already folded into the preceding convolution (``nn.Identity``, see :mod:`.folding`)
    returns ``x`` unchanged, with no cast.
    """
    if isinstance(norm, nn.Identity):
        return x
    return norm(x.float()).to(x.dtype)
