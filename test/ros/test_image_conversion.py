"""Image ↔ numpy conversion: round trips, step padding, byte order, errors, matcher inputs, rosbags-image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ma_trt_ros.ros.image_conversion import (
    ENCODINGS,
    ImageConversionError,
    image_to_matcher_image,
    image_to_numpy,
    numpy_to_image,
    to_gray_float,
    to_matcher_image,
    to_rgb_float,
)

HEIGHT, WIDTH = 5, 7


def sample_array(encoding: str, seed: int = 0) -> np.ndarray:
    """Random array laid out as ``encoding``: full integer range, floats in [-0.5, 1.5)."""
    info = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = info.array_shape(HEIGHT, WIDTH)
    if info.dtype.kind == "f":
        return rng.uniform(-0.5, 1.5, size=shape).astype(info.dtype)
    return rng.integers(0, np.iinfo(info.dtype).max, size=shape, endpoint=True, dtype=info.dtype)


def duck_image(array: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False) -> SimpleNamespace:
    """Message-like object holding ``array`` as bytes, with ``padding`` bytes (0xEE) after each row."""
    ordered = array.astype(array.dtype.newbyteorder(">" if big_endian else "<"))
    rows = ordered.reshape(array.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], padding), 0xEE, np.uint8)], axis=1)
    return SimpleNamespace(
        height=array.shape[0],
        width=array.shape[1],
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=padded.shape[1],
        data=padded.tobytes(),
    )


def test_ros_glue_modules_import_without_rclpy() -> None:
    code = "import sys, ma_trt_ros.ros.image_conversion, ma_trt_ros.ros.pair_sync; "
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'torch')))"
    repo_root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_through_sensor_msgs_image(encoding: str) -> None:
    pytest.importorskip("sensor_msgs")
    array = sample_array(encoding)
    msg = numpy_to_image(array, encoding)
    info = ENCODINGS[encoding]
    assert (msg.height, msg.width, msg.encoding) == (HEIGHT, WIDTH, encoding)
    assert (msg.step, msg.is_bigendian, len(msg.data)) == (WIDTH * info.pixel_bytes, False, msg.step * HEIGHT)
    result = image_to_numpy(msg)
    assert result.dtype == info.dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_numpy_to_image_keeps_header_and_accepts_strided_and_byteswapped_arrays() -> None:
    pytest.importorskip("sensor_msgs")
    from std_msgs.msg import Header

    array = sample_array("mono16")
    header = Header(frame_id="cam0")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = numpy_to_image(array.astype(">u2")[:, ::-1], "mono16", header=header)
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("cam0", 12, 34)
    np.testing.assert_array_equal(image_to_numpy(msg), array[:, ::-1])


def test_image_to_numpy_is_a_view_of_the_message_data() -> None:
    pytest.importorskip("sensor_msgs")
    msg = numpy_to_image(sample_array("rgb8"), "rgb8")
    view = image_to_numpy(msg)
    view[0, 0, 0] = 17
    view[0, 0, 1] = 42
    assert list(msg.data[:2]) == [17, 42]


def test_bytes_data_gives_read_only_view() -> None:
    view = image_to_numpy(duck_image(sample_array("32FC1"), "32FC1"))
    assert not view.flags.writeable
    assert view.base is not None


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_step_padding_is_skipped_without_copy(encoding: str) -> None:
    array = sample_array(encoding, seed=1)
    msg = duck_image(array, encoding, padding=5)
    result = image_to_numpy(msg)
    np.testing.assert_array_equal(result, array)
    assert result.strides[0] == msg.step
    assert np.shares_memory(result, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1", "32FC2"])
def test_big_endian_data_is_converted_to_native_order(encoding: str) -> None:
    array = sample_array(encoding, seed=2)
    result = image_to_numpy(duck_image(array, encoding, padding=3, big_endian=True))
    assert result.dtype == ENCODINGS[encoding].dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_big_endian_flag_is_irrelevant_for_8_bit_data() -> None:
    array = sample_array("bgra8")
    msg = duck_image(array, "bgra8", big_endian=True)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_unknown_encoding_is_rejected_with_the_supported_list() -> None:
    msg = duck_image(sample_array("mono8"), "yuv422")
    with pytest.raises(ImageConversionError, match=r"encoding 'yuv422' is not supported; publish one of rgb8, bgr8"):
        image_to_numpy(msg)


def test_step_shorter_than_a_row_is_rejected() -> None:
    msg = duck_image(sample_array("rgb8"), "rgb8")
    msg.step = WIDTH * 3 - 1
    with pytest.raises(
        ImageConversionError, match=r"step 20 is smaller than width 7 × 3 bytes per pixel \(rgb8\) = 21"
    ):
        image_to_numpy(msg)


@pytest.mark.parametrize("size_change", [-1, 1])
def test_data_size_other_than_step_times_height_is_rejected(size_change: int) -> None:
    msg = duck_image(sample_array("mono16"), "mono16")
    msg.data = msg.data[:-1] if size_change < 0 else msg.data + b"\0"
    with pytest.raises(
        ImageConversionError, match=rf"data holds {70 + size_change} bytes but step × height = 14 × 5 = 70"
    ):
        image_to_numpy(msg)


@pytest.mark.parametrize(
    ("array", "encoding", "message"),
    [
        (np.zeros((4, 4), np.uint8), "rgb8", r"shape \(4, 4\) does not fit 'rgb8': expected \(height, width, 3\)"),
        (np.zeros((4, 4, 1), np.uint8), "mono8", r"expected \(height, width\)"),
        (np.zeros((4, 4, 4), np.uint8), "rgb8", r"expected \(height, width, 3\)"),
        (np.zeros((4, 4), np.float64), "32FC1", r"dtype float64 does not fit '32FC1': expected float32"),
        (np.zeros((4, 4), np.uint8), "16UC1", r"expected uint16"),
    ],
)
def test_arrays_that_do_not_fit_the_encoding_are_rejected(array: np.ndarray, encoding: str, message: str) -> None:
    with pytest.raises(ImageConversionError, match=message):
        to_rgb_float(array, encoding)
    pytest.importorskip("sensor_msgs")
    with pytest.raises(ImageConversionError, match=message):
        numpy_to_image(array, encoding)


def test_two_channel_float_is_not_a_matcher_image() -> None:
    msg = duck_image(sample_array("32FC2"), "32FC2")
    for color in ("rgb", "gray"):
        with pytest.raises(ImageConversionError, match=r"'32FC2' cannot be a matcher image; publish one of rgb8"):
            image_to_matcher_image(msg, color, keep_uint8=True)


COLOUR_PIXELS = {
    "rgb8": [255, 0, 51],
    "bgr8": [51, 0, 255],
    "rgba8": [255, 0, 51, 7],
    "bgra8": [51, 0, 255, 7],
}


@pytest.mark.parametrize("encoding", list(COLOUR_PIXELS))
def test_colour_to_matcher_inputs(encoding: str) -> None:
    pixel = np.array(COLOUR_PIXELS[encoding], np.uint8)
    msg = duck_image(np.tile(pixel, (2, 3, 1)), encoding, padding=2)
    rgb = image_to_matcher_image(msg, "rgb", keep_uint8=False)
    gray = image_to_matcher_image(msg, "gray", keep_uint8=False)
    assert (rgb.shape, rgb.dtype, gray.shape, gray.dtype) == ((2, 3, 3), np.float32, (2, 3), np.float32)
    np.testing.assert_allclose(rgb, np.tile([1.0, 0.0, 0.2], (2, 3, 1)), rtol=1e-6)
    np.testing.assert_allclose(gray, np.full((2, 3), 0.299 + 0.114 * 0.2), rtol=1e-6)


@pytest.mark.parametrize(
    ("encoding", "values", "expected"),
    [
        ("mono8", np.array([[0, 51, 255]], np.uint8), [[0.0, 0.2, 1.0]]),
        ("mono16", np.array([[0, 32768, 65535]], np.uint16), [[0.0, 32768 / 65535, 1.0]]),
        ("16UC1", np.array([[0, 655, 65535]], np.uint16), [[0.0, 655 / 65535, 1.0]]),
        (
            "32FC1",
            np.array([[-0.5, 0.25, 1.5, np.nan, np.inf, -np.inf]], np.float32),
            [[0.0, 0.25, 1.0, 0.0, 1.0, 0.0]],
        ),
    ],
)
def test_single_channel_to_matcher_inputs(encoding: str, values: np.ndarray, expected: list[list[float]]) -> None:
    gray = to_gray_float(values, encoding)
    rgb = to_rgb_float(values, encoding)
    assert (gray.dtype, rgb.dtype, rgb.shape) == (np.float32, np.float32, (*values.shape, 3))
    np.testing.assert_allclose(gray, expected, rtol=1e-6)
    np.testing.assert_array_equal(rgb, np.repeat(gray[..., None], 3, axis=2))


@pytest.mark.parametrize("encoding", list(COLOUR_PIXELS))
def test_colour_bytes_stay_bytes_for_an_rgb_matcher_that_takes_them(encoding: str) -> None:
    array = sample_array(encoding, seed=5)
    kept = to_matcher_image(array, encoding, "rgb", keep_uint8=True)
    assert (kept.dtype, kept.shape) == (np.uint8, (HEIGHT, WIDTH, 3))
    # the same values as the float conversion, once divided by 255
    np.testing.assert_allclose(kept / np.float32(255), to_rgb_float(array, encoding), rtol=1e-6)
    assert np.shares_memory(kept, array)  # a view: the channels reordered, alpha dropped, nothing copied
    # a grey network needs the luma weights: float grey, as without the option
    gray = to_matcher_image(array, encoding, "gray", keep_uint8=True)
    np.testing.assert_array_equal(gray, to_gray_float(array, encoding))


@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_mono8_stays_bytes_for_either_matcher_and_other_depths_become_float(color: str) -> None:
    mono8 = sample_array("mono8", seed=6)
    kept = to_matcher_image(mono8, "mono8", color, keep_uint8=True)
    assert kept.dtype == np.uint8 and kept.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(kept, mono8)
    assert to_matcher_image(mono8, "mono8", color, keep_uint8=False).dtype == np.float32
    for encoding in ("mono16", "32FC1"):
        converted = to_matcher_image(sample_array(encoding, seed=6), encoding, color, keep_uint8=True)
        assert converted.dtype == np.float32 and converted.max() <= 1.0


def test_matcher_inputs_do_not_modify_the_message() -> None:
    array = sample_array("32FC1")
    msg = duck_image(array, "32FC1")
    data = bytes(msg.data)
    assert image_to_matcher_image(msg, "gray", keep_uint8=True).max() <= 1.0
    assert msg.data == data


@pytest.fixture(scope="module")
def rosbags_image() -> ModuleType:
    """rosbags-image, the second opinion (OpenCV based); needs opencv-python(-headless)."""
    return pytest.importorskip("rosbags.image")


@pytest.fixture(scope="module")
def typestore() -> Any:
    """rosbags' Kilted typestore."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def rosbags_message(typestore: Any, array: np.ndarray, encoding: str, big_endian: bool = False) -> Any:
    """rosbags Image holding ``array`` in the given byte order, unpadded (rosbags-image ignores step)."""
    types = typestore.types
    duck = duck_image(array, encoding, big_endian=big_endian)
    header = types["std_msgs/msg/Header"](types["builtin_interfaces/msg/Time"](0, 0), "cam")
    data = np.frombuffer(duck.data, np.uint8)
    return types["sensor_msgs/msg/Image"](header, duck.height, duck.width, encoding, duck.is_bigendian, duck.step, data)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_same_array_as_rosbags_image(
    rosbags_image: ModuleType, typestore: Any, encoding: str, big_endian: bool
) -> None:
    array = sample_array(encoding, seed=3)
    msg = rosbags_message(typestore, array, encoding, big_endian)
    np.testing.assert_array_equal(image_to_numpy(msg), rosbags_image.message_to_cvimage(msg))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_same_matcher_inputs_as_opencv_colour_conversion(
    rosbags_image: ModuleType, typestore: Any, encoding: str
) -> None:
    msg = rosbags_message(typestore, sample_array(encoding, seed=4), encoding)
    reference_rgb = rosbags_image.message_to_cvimage(msg, "rgb8") / 255.0
    reference_gray = rosbags_image.message_to_cvimage(msg, "mono8") / 255.0
    np.testing.assert_allclose(image_to_matcher_image(msg, "rgb", False), reference_rgb, atol=1e-6)
    np.testing.assert_allclose(image_to_matcher_image(msg, "gray", False), reference_gray, atol=0.5 / 255 + 1e-6)


def test_rosbags_and_ours_read_cdr_written_by_rclpy(rosbags_image: ModuleType, typestore: Any) -> None:
    pytest.importorskip("sensor_msgs")
    from rclpy.serialization import serialize_message

    array = sample_array("bgr8", seed=5)
    msg = typestore.deserialize_cdr(serialize_message(numpy_to_image(array, "bgr8")), "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(rosbags_image.message_to_cvimage(msg), array)
    np.testing.assert_array_equal(image_to_numpy(msg), array)
