"""RoMa's sparse draw: threshold, count, no repeats, determinism, and spatial balance."""

from __future__ import annotations

import numpy as np

from ma_trt_ros.runtime.sampling import balanced_sample, noise_length, sampler_noise

SIZE = (640.0, 480.0)


def _grid(n: int = 200) -> np.ndarray:
    xs, ys = np.meshgrid((np.arange(n) + 0.5) * SIZE[0] / n, (np.arange(n) + 0.5) * SIZE[1] / n)
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def _sample(points: np.ndarray, certainty: np.ndarray, num: int, threshold: float = 0.05, seed: int = 0):
    noise = sampler_noise(seed, noise_length(certainty.size, num))
    return balanced_sample(certainty, lambda i: points[i], num, threshold, SIZE, noise)


def test_noise_is_the_generators_stream() -> None:
    """The sampler once drew its exponentials number by number from default_rng(seed); one draw of the
    whole length gives the same numbers, so the noise input keeps every seed's matches."""
    rng = np.random.default_rng(5)
    parts = [rng.standard_exponential(n, dtype=np.float32) for n in (1_000_003, 20_001)]
    noise = sampler_noise(5, 1_020_004)
    np.testing.assert_array_equal(np.concatenate(parts), noise)
    assert not noise.flags.writeable


def test_count_threshold_and_uniqueness() -> None:
    points = _grid()
    certainty = np.random.default_rng(0).random(points.shape[0], dtype=np.float32)
    chosen = _sample(points, certainty, 1000, threshold=0.5)
    assert chosen.size == 1000 and np.unique(chosen).size == 1000
    assert certainty[chosen].min() > 0.5
    assert _sample(points, np.zeros_like(certainty), 10).size == 0
    assert _sample(points[:5], np.ones(5, np.float32), 10).size == 5


def test_same_seed_same_draw() -> None:
    points = _grid()
    certainty = np.random.default_rng(1).random(points.shape[0], dtype=np.float32)
    np.testing.assert_array_equal(_sample(points, certainty, 500, seed=7), _sample(points, certainty, 500, seed=7))
    assert not np.array_equal(_sample(points, certainty, 500, seed=7), _sample(points, certainty, 500, seed=8))


def test_dense_regions_do_not_take_every_match() -> None:
    """Certainty 1 in the left fifth, 0.3 elsewhere: certainty-only sampling would put ~45 % of the
    matches on the left; the balance step pulls that towards the area share (20 %)."""
    points = _grid()
    left = points[:, 0] < SIZE[0] / 5
    certainty = np.where(left, 1.0, 0.3).astype(np.float32)
    chosen = _sample(points, certainty, 2000)
    share = left[chosen].mean()
    print(f"share of matches in the left fifth: {share:.3f}")
    assert 0.15 < share < 0.35


def test_isolated_candidates_come_last() -> None:
    points = _grid(100)
    certainty = np.zeros(points.shape[0], np.float32)
    certainty[:3000] = 0.9  # a dense block of 3000 candidates
    certainty[-1] = 1.0  # one isolated candidate, the most certain of all
    chosen = _sample(points, certainty, 500)
    assert points.shape[0] - 1 not in chosen
