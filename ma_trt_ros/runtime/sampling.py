"""Drawing sparse matches from a dense certainty field, deterministically and spatially balanced.

In the spirit of upstream RoMa's ``sample``: (1) cells above a certainty threshold are candidates;
(2) ``4 · num`` of them are drawn without replacement with probability proportional to certainty;
(3) from these, ``num`` are drawn with probability proportional to ``1 / (1 + density)``, where
``density`` counts the other drawn candidates near the point in image 0 (a Gaussian-smoothed 2-D
histogram, standard deviation 5 % of the image side); candidates with fewer than
:data:`MIN_NEIGHBOURS` neighbours are drawn last (isolated matches are mostly wrong). Upstream uses
a 4-D kernel density over both images and ``torch.multinomial``; we use image-0 density and the
exponential race (the Gumbel top-k trick: sampling without replacement ∝ weight).

The race's random numbers are one float32 stream, :func:`sampler_noise` (numpy's PCG64 exponentials
of the seed): step 2 reads its first ``n`` numbers (``n`` candidates above the threshold, in cell
order), step 3 the next ``min(4 · num, n)``. The same stream given to a graph that samples on the
device (:mod:`ma_trt_convert.roma.sampling`, input ``sampler_noise``) draws the same matches: every
step is float32 arithmetic that rounds the same way there, and the histogram is smoothed in float64
(:func:`density_kernel`) so that summation order cannot change its float32 value.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

OVERSAMPLE = 4
HISTOGRAM_BINS = 64
KERNEL_STD = 0.05 * HISTOGRAM_BINS
KERNEL_SIZE = 27  # OpenCV's size for KERNEL_STD on float images: round(2 · 4σ + 1) | 1
MIN_NEIGHBOURS = 10.0
ISOLATED_FACTOR = 1e-7
# a lone point's smoothed count at its own bin becomes about 1
DENSITY_SCALE = 2 * np.pi * KERNEL_STD**2


def noise_length(candidates: int, num: int) -> int:
    """Numbers of :func:`sampler_noise` one draw of ``num`` matches from ``candidates`` cells can read."""
    return candidates + OVERSAMPLE * num


def sampler_noise(seed: int, length: int) -> np.ndarray:
    """float32 ``[length]`` standard exponentials of ``numpy.random.default_rng(seed)``, read-only.

    Consecutive draws of one generator are the slices of one longer draw, so this is exactly the
    stream the sampler used to draw number by number.
    """
    noise = np.random.default_rng(seed).standard_exponential(length, dtype=np.float32)
    noise.flags.writeable = False
    return noise


def density_kernel() -> np.ndarray:
    """float64 ``[KERNEL_SIZE]``: the normalised Gaussian of :data:`KERNEL_STD` bins (OpenCV's)."""
    return cv2.getGaussianKernel(KERNEL_SIZE, KERNEL_STD, cv2.CV_64F).ravel()


def _draw_without_replacement(weights: np.ndarray, k: int, noise: np.ndarray) -> np.ndarray:
    """Indices of ``k`` draws without replacement with probability ∝ ``weights`` (> 0), first drawn first.

    The exponential race: candidate ``i`` gets ``noise[i] / w_i`` (``noise`` Exp(1)); the ``k``
    smallest are distributed as ``k`` successive weighted draws without replacement (the Gumbel top-k
    trick without its logarithms; float32 throughout, the candidates are millions).
    """
    k = min(k, weights.size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    keys = noise[: weights.size] / weights
    chosen = np.argpartition(keys, k - 1)[:k]
    return chosen[np.argsort(keys[chosen], kind="stable")]


def _density(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Smoothed neighbour count (float32) of each ``[N, 2]`` point (pixels of a ``width`` x ``height`` image)."""
    bins = HISTOGRAM_BINS
    col = np.clip((points[:, 0] / width * bins).astype(np.int64), 0, bins - 1)
    row = np.clip((points[:, 1] / height * bins).astype(np.int64), 0, bins - 1)
    counts = np.zeros((bins, bins), np.float64)
    np.add.at(counts, (row, col), 1.0)
    kernel = density_kernel()
    smooth = cv2.sepFilter2D(counts, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    return (smooth * DENSITY_SCALE).astype(np.float32)[row, col] - 1.0


def balanced_sample(
    certainty: np.ndarray,
    points0_of: Callable[[np.ndarray], np.ndarray],
    num: int,
    threshold: float,
    image0_size: tuple[float, float],
    noise: np.ndarray,
) -> np.ndarray:
    """Indices of up to ``num`` candidates (see module docstring).

    Args:
        certainty: float32 ``[M]`` in [0, 1], one per candidate.
        points0_of: image-0 pixels float32 ``[n, 2]`` of the candidates at given int64 indices ``[n]``
            (asked only for the ``4 · num`` drawn in step 2, not for all ``M``).
        num: matches wanted.
        threshold: candidates need certainty > threshold.
        image0_size: ``(width, height)`` of image 0 in pixels.
        noise: float32 ``[noise_length(M, num)]`` (or longer), :func:`sampler_noise` of the seed.

    Returns:
        int64 indices into the ``M`` candidates, no repeats, most preferred first.
    """
    above = np.flatnonzero(certainty > threshold)
    if above.size == 0 or num == 0:
        return np.empty(0, dtype=np.int64)
    drawn = above[_draw_without_replacement(certainty[above], OVERSAMPLE * num, noise)]
    density = _density(points0_of(drawn), *image0_size)
    weights = (1.0 / (1.0 + np.maximum(density, 0.0))).astype(np.float32)
    weights[density < MIN_NEIGHBOURS] *= np.float32(ISOLATED_FACTOR)
    return drawn[_draw_without_replacement(weights, num, noise[above.size :])]
