"""The fp16 reference's convolutions on the CPU (:mod:`ma_trt_convert.verify.half_on_cpu`): fp16 values in and
out with fp32 arithmetic, a few ulps from PyTorch's own fp16 kernels on a few elements, never inside an export trace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ma_trt_convert.verify.half_on_cpu import half_convolutions_in_float


def _layer(channels: int, groups: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, channels, 24, 20, generator=generator).half()
    weight = (0.1 * torch.randn(channels, channels // groups, 3, 3, generator=generator)).half()
    bias = torch.randn(channels, generator=generator).half()
    return x, weight, bias


@pytest.mark.parametrize(("channels", "groups"), [(32, 1), (32, 32)])
def test_fp16_convolution_is_fp32_arithmetic_rounded_to_fp16(channels: int, groups: int) -> None:
    x, weight, bias = _layer(channels, groups, seed=channels + groups)
    with half_convolutions_in_float():
        ours = F.conv2d(x, weight, bias, padding=1, groups=groups)
        module = torch.nn.Conv2d(channels, channels, 3, padding=1, groups=groups).half()
        module.weight.data, module.bias.data = weight, bias
        through_module = module(x)
    expected = F.conv2d(x.float(), weight.float(), bias.float(), padding=1, groups=groups).half()
    assert ours.dtype == through_module.dtype == torch.float16
    assert torch.equal(ours, expected) and torch.equal(through_module, expected)
    # PyTorch's own fp16 kernel (the fallback, or oneDNN's with AVX512-FP16) rounds its sums differently:
    # a few elements, a few ulps
    pytorch_fp16 = F.conv2d(x, weight, bias, padding=1, groups=groups).float()
    ulp = torch.nextafter(expected, torch.tensor(torch.inf, dtype=torch.float16)).float() - expected.float()
    ulps = (pytorch_fp16 - expected.float()).abs() / ulp
    assert float(ulps.max()) <= 8 and float((ulps > 0).float().mean()) <= 0.01


def test_other_dtypes_and_operations_are_untouched() -> None:
    x, weight, bias = _layer(8, 1, seed=3)
    with half_convolutions_in_float():
        float_result = F.conv2d(x.float(), weight.float(), bias.float())
        product = x @ x.transpose(-1, -2)
    assert torch.equal(float_result, F.conv2d(x.float(), weight.float(), bias.float()))
    assert torch.equal(product, x @ x.transpose(-1, -2))


def test_refused_inside_an_export_trace() -> None:
    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with half_convolutions_in_float():
                return x + 1

    with pytest.raises(RuntimeError, match="must not be used while tracing"):
        torch.jit.trace(Probe(), torch.zeros(1))
