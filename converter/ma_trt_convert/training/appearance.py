"""Photometric and cross-modality changes of rendered training images (batched, on any device).

Images are float32 ``[N, 3, H, W]`` RGB in [0, 1] on input and float32 ``[N, 1, H, W]`` grey in [0, 1]
on output (the network's input). Every random draw comes from the caller's ``torch.Generator`` on the
images' device, so a batch is reproducible from its seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)
MODALITIES = ("luma", "channel_mix", "inverted", "gradient", "edges")


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device) * (high - low) + low


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Each image of ``[N, 1, H, W]`` stretched to [0, 1] (min-max)."""
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - low) / (high - low).clamp_min(1e-6)


def _gradient(grey: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude ``[N, 1, H, W]`` of grey images (replicate padding)."""
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=grey.device) / 8
    kernels = torch.stack([kernel, kernel.T])[:, None]
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)
    return g.square().sum(dim=1, keepdim=True).sqrt()


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur of ``[N, 1, H, W]`` with per-image ``sigma`` ``[N]`` in pixels (5×5 separable taps)."""
    taps = torch.arange(-2, 3, device=x.device, dtype=x.dtype)
    weights = torch.exp(-0.5 * (taps[None] / sigma[:, None].clamp_min(1e-3)) ** 2)
    weights = weights / weights.sum(dim=1, keepdim=True)
    n = x.shape[0]
    rows = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate").transpose(0, 1), weights[:, None, None, :], groups=n)
    both = F.conv2d(F.pad(rows, (0, 0, 2, 2), mode="replicate"), weights[:, None, :, None], groups=n)
    return both.transpose(0, 1)


def to_modality(rgb: torch.Tensor, modality: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Grey images ``[N, 1, H, W]`` of ``rgb``, image ``n`` rendered as ``MODALITIES[modality[n]]``.

    luma: ITU-R 601 grey; channel_mix: random non-negative channel weights; inverted: 1 − luma;
    gradient: normalised Sobel magnitude; edges: the gradient magnitude through a steep sigmoid.
    """
    n = rgb.shape[0]
    luma = (rgb * torch.tensor(LUMA, device=rgb.device)[None, :, None, None]).sum(dim=1, keepdim=True)
    mix = _uniform((n, 3), 0.0, 1.0, generator)
    mixed = (rgb * (mix / mix.sum(dim=1, keepdim=True).clamp_min(1e-6))[:, :, None, None]).sum(dim=1, keepdim=True)
    gradient = _normalise(_gradient(luma)).sqrt()
    edges = torch.sigmoid((gradient - 0.35) * 12)
    options = torch.stack([luma, mixed, 1 - luma, gradient, edges], dim=0)
    return options[modality, torch.arange(n, device=rgb.device)]


def photometric(grey: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random gain, offset, gamma, blur (σ 0.3–1.5 px on half the images) and Gaussian noise, clipped to [0, 1]."""
    n = grey.shape[0]
    gain = _uniform((n, 1, 1, 1), 0.6, 1.4, generator)
    offset = _uniform((n, 1, 1, 1), -0.2, 0.2, generator)
    gamma = torch.exp(_uniform((n, 1, 1, 1), -0.5, 0.5, generator))
    x = (grey.clamp(0, 1) ** gamma) * gain + offset
    blurred = _blur(x, _uniform((n,), 0.3, 1.5, generator))
    x = torch.where(_uniform((n, 1, 1, 1), 0, 1, generator) < 0.5, blurred, x)
    noise = torch.randn(x.shape, generator=generator, device=x.device) * _uniform((n, 1, 1, 1), 0.0, 0.04, generator)
    return (x + noise).clamp(0, 1)
