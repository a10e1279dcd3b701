"""Pixel mapping of the runtime: network coordinates of a test double back to pixels of images of odd
sizes, exactly as the conventions in ma_trt_ros.runtime.variants say."""

from __future__ import annotations

import numpy as np
import pytest
from support.backend_doubles import (
    EloftrDoubleBackend,
    RomaDoubleBackend,
    eloftr_map,
    eloftr_network_points,
    roma_map_pixels,
)

from ma_trt_ros.runtime import InputError, Matcher, MatchOptions

ODD_SIZES = [((500, 375), (333, 517)), ((333, 517), (500, 375)), ((128, 96), (641, 479))]


def _image(size: tuple[int, int], channels: int = 3) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(width * height)
    return rng.random((height, width, channels) if channels > 1 else (height, width), dtype=np.float32)


@pytest.mark.parametrize(("size0", "size1"), ODD_SIZES)
def test_eloftr_points_are_pixels_of_the_images_as_given(size0: tuple[int, int], size1: tuple[int, int]) -> None:
    backend = EloftrDoubleBackend(height=96, width=128, rows=12)
    result = Matcher(backend).match(_image(size0), _image(size1, channels=1))
    q0 = eloftr_network_points(96, 128, 12)[backend.valid_rows()]
    expected0 = q0 * np.array([size0[0] / 128, size0[1] / 96], np.float32)
    expected1 = eloftr_map(q0) * np.array([size1[0] / 128, size1[1] / 96], np.float32)
    assert result.count == 6
    np.testing.assert_allclose(result.points0, expected0, rtol=0, atol=1e-4)
    np.testing.assert_allclose(result.points1, expected1, rtol=0, atol=1e-4)
    np.testing.assert_allclose(result.confidence, np.linspace(0.2, 0.9, 12, dtype=np.float32)[::2])
    assert (result.image0.width, result.image0.height) == size0
    assert (result.image1.width, result.image1.height) == size1
    assert not result.truncated


def test_eloftr_inputs_are_gray_stretched_to_the_engine_size() -> None:
    backend = EloftrDoubleBackend(height=96, width=128)
    rgb = np.zeros((375, 500, 3), np.float32)
    rgb[..., 1] = 1.0  # pure green: luma 0.587
    Matcher(backend).match(rgb, (np.ones((517, 333)) * 255).astype(np.uint8))
    inputs = backend.calls[0]
    assert inputs["image0"].shape == (1, 1, 96, 128) and inputs["image0"].dtype == np.float32
    np.testing.assert_allclose(inputs["image0"], 0.587, atol=1e-6)
    np.testing.assert_allclose(inputs["image1"], 1.0, atol=1e-6)


def test_eloftr_warns_once_per_size_when_the_aspect_differs(caplog: pytest.LogCaptureFixture) -> None:
    matcher = Matcher(EloftrDoubleBackend(height=96, width=128))
    for _ in range(3):
        matcher.match(_image((500, 375)), _image((333, 517)))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # 500x375 has the engine's 4:3 aspect; 333x517 does not
    assert "333x517" in warnings[0] and "stretched" in warnings[0]


def test_truncation_is_reported() -> None:
    backend = EloftrDoubleBackend()
    original = backend.run

    def over_budget(inputs, wanted=None):
        outputs, stages = original(inputs, wanted)
        outputs["num_valid"][:] = backend.rows + 5
        return outputs, stages

    backend.run = over_budget
    assert Matcher(backend).match(_image((64, 48)), _image((64, 48))).truncated


@pytest.mark.parametrize(("size0", "size1"), ODD_SIZES)
def test_roma_dense_warp_and_sparse_matches_in_pixels(size0: tuple[int, int], size1: tuple[int, int]) -> None:
    options = MatchOptions(num_matches=200, certainty_threshold=0.3, seed=3)
    result = Matcher(RomaDoubleBackend(res=32), options).match(_image(size0), _image(size1))
    dense = result.dense
    assert dense is not None and dense.warp.shape == (32, 32, 2) and dense.certainty.shape == (32, 32)
    assert dense.grid_scale_x == pytest.approx(size0[0] / 32) and dense.grid_scale_y == pytest.approx(size0[1] / 32)
    centres = dense.cell_centres()
    np.testing.assert_allclose(centres[0, 0], [size0[0] / 64, size0[1] / 64], rtol=1e-6)
    np.testing.assert_allclose(dense.warp, roma_map_pixels(centres, size0, size1), rtol=0, atol=2e-3)
    # sparse matches come from both directions and all follow the same correspondence
    assert result.count == 200
    np.testing.assert_allclose(result.points1, roma_map_pixels(result.points0, size0, size1), rtol=0, atol=2e-3)
    assert result.confidence.min() > 0.3


def test_roma_sampling_is_seeded() -> None:
    images = (_image((500, 375)), _image((333, 517)))
    first = Matcher(RomaDoubleBackend(), MatchOptions(num_matches=100, seed=1)).match(*images)
    again = Matcher(RomaDoubleBackend(), MatchOptions(num_matches=100, seed=1)).match(*images)
    other = Matcher(RomaDoubleBackend(), MatchOptions(num_matches=100, seed=2)).match(*images)
    np.testing.assert_array_equal(first.points0, again.points0)
    assert not np.array_equal(first.points0, other.points0)


def test_dense_thinning_keeps_the_cell_centre_formula() -> None:
    result = Matcher(RomaDoubleBackend(res=32)).match(_image((500, 375)), _image((333, 517)))
    for stride in (2, 4):
        thin = result.dense.thinned(stride)
        assert thin.certainty.shape == (32 // stride, 32 // stride)
        expected = roma_map_pixels(thin.cell_centres(), (500, 375), (333, 517))
        np.testing.assert_allclose(thin.warp, expected, rtol=0, atol=2e-3)  # the double's warp is affine
    with pytest.raises(ValueError, match="use one of"):
        result.dense.thinned(5)


def test_batched_engine_gets_full_batches_and_results_stay_in_order() -> None:
    backend = EloftrDoubleBackend(batch=4)
    pairs = [(_image((50 + i, 40)), _image((60, 30 + i))) for i in range(6)]
    results = Matcher(backend).match_batch(pairs)
    assert [r.image0.width for r in results] == [50 + i for i in range(6)]
    assert [r.image1.height for r in results] == [30 + i for i in range(6)]
    assert [call["image0"].shape[0] for call in backend.calls] == [4, 4]


def test_bytes_reach_a_backend_that_takes_them_only_where_no_host_arithmetic_is_needed() -> None:
    backend = EloftrDoubleBackend(height=96, width=128, batch=2)
    backend.takes_uint8_images = True  # as the torch backend: the double records what it is handed
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (96, 128), dtype=np.uint8)
    colour = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    larger = rng.integers(0, 256, (192, 256), dtype=np.uint8)
    Matcher(backend).match_batch([(grey, colour), (grey, grey)])
    first = backend.calls[-1]
    assert first["image0"].dtype == np.uint8  # grey at the network's size: the bytes themselves
    np.testing.assert_array_equal(first["image0"][:, 0], np.stack([grey, grey]))
    assert first["image1"].dtype == np.float32  # colour to grey is host arithmetic: float, for the whole batch
    np.testing.assert_array_equal(first["image1"][1, 0], grey / np.float32(255))
    Matcher(backend).match_batch([(grey, grey), (larger, grey)])  # the second pair is resized on the host
    second = backend.calls[-1]["image0"]
    assert second.dtype == np.float32 and second.max() <= 1.0
    np.testing.assert_array_equal(second[0, 0], grey / np.float32(255))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 4), np.float32), "expected"),
        (np.zeros((0, 10), np.float32), "empty"),
        (np.zeros((10, 10), np.float64), "dtype float64"),
        ([[0.0]], "numpy array"),
    ],
)
def test_bad_images_raise_input_error_and_the_matcher_keeps_serving(image: object, message: str) -> None:
    matcher = Matcher(EloftrDoubleBackend())
    with pytest.raises(InputError, match=message):
        matcher.match(image, _image((64, 48)))  # type: ignore[arg-type]
    assert matcher.match(_image((64, 48)), _image((64, 48))).count == 6
