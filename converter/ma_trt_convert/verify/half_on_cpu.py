"""PyTorch's fp16 reference on the CPU at a usable speed.

``verify --precision fp16`` runs the fp16 module as the yardstick of fp16 rounding. On a CPU without
fp16 arithmetic (no AVX512-FP16: most x86 machines), PyTorch computes fp16 convolutions in its generic
fallback kernel (``_slow_conv2d_forward``), about 50 times slower than in fp32: one ELoFTR forward at
160×224 took 28 s instead of 1.7 s on a 2-core AVX2 machine, 98 % of it in convolutions.

:func:`half_convolutions_in_float` computes each fp16 convolution on the CPU as fp32 arithmetic on
the fp16 input, weight and bias, with the result rounded to fp16: fp16 values in and out, fp32
accumulation, which is what GPU fp16 convolutions (cuDNN, TensorRT) do. Measured against PyTorch's
own kernels on random layers: the fallback kernel (AVX2) one fp16 ulp apart on 0.01–0.5 % of the
elements, oneDNN's AVX512-FP16 kernel up to 7 ulps apart on 0.2 % (the order and rounding of the
sums). Other operations are untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class _HalfConvolutionsInFloat(TorchFunctionMode):
    """Routes CPU fp16 ``conv2d`` calls through fp32 arithmetic (see module docstring)."""

    def __torch_function__(
        self, func: Callable[..., Any], types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.conv2d and _is_cpu_half(args[0]):
            upcast = [a.float() if isinstance(a, torch.Tensor) else a for a in args]
            floats = {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
            return func(*upcast, **floats).half()
        return func(*args, **kwargs)


def _is_cpu_half(tensor: Any) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float16 and tensor.device.type == "cpu"


@contextlib.contextmanager
def half_convolutions_in_float() -> Iterator[None]:
    """Within the block, fp16 ``conv2d`` on the CPU is fp32 arithmetic rounded to fp16 (module docstring).

    Only for running a module; never while tracing an export (the graph would record the casts).
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        raise RuntimeError("half_convolutions_in_float() must not be used while tracing an export")
    with _HalfConvolutionsInFloat():
        yield
