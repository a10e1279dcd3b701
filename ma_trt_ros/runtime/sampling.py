"""Drawing sparse matches from a dense certainty field, deterministically and spatially balanced.

In the spirit of upstream RoMa's ``sample``: (1) cells above a certainty threshold are candidates;
(2) ``4 · num`` of them are drawn without replacement with probability proportional to certainty;
(3) from these, ``num`` are drawn with probability proportional to ``1 / (1 + density)``, where
``density`` counts the other drawn candidates near the point in image 0 (a Gaussian-smoothed 2-D
histogram, standard deviation 5 % of the image side); candidates with fewer than
:data:`MIN_NEIGHBOURS` neighbours are drawn last (isolated matches are mostly wrong). Upstream uses
a 4-D kernel density over both images and ``torch.multinomial``; we use image-0 density and the
exponential race (the Gumbel top-k trick: sampling without replacement ∝ weight), seeded, so the
result is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

OVERSAMPLE = 4
HISTOGRAM_BINS = 64
KERNEL_STD = 0.05 * HISTOGRAM_BINS
MIN_NEIGHBOURS = 10.0
ISOLATED_FACTOR = 1e-7


def _draw_without_replacement(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` draws without replacement with probability ∝ ``weights`` (> 0), first drawn first.

    The exponential race: each candidate gets ``E / w`` with ``E`` ~ Exp(1); the ``k`` smallest are
    distributed as ``k`` successive weighted draws without replacement (the Gumbel top-k trick
    without its logarithms; float32 throughout, the candidates are millions).
    """
    k = min(k, weights.size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    keys = rng.standard_exponential(weights.size, dtype=np.float32) / weights
    chosen = np.argpartition(keys, k - 1)[:k]
    return chosen[np.argsort(keys[chosen], kind="stable")]


def _density(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Smoothed neighbour count of each ``[N, 2]`` point (pixels of a ``width`` x ``height`` image)."""
    bins = HISTOGRAM_BINS
    col = np.clip((points[:, 0] / width * bins).astype(np.int64), 0, bins - 1)
    row = np.clip((points[:, 1] / height * bins).astype(np.int64), 0, bins - 1)
    counts = np.zeros((bins, bins), np.float32)
    np.add.at(counts, (row, col), 1.0)
    smooth = cv2.GaussianBlur(counts, (0, 0), KERNEL_STD, borderType=cv2.BORDER_CONSTANT)
    smooth *= np.float32(2 * np.pi * KERNEL_STD**2)  # a lone point counts about 1 at its own bin
    return smooth[row, col] - 1.0


def balanced_sample(
    certainty: np.ndarray,
    points0_of: Callable[[np.ndarray], np.ndarray],
    num: int,
    threshold: float,
    image0_size: tuple[float, float],
    seed: int,
) -> np.ndarray:
    """Indices of up to ``num`` candidates (see module docstring).

    Args:
        certainty: float32 ``[M]`` in [0, 1], one per candidate.
        points0_of: image-0 pixels float32 ``[n, 2]`` of the candidates at given int64 indices ``[n]``
            (asked only for the ``4 · num`` drawn in step 2, not for all ``M``).
        num: matches wanted.
        threshold: candidates need certainty > threshold.
        image0_size: ``(width, height)`` of image 0 in pixels.
        seed: sampler seed.

    Returns:
        int64 indices into the ``M`` candidates, no repeats, most preferred first.
    """
    rng = np.random.default_rng(seed)
    above = np.flatnonzero(certainty > threshold)
    if above.size == 0 or num == 0:
        return np.empty(0, dtype=np.int64)
    drawn = above[_draw_without_replacement(certainty[above], OVERSAMPLE * num, rng)]
    density = _density(points0_of(drawn), *image0_size)
    weights = (1.0 / (1.0 + np.maximum(density, 0.0))).astype(np.float32)
    weights[density < MIN_NEIGHBOURS] *= np.float32(ISOLATED_FACTOR)
    return drawn[_draw_without_replacement(weights, num, rng)]
