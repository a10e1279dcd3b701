"""Gaussian-process regression of image-1 coordinate embeddings at scale 16, with export-friendly solvers.

The GP's posterior mean is ``mu = K_xy (K_yy + σI)^{-1} f`` with the cosine kernel of the projected
scale-16 features of image 0 (``x``) and image 1 (``y``), ``σ = 0.1`` and ``f = cos(8π·pos_conv(grid_1))``.
The reference inverts ``K_yy + σI`` densely; ONNX has no inverse or Cholesky op, so the solve is
one of (see ``docs/gp_solve.md`` for the accuracy/cost comparison):

* ``"newton_schulz"``: Newton–Schulz iteration for the inverse, ``X ← 2X − X·A·X`` from ``X0 = c·I``;
* ``"neumann"``: the same polynomial as Newton–Schulz, evaluated by repeated squaring of ``I − cA``
  applied to the right-hand side (one ``N³`` product per step instead of two);
* ``"conjugate_gradient"``: block conjugate gradient, one independent CG per right-hand-side column;
* ``"dense"``: ``torch.linalg.solve`` (reference only: not exportable).

All iterative solvers run a fixed number of steps (no data-dependent control flow).
``A = K_yy + σI`` is symmetric positive definite with eigenvalues in ``[σ, ρ]``, ``ρ`` its largest row
sum (the kernel is non-negative, so ``ρ ≤ N + σ``). With ``c = 2/(ρ + σ)`` the residual of Newton–Schulz
and Neumann contracts as ``q^(2^k)``, ``q = 1 − 2σ/(ρ + σ)``; :func:`squaring_iterations` picks ``k`` so
that even the worst case ``ρ = N + σ`` (all features identical) reaches the tolerance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ma_trt_convert.roma.coordinates import pixel_centre_grid
from ma_trt_convert.variants.roma import GP_SOLVERS

KERNEL_TEMPERATURE = 0.2
SIGMA_NOISE = 0.1
GP_DIM = 512
_TINY = 1e-30


def cosine_kernel(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Cosine kernel ``exp((cos(a_i, b_j) − 1)/0.2)``: ``a`` ``[B, N, D]``, ``b`` ``[B, M, D]`` → ``[B, N, M]``."""
    cos = torch.matmul(a, b.transpose(1, 2)) / (a.norm(dim=-1)[..., None] * b.norm(dim=-1)[:, None] + eps)
    return ((cos - 1.0) / KERNEL_TEMPERATURE).exp()


def squaring_iterations(n: int, sigma: float = SIGMA_NOISE, tol: float = 1e-7) -> int:
    """Steps of Newton–Schulz/Neumann that bring the worst-case residual of an ``n``×``n`` solve below ``tol``."""
    q = 1.0 - 2.0 * sigma / (n + 2.0 * sigma)
    return math.ceil(math.log2(math.log(tol) / math.log(q)))


def _scaling(mat: torch.Tensor, sigma: float) -> torch.Tensor:
    """``c = 2/(ρ + σ)`` per batch item, ``ρ`` the largest row sum of ``mat``: ``[B, 1, 1]``."""
    rho = mat.sum(dim=-1).amax(dim=-1)
    return (2.0 / (rho + sigma))[:, None, None]


def solve_newton_schulz(
    mat: torch.Tensor, rhs: torch.Tensor, iterations: int, sigma: float = SIGMA_NOISE
) -> torch.Tensor:
    """``mat^{-1}·rhs`` by Newton–Schulz steps.

    Args:
        mat: ``[B, N, N]`` symmetric positive definite, smallest eigenvalue ≥ ``sigma``, fp32.
        rhs: ``[B, N, D]``.
        iterations: number of steps ``X ← 2X − X·mat·X`` from ``X0 = c·I``.
    """
    eye = torch.eye(mat.shape[-1], dtype=mat.dtype, device=mat.device)[None]
    X = _scaling(mat, sigma) * eye
    for _ in range(iterations):
        X = 2.0 * X - torch.matmul(X, torch.matmul(mat, X))
    return torch.matmul(X, rhs)


def solve_neumann(mat: torch.Tensor, rhs: torch.Tensor, iterations: int, sigma: float = SIGMA_NOISE) -> torch.Tensor:
    """``mat^{-1}·rhs ≈ c·Σ_{j<2^k} (I − c·mat)^j·rhs`` by repeated squaring, ``k = iterations``.

    The same polynomial as ``k`` Newton–Schulz steps; arguments as :func:`solve_newton_schulz`.
    """
    c = _scaling(mat, sigma)
    eye = torch.eye(mat.shape[-1], dtype=mat.dtype, device=mat.device)[None]
    step = eye - c * mat
    out = c * rhs
    for index in range(iterations):
        out = out + torch.matmul(step, out)
        if index + 1 < iterations:
            step = torch.matmul(step, step)
    return out


def solve_conjugate_gradient(mat: torch.Tensor, rhs: torch.Tensor, iterations: int) -> torch.Tensor:
    """``mat^{-1}·rhs`` by ``iterations`` steps of conjugate gradient run independently on every column of ``rhs``.

    ``mat`` ``[B, N, N]`` SPD, ``rhs`` ``[B, N, D]``; starts from zero. A converged column stays put
    (the step sizes are guarded against 0/0).
    """
    x = torch.zeros_like(rhs)
    r = rhs
    p = r
    rr = (r * r).sum(dim=1, keepdim=True)
    for _ in range(iterations):
        ap = torch.matmul(mat, p)
        alpha = rr / ((p * ap).sum(dim=1, keepdim=True) + _TINY)
        x = x + alpha * p
        r = r - alpha * ap
        rr_next = (r * r).sum(dim=1, keepdim=True)
        p = r + (rr_next / (rr + _TINY)) * p
        rr = rr_next
    return x


def solve_dense(mat: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``torch.linalg.solve(mat, rhs)``: the reference-style direct solve (not exportable to ONNX)."""
    return torch.linalg.solve(mat, rhs)


class GaussianProcess(nn.Module):
    """GP posterior mean at scale 16; key ``pos_conv`` (Conv2d 2→512, 1×1), everything in fp32.

    Args:
        solver: one of :data:`GP_SOLVERS`.
        iterations: steps of the iterative solver (ignored by ``"dense"``).
    """

    def __init__(self, solver: str, iterations: int) -> None:
        super().__init__()
        if solver not in GP_SOLVERS:
            raise ValueError(f"unknown GP solver {solver!r}; choose one of {', '.join(GP_SOLVERS)}")
        self.pos_conv = nn.Conv2d(2, GP_DIM, 1, 1)
        self.solver = solver
        self.iterations = iterations

    def solve(self, mat: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """``mat^{-1}·rhs`` with the configured solver."""
        if self.solver == "newton_schulz":
            return solve_newton_schulz(mat, rhs, self.iterations)
        if self.solver == "neumann":
            return solve_neumann(mat, rhs, self.iterations)
        if self.solver == "conjugate_gradient":
            return solve_conjugate_gradient(mat, rhs, self.iterations)
        return solve_dense(mat, rhs)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Posterior mean of image-1 coordinate embeddings at image-0 locations.

        Args:
            x: image-0 projected features ``[B, C, h1, w1]`` (any float dtype; used in fp32).
            y: image-1 projected features ``[B, C, h2, w2]``.

        Returns:
            ``[B, 512, h1, w1]`` fp32.
        """
        B, _, h1, w1 = x.shape
        _, _, h2, w2 = y.shape
        basis = torch.cos(8 * math.pi * self.pos_conv(pixel_centre_grid(h2, w2, y.device)))
        basis = basis.flatten(2).transpose(1, 2).expand(B, h2 * w2, GP_DIM)
        xs = x.float().flatten(2).transpose(1, 2)
        ys = y.float().flatten(2).transpose(1, 2)
        eye = torch.eye(h2 * w2, device=x.device)[None]
        weights = self.solve(cosine_kernel(ys, ys) + SIGMA_NOISE * eye, basis)
        mu = torch.matmul(cosine_kernel(xs, ys), weights)
        return mu.transpose(1, 2).reshape(B, GP_DIM, h1, w1)
