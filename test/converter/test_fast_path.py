"""The torch fast path (``ma_trt_convert.fast``) and the exact rewrites it relies on, on CPU.

The GPU form of the fidelity gate (fast path vs the upstream references, fp32 and fp16) is
``bench/fast_path.py``; here the fast path in fp32 is held against the export module in fp32, which the
parity tests hold against the references.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed

from ma_trt_convert.eloftr import build_export_module as build_eloftr
from ma_trt_convert.eloftr.coarse_matching import budget_selection, confidence_matrix
from ma_trt_convert.eloftr.fine_preprocess import select_windows0, windows1
from ma_trt_convert.fast import build_fast_runner, triton_support
from ma_trt_convert.fast.correlation import gathered_local_correlation
from ma_trt_convert.fast.correlation_triton import triton_window_dots
from ma_trt_convert.fast.eloftr import (
    FastELoFTRExportModule,
    budget_selection_sorted,
    confidence_fp16,
)
from ma_trt_convert.fast.fine_windows import windows_from_half
from ma_trt_convert.fast.refiner import PaddedRefiner, pad_refiner_channels, refiner_class
from ma_trt_convert.fast.retype import retype
from ma_trt_convert.fast.roma import CholeskyGaussianProcess
from ma_trt_convert.fast.runner import caused_by_out_of_memory
from ma_trt_convert.fast.variants import triton_options_for
from ma_trt_convert.roma import build_export_module as build_roma
from ma_trt_convert.roma.folding import fold_into_conv, fold_sequence
from ma_trt_convert.roma.gp import solve_dense
from ma_trt_convert.roma.refiner import ConvRefiner, local_correlation
from ma_trt_convert.roma.sampling import EXAMPLE_MATCHES, SparseSampling, with_device_sampling
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file
from ma_trt_ros.contract.roma import SAMPLED_OUTPUTS

ROMA_COARSE, ROMA_UPSAMPLE = 112, 168
ELOFTR_HEIGHT, ELOFTR_WIDTH = 224, 320


def _whole_window_correlation(f0: torch.Tensor, f1: torch.Tensor, flow: torch.Tensor, radius: int) -> torch.Tensor:
    """The former single-``grid_sample`` form of :func:`local_correlation` (the whole window at once)."""
    B, C, h, w = f0.shape
    k = 2 * radius + 1
    oy = torch.linspace(-2 * radius / h, 2 * radius / h, k)
    ox = torch.linspace(-2 * radius / w, 2 * radius / w, k)
    gy, gx = torch.meshgrid(oy, ox, indexing="ij")
    window = torch.stack((gx, gy), dim=-1).reshape(1, 1, 1, k * k, 2)
    coords = (flow.permute(0, 2, 3, 1)[:, :, :, None] + window).reshape(B, h, w * k * k, 2)
    sampled = F.grid_sample(f1, coords, mode="bilinear", padding_mode="zeros", align_corners=False)
    corr = ((f0 / C**0.5)[..., None] * sampled.reshape(B, C, h, w, k * k)).sum(dim=1)
    return corr.permute(0, 3, 1, 2)


@pytest.mark.parametrize(("batch", "channels", "h", "w", "radius"), [(2, 32, 12, 10, 3), (1, 64, 20, 20, 7)])
def test_row_wise_local_correlation_equals_the_whole_window_form(batch, channels, h, w, radius) -> None:
    gen = torch.Generator().manual_seed(h * w + radius)
    f0 = torch.randn(batch, channels, h, w, generator=gen)
    f1 = torch.randn(batch, channels, h, w, generator=gen)
    flow = torch.rand(batch, 2, h, w, generator=gen) * 2.2 - 1.1  # some targets outside the image
    ours = local_correlation(f0, f1, flow, radius)
    reference = _whole_window_correlation(f0, f1, flow, radius)
    assert ours.shape == (batch, (2 * radius + 1) ** 2, h, w)
    assert (ours - reference).abs().max().item() <= 1e-6 * reference.abs().max().item()


@pytest.mark.parametrize(("batch", "channels", "h", "w", "radius"), [(2, 32, 12, 10, 3), (2, 64, 40, 36, 2)])
def test_gathered_local_correlation_equals_the_sampled_form(batch, channels, h, w, radius) -> None:
    gen = torch.Generator().manual_seed(h + w + radius)
    f0 = torch.randn(batch, channels, h, w, generator=gen)
    f1 = torch.randn(batch, channels, h, w, generator=gen)
    flow = torch.rand(batch, 2, h, w, generator=gen) * 2.4 - 1.2  # some windows partly outside the image
    reference = local_correlation(f0, f1, flow, radius)
    scale = reference.abs().max().item()
    # measured: 2.1e-5 on a scale of 3.3 (bilinear weights rounded per offset by grid_sample, once here)
    assert (gathered_local_correlation(f0, f1, flow, radius) - reference).abs().max().item() <= 2e-5 * scale
    half = gathered_local_correlation(f0.half(), f1.half(), flow, radius)
    assert half.dtype == torch.float16
    assert (
        half.float() - local_correlation(f0.half(), f1.half(), flow, radius).float()
    ).abs().max().item() <= 1e-3 * scale


def test_padded_refiner_blocks_equal_the_exported_blocks() -> None:
    torch.manual_seed(11)
    refiner = ConvRefiner(2 * 5 + 4 + 9, 2 * 5 + 4 + 9, 4, 1).eval()  # 23 channels: padded to 24
    with torch.no_grad():
        for module in refiner.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    fold_sequence(refiner.block1)
    for block in refiner.hidden_blocks:
        fold_sequence(block)
    x, y = torch.randn(2, 5, 6, 7), torch.randn(2, 5, 6, 7)
    flow = torch.rand(2, 2, 6, 7) * 2 - 1
    with torch.no_grad():
        expected = refiner(x, y, flow, 1.0)
        padded = copy.deepcopy(refiner)
        retype(padded, PaddedRefiner)
        assert pad_refiner_channels(padded) == 24
        ours = padded(x, y, flow, 1.0)
    for a, b in zip(ours, expected, strict=True):
        assert (a - b).abs().max().item() <= 1e-5 * b.abs().max().item()


@pytest.mark.skipif(triton_support.AVAILABLE, reason="Triton is installed here")
def test_triton_kernels_are_refused_without_triton(roma_fp32, eloftr_case) -> None:
    with pytest.raises(ValueError, match='correlation="triton" needs Triton'):
        build_fast_runner(roma_fp32, device="cpu", precision="fp32", correlation="triton")
    with pytest.raises(ValueError, match="triton_topk needs Triton"):
        build_fast_runner(eloftr_case[0], device="cpu", precision="fp32", triton_topk=True)


def test_triton_kernels_are_on_by_default_only_on_cuda_with_triton(roma_fp32, eloftr_case, monkeypatch) -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    sampled = with_device_sampling(roma_fp32)
    monkeypatch.setattr(triton_support, "AVAILABLE", True)
    assert triton_options_for(roma_fp32, cuda) == {"correlation": "triton"}
    assert triton_options_for(sampled, cuda) == {"correlation": "triton"}
    assert triton_options_for(roma_fp32, cpu) == {}
    assert triton_options_for(eloftr_case[0], cuda) == {}  # its top-k kernel saved nothing compiled
    monkeypatch.setattr(triton_support, "AVAILABLE", False)
    assert triton_options_for(roma_fp32, cuda) == {}


def test_out_of_memory_is_recognised_through_compiler_wrappers() -> None:
    """An allocation refused under the warm-up's memory cap while Inductor compiles reaches the runner wrapped
    in Dynamo's ``BackendCompilerFailed``; the runner then captures without the cap."""
    refused = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.60 GiB")
    assert caused_by_out_of_memory(refused)
    assert caused_by_out_of_memory(BackendCompilerFailed(lambda: None, refused, None))
    try:
        try:
            raise refused
        except torch.OutOfMemoryError as exc:
            raise RuntimeError("lowering failed") from exc
    except RuntimeError as chained:
        assert caused_by_out_of_memory(chained)
    assert not caused_by_out_of_memory(BackendCompilerFailed(lambda: None, ValueError("bad shape"), None))
    assert not caused_by_out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))


def test_triton_refiner_correlation_falls_back_to_the_chunked_form_off_cuda() -> None:
    """Off CUDA (CI) the Triton refiner's dot products are the chunked ones; the kernel itself is held against
    them on the GPU (``test_triton_kernels_gpu.py``)."""
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(2, 16, 9, 8, generator=gen), torch.randn(2, 16, 9, 8, generator=gen)
    flow = torch.rand(2, 2, 9, 8, generator=gen) * 2.2 - 1.1
    refiner = refiner_class("triton", "padded")
    assert issubclass(refiner, PaddedRefiner) and refiner.correlation is not ConvRefiner.correlation
    expected = local_correlation(x, y, flow, 2)
    ours = gathered_local_correlation(x, y, flow, 2, window_dots=triton_window_dots)
    assert (ours - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()


def test_folded_conv_equals_conv_then_eval_batch_norm() -> None:
    gen = torch.Generator().manual_seed(3)
    conv = nn.Conv2d(6, 8, 3, padding=1).double()
    norm = nn.BatchNorm2d(8).double().eval()
    with torch.no_grad():
        for tensor in (norm.weight, norm.bias, norm.running_mean):
            tensor.copy_(torch.randn(8, generator=gen, dtype=torch.float64))
        norm.running_var.copy_(torch.rand(8, generator=gen, dtype=torch.float64) + 0.1)
    x = torch.randn(2, 6, 9, 7, generator=gen, dtype=torch.float64)
    expected = norm(conv(x))
    layers = nn.Sequential(conv, norm)
    assert fold_sequence(layers) == 1
    assert isinstance(layers[1], nn.Identity)
    assert (layers(x) - expected).abs().max().item() < 1e-12


def test_fold_into_conv_needs_a_bias() -> None:
    with pytest.raises(ValueError, match="bias"):
        fold_into_conv(nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2))


def test_cholesky_gp_solve_matches_the_dense_solve() -> None:
    gen = torch.Generator().manual_seed(5)
    feats = torch.randn(2, 64, 16, generator=gen)
    feats = feats / feats.norm(dim=-1, keepdim=True)
    mat = torch.exp((feats @ feats.mT - 1) / 0.2) + 0.1 * torch.eye(64)
    rhs = torch.randn(2, 64, 32, generator=gen)
    gp = CholeskyGaussianProcess("dense", 0)
    exact = solve_dense(mat.double(), rhs.double())
    error = (gp.solve(mat, rhs).double() - exact).abs().max().item()
    assert error <= 1e-5 * exact.abs().max().item()


def test_retype_only_accepts_subclasses() -> None:
    with pytest.raises(TypeError, match="not a subclass"):
        retype(nn.Linear(2, 2), CholeskyGaussianProcess)


def test_unknown_module_has_no_fast_path() -> None:
    with pytest.raises(KeyError, match="no fast path for Linear"):
        build_fast_runner(nn.Linear(2, 2), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def roma_fp32(roma_release_files) -> nn.Module:
    return build_roma(*roma_release_files, coarse_res=ROMA_COARSE, upsample_res=ROMA_UPSAMPLE)


def test_roma_fp16_conversion_equals_an_fp16_build(roma_release_files, roma_fp32) -> None:
    converted = copy.deepcopy(roma_fp32)
    converted.set_precision("fp16")
    built = build_roma(*roma_release_files, coarse_res=ROMA_COARSE, upsample_res=ROMA_UPSAMPLE, precision="fp16")
    ours, theirs = converted.state_dict(), built.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]) for k in ours)
    assert torch.equal(converted.matcher.dinov2.pos_embed_baked, built.matcher.dinov2.pos_embed_baked)
    with pytest.raises(ValueError, match="cannot become fp32"):
        built.set_precision("fp32")


def test_roma_fast_runner_fp32_matches_the_export_module(roma_fp32) -> None:
    runner = build_fast_runner(roma_fp32, device="cpu", precision="fp32")
    assert runner.input_names == roma_fp32.input_names and runner.output_names == roma_fp32.output_names
    inputs = roma_fp32.example_inputs(1)
    with torch.no_grad():
        expected = roma_fp32(*inputs)
    outputs = runner(*inputs)
    assert [o.shape for o in outputs] == [e.shape for e in expected]
    # documented fp16-vs-fp32 deviation of the export module at 112/168 on CPU: warp 1.3e-5, certainty 9.4e-5
    for name, ours, ref in zip(runner.output_names, outputs, expected, strict=True):
        tolerance = 1e-5 if name.startswith("warp") else 5e-5
        assert (ours - ref).abs().max().item() <= tolerance, name


def test_roma_camera_input_fast_runner_matches_its_module(roma_release_files) -> None:
    camera = build_roma(
        *roma_release_files, coarse_res=ROMA_COARSE, upsample_res=ROMA_UPSAMPLE, camera_sizes="32x32:256x256"
    )
    runner = build_fast_runner(camera, device="cpu", precision="fp32")
    assert runner.input_names == ("image0", "image1")
    inputs = camera.example_inputs(1)
    assert inputs[0].shape != inputs[1].shape  # each camera its own size
    with torch.no_grad():
        expected = camera(*inputs)
    for name, ours, ref in zip(runner.output_names, runner(*inputs), expected, strict=True):
        tolerance = 1e-5 if name.startswith("warp") else 5e-5
        assert (ours - ref).abs().max().item() <= tolerance, name


def test_roma_sampled_fast_runner_draws_from_its_own_dense_outputs(roma_fp32) -> None:
    """The torch backend's RoMa: the fast path rewrites the inner module; the draw after it stays the runtime's."""
    sampled = with_device_sampling(roma_fp32)
    runner = build_fast_runner(sampled, device="cpu", precision="fp32")
    assert runner.output_names == (*roma_fp32.output_names, *SAMPLED_OUTPUTS)
    inputs = sampled.example_inputs(1)
    outputs = runner(*inputs)
    with torch.no_grad():
        redrawn = SparseSampling()(*outputs[:4], *inputs[-3:])
    assert 0 < dict(zip(runner.output_names, outputs, strict=True))["match_count"].item() <= EXAMPLE_MATCHES
    assert all(torch.equal(ours, theirs) for ours, theirs in zip(outputs[4:], redrawn, strict=True))


def test_roma_compiles_its_regions_and_identical_blocks_share_a_graph(roma_fp32, monkeypatch) -> None:
    """Regional compilation (RoMa's default): each refiner, transformer block, VGG and the GP compiled on its
    own, the rest eager; the 24 DINOv2 blocks are traced once. Dynamo only (eager backend), no Inductor:
    the outputs are those of the uncompiled runner."""
    from torch._dynamo.testing import CompileCounter

    counter = CompileCounter()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **_: real_compile(model, backend=counter, dynamic=False))
    torch._dynamo.reset()
    runner = build_fast_runner(roma_fp32, device="cpu", precision="fp32", compile="default")
    m = runner.module.matcher
    compiled = [sub for sub in runner.module.modules() if getattr(sub, "_compiled_call_impl", None) is not None]
    # 5 refiners, 24 DINOv2 + 5 decoder blocks, VGG, GP; nothing inside them, nothing around them
    assert runner.compiled_regions == len(compiled) == 5 + 24 + 5 + 1 + 1
    assert m.vgg in compiled and m.gp in compiled and m.dinov2 not in compiled and runner.module not in compiled
    inputs = roma_fp32.example_inputs(1)
    outputs = runner(*inputs)
    graphs = counter.frame_count
    # one graph per distinct region and input shape (refiners and VGG per pass; the DINOv2 block once for
    # its 24 instances, the decoder block once for its 5): 14 graphs for 36 compiled modules
    assert graphs == 14
    expected = build_fast_runner(roma_fp32, device="cpu", precision="fp32")(*inputs)
    for name, ours, ref in zip(runner.output_names, outputs, expected, strict=True):
        assert (ours - ref).abs().max().item() <= 1e-6, name
    runner(*inputs)
    assert counter.frame_count == graphs  # the second call compiles nothing


def test_regional_compilation_needs_a_mode_and_a_variant_with_regions(roma_fp32, eloftr_case) -> None:
    with pytest.raises(ValueError, match="needs a compile mode"):
        build_fast_runner(roma_fp32, device="cpu", precision="fp32", regional=True)
    with pytest.raises(ValueError, match="has no compile regions"):
        build_fast_runner(eloftr_case[0], device="cpu", precision="fp32", compile="default", regional=True)


def test_fp32_refiners_keep_their_scales_in_fp32_in_an_fp16_runner(roma_fp32) -> None:
    runner = build_fast_runner(roma_fp32, device="cpu", precision="fp16", fp32_refiners=(1, 2))
    dtypes = {scale: r.block1[0].weight.dtype for scale, r in runner.module.matcher.refiners.items()}
    half, full = torch.float16, torch.float32
    assert dtypes == {"16": half, "8": half, "4": half, "2": full, "1": full}
    with pytest.raises(ValueError, match=r"no refiner at scale \['3'\]"):
        build_fast_runner(roma_fp32, device="cpu", precision="fp16", fp32_refiners=(3,))


@pytest.fixture(scope="module")
def eloftr_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    images = textured_pair(ELOFTR_HEIGHT, ELOFTR_WIDTH)
    layout = load_layout("matchanything_eloftr")
    path = tmp_path_factory.mktemp("eloftr_fast") / "matchanything_eloftr.ckpt"
    write_release_file(matching_state(random_state_dict(layout, 0), *images), layout, path)
    return build_eloftr(path, height=ELOFTR_HEIGHT, width=ELOFTR_WIDTH), images


def test_eloftr_fast_runner_fp32_matches_the_export_module(eloftr_case) -> None:
    module, images = eloftr_case
    runner = build_fast_runner(module, device="cpu", precision="fp32")
    assert runner.output_names == module.output_names
    with torch.no_grad():
        expected = module(*images)
    outputs = runner(*images)
    keypoints0, keypoints1, confidence, valid, num_valid, cells = outputs
    assert int(num_valid[0]) >= 50  # the synthetic pair gives real matches to compare
    assert torch.equal(valid, expected[3]) and torch.equal(num_valid, expected[4]) and torch.equal(cells, expected[5])
    assert (keypoints0 - expected[0]).abs().max().item() == 0.0
    assert (keypoints1 - expected[1]).abs().max().item() <= 1e-5
    assert (confidence - expected[2]).abs().max().item() <= 1e-6


@pytest.mark.parametrize("budget", [1, 37, 300])
def test_sorted_budget_selection_equals_the_exported_one(budget) -> None:
    gen = torch.Generator().manual_seed(budget)
    score = torch.rand(2, 300, generator=gen)
    valid = score > 0.7
    assert torch.equal(budget_selection_sorted(score, valid, budget), budget_selection(score, valid, budget))


def test_fp16_coarse_confidence_is_close_to_the_fp32_one() -> None:
    gen = torch.Generator().manual_seed(0)
    feat0, feat1 = (torch.randn(1, n, 256, generator=gen) * 4 for n in (48, 40))
    expected = confidence_matrix(feat0, feat1)
    ours = confidence_fp16(feat0, feat1)
    assert ours.dtype == torch.float32
    assert (ours - expected).abs().max().item() <= 1e-2  # fp16 rounding of logits up to ~60 (the formula: O(1))


def test_eloftr_fast_rewrites_only_apply_with_a_budget_and_coarse_fp16_only_in_fp16(eloftr_case) -> None:
    module, images = eloftr_case
    runner = build_fast_runner(module, device="cpu", precision="fp32", coarse_fp16=True)
    assert isinstance(runner.module, FastELoFTRExportModule)
    assert runner.module.coarse_fp16 and runner.module.budget_sort
    assert not build_fast_runner(module, device="cpu", precision="fp32").module.coarse_fp16  # off unless asked
    plain = build_fast_runner(module, device="cpu", precision="fp32", coarse_fp16=False, budget_sort=False)
    assert all(torch.equal(a, b) for a, b in zip(runner(*images), plain(*images), strict=True))


def test_eloftr_fast_runner_refuses_fp32_of_an_fp16_module(eloftr_case) -> None:
    module, _ = eloftr_case
    fp16 = copy.deepcopy(module).set_precision("fp16")
    with pytest.raises(ValueError, match="cannot become fp32"):
        build_fast_runner(fp16, device="cpu", precision="fp32")


def test_compile_option_compiles_the_prepared_module_once(eloftr_case, monkeypatch) -> None:
    """The plumbing only: a real Inductor compile of ELoFTR takes minutes on 2 CPU cores, so it is
    measured on the GPU (``bench/fast_path_compile.py``) and ``torch.compile`` is stood in for here."""
    module, images = eloftr_case
    calls = []

    def fake_compile(model: nn.Module, **kwargs: object) -> nn.Module:
        calls.append((model, kwargs))
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    runner = build_fast_runner(module, device="cpu", precision="fp32", compile="default")
    assert calls == [(runner.module, {"mode": "default", "dynamic": False})]
    assert runner.compile_mode == "default"
    assert torch.equal(runner(*images)[5], build_fast_runner(module, device="cpu", precision="fp32")(*images)[5])
    with pytest.raises(ValueError, match="compile must be"):
        build_fast_runner(module, device="cpu", precision="fp32", compile="reduce-overhead")
    with pytest.raises(ValueError, match="need a compile mode"):
        build_fast_runner(module, device="cpu", precision="fp32", inductor={"coordinate_descent_tuning": True})


def test_compiled_eloftr_is_traced_once_per_shape(eloftr_case, monkeypatch) -> None:
    """Traced before its RoPE tables are cached, the forward would be traced again on the second call
    (twice the compile time); the runner's eager first pass fills them. Dynamo only, no Inductor."""
    from torch._dynamo.testing import CompileCounter

    module, images = eloftr_case
    counter = CompileCounter()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **_: real_compile(model, backend=counter, dynamic=False))
    torch._dynamo.reset()
    runner = build_fast_runner(module, device="cpu", precision="fp32", compile="default")
    for _ in range(3):
        runner(*images)
    assert counter.frame_count == 1


def test_inductor_settings_are_in_force_while_the_compiled_forward_runs(eloftr_case, monkeypatch) -> None:
    import torch._inductor.config as inductor_config

    module, images = eloftr_case
    seen = []

    def fake_compile(model: nn.Module, **kwargs: object) -> nn.Module:
        def forward(*inputs: torch.Tensor) -> tuple:
            seen.append(inductor_config.coordinate_descent_tuning)
            return model(*inputs)

        return forward

    monkeypatch.setattr(torch, "compile", fake_compile)
    before = inductor_config.coordinate_descent_tuning
    runner = build_fast_runner(
        module, device="cpu", precision="fp32", compile="default", inductor={"coordinate_descent_tuning": not before}
    )
    runner(*images)
    assert seen == [not before] and inductor_config.coordinate_descent_tuning == before


@pytest.mark.parametrize("image", [0, 1])
def test_windows_from_the_half_resolution_map_equal_those_of_the_full_map(image: int) -> None:
    half = torch.randn(2, 5, 12, 16, generator=torch.Generator().manual_seed(image))  # 24×32 image, 3×4 cells
    full = F.interpolate(half, size=(24, 32), mode="bilinear", align_corners=False)
    cells = torch.stack([torch.arange(12), torch.arange(12).flip(0)])  # every cell, the border ones included
    expected = select_windows0(full, cells) if image == 0 else windows1(full, cells)
    ours = windows_from_half(half, cells, image)
    assert ours.shape == expected.shape == (2, 12, 64 if image == 0 else 100, 5)
    assert (ours - expected).abs().max().item() <= 1e-6


def test_compiled_eloftr_takes_half_resolution_windows_and_fp32_fine_matching_unless_told_otherwise(
    eloftr_case,
) -> None:
    module, _ = eloftr_case
    # on the CPU no CUDA graph is captured, so nothing is compiled before the first call
    plain = build_fast_runner(module, device="cpu", precision="fp16").module
    assert (plain.half_resolution_windows, plain.fine_fp32) == (False, False)
    compiled = build_fast_runner(module, device="cpu", precision="fp16", compile="default").module
    assert (compiled.half_resolution_windows, compiled.fine_fp32) == (True, True)
    kept_off = build_fast_runner(
        module, device="cpu", precision="fp16", compile="default", half_resolution_windows=False, fine_fp32=False
    ).module
    assert (kept_off.half_resolution_windows, kept_off.fine_fp32) == (False, False)


def test_half_resolution_windows_give_the_matches_of_the_full_map(eloftr_case) -> None:
    module, images = eloftr_case
    runner = build_fast_runner(module, device="cpu", precision="fp32", half_resolution_windows=True)
    assert runner.module.half_resolution_windows
    ours, plain = runner(*images), build_fast_runner(module, device="cpu", precision="fp32")(*images)
    assert int(plain[4][0]) >= 50 and all(torch.equal(ours[i], plain[i]) for i in (3, 4, 5))
    assert (ours[0] - plain[0]).abs().max().item() == 0.0
    assert (ours[1] - plain[1]).abs().max().item() <= 1e-4 and (ours[2] - plain[2]).abs().max().item() <= 1e-6


@pytest.mark.parametrize("half_resolution_windows", [False, True])
def test_fine_fp32_hands_float32_windows_to_the_fine_matching(eloftr_case, half_resolution_windows: bool) -> None:
    module, images = eloftr_case
    options = {"device": "cpu", "precision": "fp32", "half_resolution_windows": half_resolution_windows}
    runner = build_fast_runner(module, **options, fine_fp32=True)
    fast = runner.module
    assert fast.fine_fp32
    # an fp32 module: the same outputs as without the switch
    plain = build_fast_runner(module, **options)
    assert all(torch.equal(a, b) for a, b in zip(runner(*images), plain(*images), strict=True))
    # fp16 features: the windows come back float32, with the fp16 windows' values (or the unrounded blend)
    size = (8, 12) if half_resolution_windows else (16, 24)  # a grid of 2 x 3 cells of 8 px
    fine = torch.randn(2, 8, *size).half()
    cells = torch.tensor([[1, 4]])
    w0, w1 = fast.budget_windows(fine, cells, cells)
    assert (w0.dtype, w1.dtype) == (torch.float32, torch.float32)
    fast.fine_fp32 = False
    r0, r1 = fast.budget_windows(fine, cells, cells)
    assert (r0.dtype, r1.dtype) == (torch.float16, torch.float16)
    assert (w0 - r0.float()).abs().max() <= 1e-2 and (w1 - r1.float()).abs().max() <= 1e-2
