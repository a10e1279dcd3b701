"""The Triton window-dot kernel of RoMa's local correlation (``fast/correlation_triton.py``) against its
chunked fallback, which CI holds against ``grid_sample`` (``test_fast_path.py``).

Runs on a CUDA GPU (``bench/roma_speed_gpu.sh`` runs it before timing): RoMa's shapes at 560/864, fp32 and
fp16, eager, compiled and inside a CUDA graph. Without a GPU it runs the small shapes on Triton's interpreter
when ``TRITON_INTERPRET=1`` is set (a CPU check while writing the kernel); skipped otherwise (CI's CPU-only
PyTorch has no Triton).
"""

from __future__ import annotations

import os

import pytest
import torch

from ma_trt_convert.fast import triton_support
from ma_trt_convert.fast.correlation import chunked_window_dots, gathered_local_correlation
from ma_trt_convert.fast.correlation_triton import triton_window_dots

ON_GPU = torch.cuda.is_available() and triton_support.AVAILABLE
INTERPRETED = triton_support.AVAILABLE and os.environ.get("TRITON_INTERPRET") == "1"
pytestmark = pytest.mark.skipif(not (ON_GPU or INTERPRETED), reason="needs Triton on a CUDA GPU, or TRITON_INTERPRET=1")
DEVICE = "cuda" if ON_GPU else "cpu"
# (batch, channels, h, w, radius): small; then RoMa 560/864's scale 16 (pass 1), 8 and 4 (pass 2)
SMALL = [(2, 32, 12, 10, 3), (1, 40, 6, 7, 7)]
ROMA = [(2, 512, 35, 35, 7), (2, 512, 108, 108, 3), (2, 256, 216, 216, 2)]


def _case(batch: int, channels: int, h: int, w: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(channels + h)
    f0 = torch.randn(batch, channels, h, w, generator=gen).to(DEVICE, dtype)
    f1 = torch.randn(batch, channels, h, w, generator=gen).to(DEVICE, dtype)
    flow = (torch.rand(batch, 2, h, w, generator=gen) * 2.4 - 1.2).to(DEVICE)  # some windows partly outside
    return f0, f1, flow


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", SMALL + (ROMA if ON_GPU else []))
def test_kernel_gives_the_chunked_correlation(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    batch, channels, h, w, radius = shape
    f0, f1, flow = _case(batch, channels, h, w, dtype)
    assert triton_support.kernel_runs_on(f0.device)
    ours = gathered_local_correlation(f0, f1, flow, radius, window_dots=triton_window_dots)
    expected = gathered_local_correlation(f0, f1, flow, radius, window_dots=chunked_window_dots)
    assert ours.dtype == expected.dtype == dtype and ours.shape == expected.shape
    scale = expected.float().abs().max().item()
    # fp32: the same products summed in another order; fp16: also one rounding of the result apart
    tolerance = 1e-6 * scale if dtype == torch.float32 else 2**-10 * scale
    assert (ours.float() - expected.float()).abs().max().item() <= tolerance


@pytest.mark.skipif(not ON_GPU, reason="Inductor and CUDA graphs need the GPU")
def test_kernel_compiles_and_replays_in_a_cuda_graph() -> None:
    batch, channels, h, w, radius = ROMA[1]
    f0, f1, flow = _case(batch, channels, h, w, torch.float16)
    expected = gathered_local_correlation(f0, f1, flow, radius, window_dots=triton_window_dots)

    def correlate(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return gathered_local_correlation(a, b, c, radius, window_dots=triton_window_dots)

    compiled = torch.compile(correlate, fullgraph=True, dynamic=False)
    # Inductor fuses the index arithmetic and the bilinear blend around the kernel: one fp16 rounding apart
    scale = expected.float().abs().max().item()
    assert (compiled(f0, f1, flow).float() - expected.float()).abs().max().item() <= 2**-10 * scale
    static = [t.clone() for t in (f0, f1, flow)]
    compiled(*static)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = compiled(*static)
    static[2].copy_(flow.flip(-1))  # new inputs, same buffers: the replay must read them
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out, compiled(f0, f1, flow.flip(-1)))
