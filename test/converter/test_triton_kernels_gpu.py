"""The fast path's Triton kernels against the PyTorch forms they replace: RoMa's window dot products
(``fast/correlation_triton.py``) against the chunked form, which CI holds against ``grid_sample``
(``test_fast_path.py``); ELoFTR's coarse row top-k (``fast/topk_triton.py``) against ``torch.topk``.

Runs on a CUDA GPU (``bench/roma_speed_gpu.sh`` runs it before timing): the models' real shapes, eager,
compiled and inside a CUDA graph. Without a GPU it runs the small shapes on Triton's interpreter when
``TRITON_INTERPRET=1`` is set (a CPU check while writing a kernel); skipped otherwise (CI's CPU-only
PyTorch has no Triton).
"""

from __future__ import annotations

import os

import pytest
import torch

from ma_trt_convert.eloftr import build_export_module as build_eloftr
from ma_trt_convert.eloftr.coarse_matching import dual_softmax, masked_topk
from ma_trt_convert.fast import build_fast_runner, triton_support
from ma_trt_convert.fast.correlation import chunked_window_dots, gathered_local_correlation
from ma_trt_convert.fast.correlation_triton import triton_window_dots
from ma_trt_convert.fast.refiner import TritonCorrelationRefiner
from ma_trt_convert.fast.topk_triton import triton_row_topk
from ma_trt_convert.roma import build_export_module as build_roma
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

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


@pytest.mark.skipif(not ON_GPU, reason="the kernel is a default on CUDA only")
def test_roma_fast_runner_takes_the_kernel_by_default_on_cuda(roma_release_files) -> None:
    module = build_roma(*roma_release_files, coarse_res=112, upsample_res=168)
    default = build_fast_runner(module, device="cuda", precision="fp16", cuda_graph=False)
    assert all(isinstance(r, TritonCorrelationRefiner) for r in default.module.matcher.refiners.values())
    chosen = build_fast_runner(module, device="cuda", precision="fp16", cuda_graph=False, correlation="gathered")
    assert not any(isinstance(r, TritonCorrelationRefiner) for r in chosen.module.matcher.refiners.values())


# (rows L, columns S): small; then ELoFTR 640×480's 4800 coarse cells
TOPK_SMALL = [(30, 48), (70, 90)]
TOPK_ELOFTR = [(4800, 4800)]
K = 9


def _confidence(rows: int, columns: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A dual-softmax confidence like ELoFTR's (a few sharp peaks per row) and a border mask of image 1."""
    gen = torch.Generator().manual_seed(rows + columns)
    scores = torch.randn(1, rows, columns, generator=gen) * 4
    interior = torch.ones(columns)
    interior[: columns // 10] = 0  # border columns: zero confidence
    return dual_softmax(scores).to(DEVICE), interior.to(DEVICE)


@pytest.mark.parametrize("shape", TOPK_SMALL + (TOPK_ELOFTR if ON_GPU else []))
def test_row_topk_kernel_gives_torch_topk(shape: tuple[int, int]) -> None:
    conf, interior = _confidence(*shape)
    scores, columns = triton_row_topk(conf, interior, K)
    expected_scores, expected_columns = masked_topk(conf, interior, K)
    assert torch.equal(scores, expected_scores)  # the same values, largest first
    distinct = expected_scores > 0  # ties (the border zeros) may name other columns
    assert distinct.sum() > 0.9 * distinct.numel()
    assert torch.equal(columns[distinct], expected_columns[distinct])


@pytest.mark.skipif(not ON_GPU, reason="Inductor and CUDA graphs need the GPU")
def test_row_topk_kernel_compiles_and_replays_in_a_cuda_graph() -> None:
    conf, interior = _confidence(*TOPK_ELOFTR[0])
    compiled = torch.compile(lambda c, m: triton_row_topk(c * 1.0, m, K), fullgraph=True, dynamic=False)
    expected = masked_topk(conf, interior, K)
    assert torch.equal(compiled(conf, interior)[0], expected[0])
    static = conf.clone()
    compiled(static, interior)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = compiled(static, interior)
    static.copy_(conf.flip(-1))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out[0], masked_topk(conf.flip(-1), interior, K)[0])


def test_eloftr_with_the_topk_kernel_keeps_every_valid_match(tmp_path) -> None:
    """The whole fast ELoFTR runner with ``triton_topk``: the valid rows (matches, keypoints, cells) are those
    of ``torch.topk``'s; rows below the threshold may name other cells of equal (zero) confidence."""
    images = textured_pair(224, 320)
    layout = load_layout("matchanything_eloftr")
    write_release_file(matching_state(random_state_dict(layout, 0), *images), layout, tmp_path / "eloftr.ckpt")
    module = build_eloftr(tmp_path / "eloftr.ckpt", height=224, width=320)
    runners = (build_fast_runner(module, device=DEVICE, precision="fp32", triton_topk=on) for on in (False, True))
    expected, ours = (dict(zip(module.output_names, runner(*images), strict=True)) for runner in runners)
    valid = expected["valid"][0]
    assert torch.equal(ours["valid"], expected["valid"]) and int(valid.sum()) > 20
    for name in ("keypoints0", "keypoints1", "cells"):
        assert torch.equal(ours[name][0][valid], expected[name][0][valid]), name
