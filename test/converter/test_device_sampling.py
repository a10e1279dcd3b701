"""RoMa's sparse draw on the device (ma_trt_convert.roma.sampling) against the runtime's CPU draw."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ma_trt_convert.roma.sampling import SparseSampling  # noqa: E402
from ma_trt_ros.runtime.options import MatchOptions  # noqa: E402
from ma_trt_ros.runtime.result import ImageSize  # noqa: E402
from ma_trt_ros.runtime.sampling import noise_length, sampler_noise  # noqa: E402
from ma_trt_ros.runtime.variants.roma import RomaIO, warp_to_pixels  # noqa: E402


def _dense(side: int, seed: int) -> dict[str, np.ndarray]:
    """A smooth warp (a shift plus noise) and certainty with a dense blob, a flat field and empty cells."""
    rng = np.random.default_rng(seed)
    grid = (np.arange(side) + 0.5) / side * 2 - 1
    xs, ys = np.meshgrid(grid, grid)
    outputs = {}
    for suffix, shift in (("", 0.1), ("_1to0", -0.1)):
        warp = np.stack([xs + shift, ys - shift / 2], axis=-1) + rng.normal(0, 0.01, (side, side, 2))
        blob = np.exp(-((xs - 0.4) ** 2 + (ys + 0.2) ** 2) / 0.05)
        certainty = np.clip(0.6 * blob + rng.uniform(0, 0.5, (side, side)), 0, 1)
        certainty[:, : side // 6] = 0.0
        outputs["warp" + suffix] = warp.astype(np.float32)
        outputs["certainty" + suffix] = certainty.astype(np.float32)
    return outputs


def _device_draw(outputs: dict[str, np.ndarray], sizes: tuple[ImageSize, ImageSize], options: MatchOptions):
    cells = 2 * outputs["certainty"].size
    noise = sampler_noise(options.seed, noise_length(cells, options.num_matches))
    args = [torch.from_numpy(outputs[n])[None] for n in ("warp", "certainty", "warp_1to0", "certainty_1to0")]
    size_row = [sizes[0].width, sizes[0].height, sizes[1].width, sizes[1].height]
    args += [torch.from_numpy(noise.copy())[None], torch.tensor([options.certainty_threshold])]
    args.append(torch.tensor([size_row]))
    with torch.no_grad():
        points0, points1, certainty, count, warp = SparseSampling()(*(a.float() for a in args))
    np.testing.assert_array_equal(warp[0].numpy(), warp_to_pixels(outputs["warp"], sizes[1]))
    n = int(count[0])
    return points0[0].numpy(), points1[0].numpy(), certainty[0].numpy(), n


@pytest.mark.parametrize(
    ("side", "sizes", "num", "threshold", "seed"),
    [
        (48, ((640, 480), (640, 480)), 300, 0.05, 0),
        (40, ((641, 479), (320, 250)), 500, 0.3, 7),
        (32, ((97, 131), (120, 90)), 2000, 0.05, 3),  # fewer candidates than 4·num: every one is drawn
    ],
)
def test_device_draw_is_the_cpu_draw(side: int, sizes, num: int, threshold: float, seed: int) -> None:
    outputs = _dense(side, seed)
    image_sizes = (ImageSize(*sizes[0]), ImageSize(*sizes[1]))
    options = MatchOptions(num_matches=num, certainty_threshold=threshold, seed=seed)
    cpu = RomaIO().decode(outputs, {}, image_sizes, options)
    points0, points1, certainty, count = _device_draw(outputs, image_sizes, options)
    assert count == cpu.points0.shape[0] > 0
    np.testing.assert_array_equal(points0[:count], cpu.points0)
    np.testing.assert_array_equal(points1[:count], cpu.points1)
    np.testing.assert_array_equal(certainty[:count], cpu.confidence)
    assert not points0[count:].any() and not certainty[count:].any()


def test_device_draw_of_nothing() -> None:
    outputs = _dense(16, 1)
    outputs["certainty"][:] = 0
    outputs["certainty_1to0"][:] = 0
    sizes = (ImageSize(64, 48), ImageSize(64, 48))
    assert _device_draw(outputs, sizes, MatchOptions(num_matches=50))[3] == 0
    assert _device_draw(_dense(16, 1), sizes, MatchOptions(num_matches=0))[3] == 0
