"""Accuracy and cost of the GP solvers at the release size (recorded in ``docs/gp_solve.md``).

``python bench/roma_gp_solvers.py --out gp_solve.json [--grid 40] [--device cpu]``

For each synthetic feature set the GP posterior mean ``mu = K_xy (K_yy + σI)^{-1} f`` is computed in
fp32 with every solver and compared with an fp64 Cholesky solve of the same fp32 matrices. The sets
span the conditioning a scene can produce: independent features (``K_yy ≈ I``), spatially smooth
features of growing correlation length (walls, sky: many near-equal rows), a few tight clusters, and
the worst case of identical features (``λ_max = N + σ``, condition number ``1 + N/σ``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "converter"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fast path's solver imports the shared contract

from ma_trt_convert.fast.roma import solve_by_cholesky
from ma_trt_convert.roma.gp import (
    GP_DIM,
    SIGMA_NOISE,
    cosine_kernel,
    solve_conjugate_gradient,
    solve_dense,
    solve_neumann,
    solve_newton_schulz,
    squaring_iterations,
)

FEATURE_DIM = 512


def _smooth_field(grid: int, length: float, gen: torch.Generator) -> torch.Tensor:
    """``[grid², 512]`` Gaussian random field blurred with a Gaussian of std ``length`` cells."""
    field = torch.randn(1, FEATURE_DIM, grid, grid, generator=gen)
    radius = max(1, math.ceil(3 * length))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / length) ** 2)
    taps = (taps / taps.sum()).reshape(1, 1, 1, -1).repeat(FEATURE_DIM, 1, 1, 1)
    field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="replicate"), taps, groups=FEATURE_DIM)
    field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode="replicate"), taps.transpose(2, 3), groups=FEATURE_DIM)
    return field.flatten(2).transpose(1, 2)[0]


def _clusters(grid: int, count: int, noise: float, gen: torch.Generator) -> torch.Tensor:
    centres = torch.randn(count, FEATURE_DIM, generator=gen)
    labels = torch.randint(count, (grid * grid,), generator=gen)
    return centres[labels] + noise * torch.randn(grid * grid, FEATURE_DIM, generator=gen)


def feature_sets(grid: int, batch: int, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Named ``(x, y)`` pairs of ``[batch, grid², 512]`` fp32 features (image 0, image 1)."""
    gen = torch.Generator().manual_seed(seed)
    makers: dict[str, Callable[[], torch.Tensor]] = {
        "independent": lambda: torch.randn(grid * grid, FEATURE_DIM, generator=gen),
        "smooth_3": lambda: _smooth_field(grid, 3.0, gen),
        "smooth_8": lambda: _smooth_field(grid, 8.0, gen),
        "clusters_5": lambda: _clusters(grid, 5, 0.1, gen),
        "identical": lambda: torch.ones(grid * grid, FEATURE_DIM),
    }
    sets = {}
    for name, make in makers.items():
        y = torch.stack([make() for _ in range(batch)])
        x = y + 0.1 * torch.randn(y.shape, generator=gen)
        sets[name] = (x, y)
    return sets


def position_basis(grid: int, batch: int, seed: int = 1) -> torch.Tensor:
    """``cos(8π·(W·p + b))`` on the grid, random 2→512 weights as in the synthetic checkpoint: ``[batch, N, 512]``."""
    gen = torch.Generator().manual_seed(seed)
    axis = torch.linspace(-1 + 1 / grid, 1 - 1 / grid, grid)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    coords = torch.stack((gx, gy), dim=-1).reshape(-1, 2)
    weight = torch.randn(2, GP_DIM, generator=gen) / math.sqrt(2)
    bias = 0.02 * torch.randn(GP_DIM, generator=gen)
    return torch.cos(8 * math.pi * (coords @ weight + bias))[None].expand(batch, -1, -1).contiguous()


def solvers(n: int) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The compared solves of an ``n``-unknown system, by label."""
    k = squaring_iterations(n)
    return {
        "dense_cholesky_fp32 (split pipeline)": solve_dense,
        "cholesky_ex_two_triangular_solves (fast path)": solve_by_cholesky,
        "cholesky_ex_cholesky_solve": lambda a, b: torch.cholesky_solve(b, torch.linalg.cholesky_ex(a)[0]),
        f"newton_schulz_{k}": lambda a, b: solve_newton_schulz(a, b, k),
        f"neumann_{k}": lambda a, b: solve_neumann(a, b, k),
        "conjugate_gradient_50": lambda a, b: solve_conjugate_gradient(a, b, 50),
        "conjugate_gradient_100": lambda a, b: solve_conjugate_gradient(a, b, 100),
        "conjugate_gradient_200": lambda a, b: solve_conjugate_gradient(a, b, 200),
    }


def _time_ms(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return sorted(times)[len(times) // 2]


def run(grid: int, batch: int, device: torch.device, repeats: int, accuracy: bool = True) -> dict[str, object]:
    """Accuracy per feature set and solver (unless ``accuracy`` is False), and median time per solver
    (on the ``smooth_3`` set)."""
    n = grid * grid
    basis = position_basis(grid, batch).to(device)
    eye = torch.eye(n, device=device)[None]
    results: dict[str, object] = {"grid": grid, "unknowns": n, "batch": batch, "device": str(device), "cases": {}}
    timing_inputs = None
    for name, (x, y) in feature_sets(grid, batch).items():
        x, y = x.to(device), y.to(device)
        k_yy = cosine_kernel(y, y) + SIGMA_NOISE * eye
        k_xy = cosine_kernel(x, y)
        if name == "smooth_3":
            timing_inputs = (k_yy, k_xy)
        if not accuracy:
            continue
        exact = k_xy.double() @ torch.cholesky_solve(basis.double(), torch.linalg.cholesky(k_yy.double()))
        eig = torch.linalg.eigvalsh(k_yy.double())
        case: dict[str, object] = {"lambda_min": eig.min().item(), "lambda_max": eig.max().item()}
        scale = exact.abs().max().item()
        for label, solve in solvers(n).items():
            mu = k_xy @ solve(k_yy, basis)
            err = (mu.double() - exact).abs()
            case[label] = {"max_abs_error": err.max().item(), "max_error_rel_to_max_mu": err.max().item() / scale}
        results["cases"][name] = case
    assert timing_inputs is not None
    k_yy, k_xy = timing_inputs
    results["time_ms"] = {
        label: _time_ms(lambda solve=solve: k_xy @ solve(k_yy, basis), device, repeats)
        for label, solve in solvers(n).items()
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=40, help="scale-16 grid side (40 at coarse 560)")
    parser.add_argument("--batch", type=int, default=2, help="GP batch (2: both directions of one pair)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--timing-only", action="store_true", help="skip the accuracy cases")
    args = parser.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        results = run(args.grid, args.batch, torch.device(args.device), args.repeats, not args.timing_only)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
