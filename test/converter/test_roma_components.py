"""Unit checks of RoMa port components that need no release files: GP solvers, pos-embed baking, anchors,
local correlation, and the torchvision stand-in used by the oracle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ma_trt_convert.roma.coordinate_decoder import anchor_table
from ma_trt_convert.roma.dinov2 import interpolate_pos_embed
from ma_trt_convert.roma.gp import (
    SIGMA_NOISE,
    cosine_kernel,
    solve_conjugate_gradient,
    solve_neumann,
    solve_newton_schulz,
    squaring_iterations,
)
from ma_trt_convert.roma.network import finish
from ma_trt_convert.roma.refiner import local_correlation
from ma_trt_convert.roma.vgg import VGG19BNFeatures

ORACLES = Path(__file__).resolve().parents[1] / "oracles"


def _system(kind: str, n: int = 256, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    if kind == "identical":
        y = torch.ones(batch, n, 64)
    else:
        y = torch.randn(batch, n, 64, generator=gen) + (3.0 if kind == "similar" else 0.0)
    mat = cosine_kernel(y, y) + SIGMA_NOISE * torch.eye(n)[None]
    rhs = torch.cos(8 * torch.pi * torch.rand(batch, n, 32, generator=gen))
    return mat, rhs


# Relative error bound per solver. Neumann squaring multiplies fp32 rounding by up to ~2^15 (see the test
# below), so its error depends on the CPU's matrix kernels: on "similar" 1.2e-4 with MKL's AVX-512 path
# (2026-12-01), under 1e-4 on the AVX2 machine that first ran this test.
SOLVER_BOUNDS = {solve_newton_schulz: 1e-4, solve_neumann: 5e-4}


@pytest.mark.parametrize(
    ("solver", "kind"),
    [
        (solve_newton_schulz, "independent"),
        (solve_newton_schulz, "similar"),
        (solve_newton_schulz, "identical"),
        (solve_neumann, "independent"),
        (solve_neumann, "similar"),
    ],
)
def test_squaring_solvers_reach_fp64_solution(solver, kind: str) -> None:
    mat, rhs = _system(kind)
    exact = torch.linalg.solve(mat.double(), rhs.double())
    steps = squaring_iterations(mat.shape[-1])
    assert steps == 15
    scale = exact.abs().max().item()
    error = (solver(mat, rhs, steps).double() - exact).abs().max().item()
    bound = SOLVER_BOUNDS[solver]
    assert error <= bound * scale, f"{solver.__name__} on {kind}: {error:.2e} (scale {scale:.2e})"


def test_neumann_squaring_amplifies_rounding_when_ill_conditioned() -> None:
    """Why Newton–Schulz and not the cheaper Neumann product: squaring (I − cA) 15 times multiplies the
    fp32 rounding of its near-unit eigenvalues by ~2^15, Newton–Schulz corrects itself every step."""
    mat, rhs = _system("identical")
    exact = torch.linalg.solve(mat.double(), rhs.double())
    scale = exact.abs().max().item()
    neumann = (solve_neumann(mat, rhs, 15).double() - exact).abs().max().item()
    newton = (solve_newton_schulz(mat, rhs, 15).double() - exact).abs().max().item()
    assert neumann > 1e-3 * scale
    assert newton < neumann / 50  # measured: 2.2e-2 vs 2.3e-4 on a scale of 11


def test_newton_schulz_is_not_converged_with_too_few_steps() -> None:
    mat, rhs = _system("identical")
    exact = torch.linalg.solve(mat.double(), rhs.double())
    error = (solve_newton_schulz(mat, rhs, 8).double() - exact).abs().max().item()
    assert error > 1e-2 * exact.abs().max().item()


def test_conjugate_gradient_converges_and_handles_exact_convergence() -> None:
    mat, rhs = _system("similar")
    exact = torch.linalg.solve(mat.double(), rhs.double())
    error = (solve_conjugate_gradient(mat, rhs, 100).double() - exact).abs().max().item()
    assert error <= 1e-4 * exact.abs().max().item()
    identity = torch.eye(8)[None]
    solved = solve_conjugate_gradient(identity, torch.ones(1, 8, 3), 20)
    assert torch.equal(solved, torch.ones(1, 8, 3))  # converged after one step, no 0/0 afterwards


def test_pos_embed_baking_matches_dinov2_recipe() -> None:
    table = torch.randn(1, 1370, 1024, generator=torch.Generator().manual_seed(0))
    baked = interpolate_pos_embed(table, 16)
    assert baked.shape == (1, 257, 1024)
    assert torch.equal(baked[:, 0], table[:, 0])
    patches = table[:, 1:].reshape(1, 37, 37, 1024).permute(0, 3, 1, 2)
    expected = F.interpolate(patches, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic")
    assert torch.allclose(baked[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 256, 1024))
    assert torch.equal(interpolate_pos_embed(table, 37), table)


def test_anchor_table_is_row_major_centres() -> None:
    anchors = anchor_table()
    assert anchors.shape == (4096, 2)
    assert anchors[0].tolist() == pytest.approx([-1 + 1 / 64, -1 + 1 / 64])
    assert anchors[1].tolist() == pytest.approx([-1 + 3 / 64, -1 + 1 / 64])  # x varies fastest
    assert anchors[64].tolist() == pytest.approx([-1 + 1 / 64, -1 + 3 / 64])


def test_local_correlation_identity_flow_centre_is_feature_norm() -> None:
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(1, 16, 6, 6, generator=gen)
    axis = torch.linspace(-1 + 1 / 6, 1 - 1 / 6, 6)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    flow = torch.stack((gx, gy))[None]
    corr = local_correlation(f, f, flow, radius=1)
    assert corr.shape == (1, 9, 6, 6)
    assert torch.allclose(corr[:, 4], (f * f).sum(dim=1) / 4.0, atol=1e-5)  # centre offset, √16 = 4
    right = (f[..., :, :-1] * f[..., :, 1:]).sum(dim=1) / 4.0  # offset (+1, 0) in x
    assert torch.allclose(corr[:, 5, :, :-1], right, atol=1e-5)
    assert corr[:, 5, :, -1].abs().max() < 1e-4  # zero padding outside the image (up to coordinate rounding)


def test_torchvision_stand_in_matches_the_vgg_layout() -> None:
    """The oracle's stand-in builds torchvision's VGG19-BN features (as our VGG indexes them) and its
    transforms refuse to run; checked in a fresh interpreter with only the stand-in importable."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import torchvision, torchvision.models as tvm;"
        "from torchvision.transforms import Normalize; from torchvision.transforms.functional import InterpolationMode;"
        "assert torchvision.IS_STAND_IN; f = tvm.vgg19_bn(weights=None).features; print(len(f));"
        "print(','.join(f'{k}:{tuple(v.shape)}' for k, v in f[:40].state_dict().items()));"
        "n = Normalize(mean=[0.5], std=[0.5]);"
        "exec('try:\\n n(None)\\nexcept RuntimeError:\\n print(\"refused\")')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(ORACLES / "torchvision_stand_in")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0] == "53"
    ours = ",".join(f"{k}:{tuple(v.shape)}" for k, v in VGG19BNFeatures().layers.state_dict().items())
    assert out[1] == ours
    assert out[2] == "refused"


def test_finish_follows_upstream_final_steps() -> None:
    """Attenuation by negative scale-16 certainty only, sigmoid, zeroing outside [-1, 1], clamping;
    checked against a transcription of upstream's boolean-mask version on flows that leave the image."""
    gen = torch.Generator().manual_seed(0)
    flow = 1.3 * (2 * torch.rand(2, 2, 12, 12, generator=gen) - 1)
    certainty = torch.randn(2, 1, 12, 12, generator=gen)
    certainty_16 = torch.randn(2, 1, 3, 3, generator=gen)
    warp, probability = finish(flow, certainty, certainty_16)

    low = F.interpolate(certainty_16, size=(12, 12), mode="bilinear", align_corners=False)
    low = 0.5 * low * (low < 0)
    expected = (certainty - low).sigmoid()
    outside = (flow.permute(0, 2, 3, 1).abs() > 1).sum(dim=-1) > 0
    expected[outside[:, None]] = 0
    assert 0 < outside.float().mean() < 1
    assert torch.equal(probability, expected)
    assert torch.equal(warp, flow.clamp(-1, 1))


def test_oracle_loader_falls_back_to_the_stand_in_when_torchvision_is_broken() -> None:
    """Simulate the CPU-only install where ``import torchvision`` raises: the oracle helper must still
    import romatch, through the stand-in, and romatch's VGG must be the VGG19-BN trunk."""
    script = (
        "import sys, importlib.abc\n"
        "class Broken(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'torchvision' and not any('stand_in' in p for p in sys.path):\n"
        "            raise RuntimeError('operator torchvision::nms does not exist')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from oracles.roma_reference import import_romatch\n"
        "import_romatch()\n"
        "import torchvision\n"
        "from romatch.models.encoders import VGG19\n"
        "print(torchvision.IS_STAND_IN, len(VGG19(pretrained=False).layers))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(ORACLES.parent)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "40"]
