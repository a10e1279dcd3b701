"""Conversion between ``sensor_msgs/Image`` messages and numpy arrays, and to the matchers' float inputs.

Messages are duck-typed: anything with ``height, width, encoding, is_bigendian, step, data`` works
(``sensor_msgs.msg.Image`` from rclpy, the Image class of ``rosbags``). rclpy is imported only by
:func:`numpy_to_image`, which builds a real ``sensor_msgs.msg.Image``.

Array conventions: single-channel encodings give ``(height, width)`` arrays, multi-channel ones
``(height, width, channels)``, channels in the order the encoding names them (``bgr8`` → B, G, R).
dtypes: ``*8`` → uint8, ``mono16``/``16UC1`` → uint16, ``32FC*`` → float32, always native byte order.

Matcher inputs (:func:`to_rgb_float`, :func:`to_gray_float`) are float32 in [0, 1]:
- uint8 encodings are divided by 255; ``mono16``/``16UC1`` by 65535 (full 16-bit range, no
  auto-exposure stretch);
- ``32FC1`` is taken as intensity already in [0, 1]: values outside are clipped, NaN becomes 0,
  +inf 1, -inf 0;
- alpha (``rgba8``, ``bgra8``) is dropped; ``bgr8``/``bgra8`` are reordered to RGB;
- grayscale sources give RGB by repeating the channel; colour sources give grayscale with the
  ITU-R BT.601 luma weights ``0.299 R + 0.587 G + 0.114 B`` (as OpenCV's and PIL's RGB→gray);
- ``32FC2`` (two channels, e.g. optical flow) is not an image a matcher can take.

For a matcher that takes uint8 images to its device (``takes_uint8_images``: the torch backend, or an
engine whose camera inputs are uint8),
:func:`to_matcher_image` keeps 8-bit images as bytes wherever the conversion needs no arithmetic: the
R, G, B channels of a colour image for an RGB network, a ``mono8`` image for either network (the
matcher repeats the channel for RGB, exactly); the matcher divides by 255 on the device. A colour
image for a grayscale network still becomes float grey here (the luma weights are arithmetic).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np


class ImageConversionError(ValueError):
    """An image message or array cannot be converted; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class EncodingInfo:
    """Memory layout of one ``sensor_msgs/Image`` encoding.

    Attributes:
        dtype: element type, native byte order.
        channels: values per pixel.
    """

    dtype: np.dtype
    channels: int

    @property
    def pixel_bytes(self) -> int:
        """Bytes per pixel."""
        return self.dtype.itemsize * self.channels

    def array_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Array shape for an image of ``height`` × ``width`` pixels."""
        return (height, width) if self.channels == 1 else (height, width, self.channels)


ENCODINGS: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4),
    "mono8": EncodingInfo(np.dtype(np.uint8), 1),
    "mono16": EncodingInfo(np.dtype(np.uint16), 1),
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1),
    "32FC1": EncodingInfo(np.dtype(np.float32), 1),
    "32FC2": EncodingInfo(np.dtype(np.float32), 2),
}
MATCHER_ENCODINGS: tuple[str, ...] = tuple(name for name in ENCODINGS if name != "32FC2")
BT601_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def encoding_info(encoding: str) -> EncodingInfo:
    """Layout of ``encoding``; raises ImageConversionError naming the supported encodings."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f"encoding {encoding!r} is not supported; publish one of {', '.join(ENCODINGS)} "
            "(convert other encodings upstream, e.g. debayer or YUV→RGB in the camera driver)"
        ) from None


def _checked_buffer(msg: Any, info: EncodingInfo) -> np.ndarray:
    """``msg.data`` as a flat uint8 view, after checking step and size against height and width."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(
            f"image is empty ({width} × {height} pixels); the publisher must send at least one pixel"
        )
    row_bytes = width * info.pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width {width} × {info.pixel_bytes} bytes per pixel ({msg.encoding}) "
            f"= {row_bytes}; the publisher must set step to the row length in bytes (at least {row_bytes})"
        )
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if raw.size != step * height:
        raise ImageConversionError(
            f"data holds {raw.size} bytes but step × height = {step} × {height} = {step * height}; "
            "the message is truncated or its step/height are wrong: fix the publisher"
        )
    return raw


def image_to_numpy(msg: Any) -> np.ndarray:
    """Array view of an image message (see the module docstring for shapes and dtypes).

    Zero-copy when the data is in native byte order: the result is a (possibly strided, when
    ``step`` has padding) view of ``msg.data``, read-only if ``msg.data`` is immutable (``bytes``).
    Data in the other byte order is copied into a native-order array.
    Raises ImageConversionError for an unknown encoding, an empty image (no pixel), ``step`` < width ×
    pixel size or a data size other than ``step × height``.
    """
    info = encoding_info(msg.encoding)
    raw = _checked_buffer(msg, info)
    dtype = info.dtype.newbyteorder(">" if bool(msg.is_bigendian) else "<")
    strides = (int(msg.step), info.pixel_bytes, info.dtype.itemsize)[: 2 if info.channels == 1 else 3]
    array = np.ndarray(info.array_shape(int(msg.height), int(msg.width)), dtype, raw, strides=strides)
    return array if dtype.isnative else array.astype(info.dtype)


def _check_array(array: np.ndarray, encoding: str) -> EncodingInfo:
    """Layout of ``encoding`` after checking that ``array`` has its shape and dtype (any byte order)."""
    info = encoding_info(encoding)
    if array.ndim != (2 if info.channels == 1 else 3) or array.shape[2:] not in ((), (info.channels,)):
        expected = "(height, width)" if info.channels == 1 else f"(height, width, {info.channels})"
        raise ImageConversionError(f"array of shape {array.shape} does not fit {encoding!r}: expected {expected}")
    if array.dtype.newbyteorder("=") != info.dtype:
        raise ImageConversionError(
            f"array of dtype {array.dtype} does not fit {encoding!r}: expected {info.dtype} (convert it with astype)"
        )
    return info


def numpy_to_image(array: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Build a ``sensor_msgs.msg.Image`` (imports rclpy's message types) from ``array``.

    ``array`` must have the shape and dtype of ``encoding`` (any byte order, any strides): e.g.
    ``(H, W, 3)`` uint8 for ``rgb8``, ``(H, W)`` float32 for ``32FC1``. The message has no row
    padding (``step = width × pixel size``), native byte order and ``header`` when one is given.
    """
    from sensor_msgs.msg import Image

    info = _check_array(array, encoding)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == "big"
    msg.step = msg.width * info.pixel_bytes
    msg.data = np.ascontiguousarray(array, dtype=info.dtype).tobytes()
    return msg


def _check_matcher_array(array: np.ndarray, encoding: str) -> EncodingInfo:
    """Layout of ``encoding`` after checking that it is a matcher encoding and fits ``array``."""
    info = _check_array(array, encoding)
    if encoding not in MATCHER_ENCODINGS:
        raise ImageConversionError(
            f"encoding {encoding!r} cannot be a matcher image; publish one of {', '.join(MATCHER_ENCODINGS)}"
        )
    return info


def _normalized(array: np.ndarray) -> np.ndarray:
    """float32 copy of ``array`` scaled to [0, 1] by its dtype (rules in the module docstring)."""
    if array.dtype == np.uint8:
        return np.multiply(array, np.float32(1.0 / 255.0), dtype=np.float32)
    if array.dtype == np.uint16:
        return np.multiply(array, np.float32(1.0 / 65535.0), dtype=np.float32)
    finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(finite, 0.0, 1.0, out=finite)


def _rgb_channels(array: np.ndarray, encoding: str) -> np.ndarray:
    """View of a colour array's R, G, B channels in that order (alpha dropped)."""
    return array[..., 2::-1] if encoding.startswith("bgr") else array[..., :3]


def to_rgb_float(array: np.ndarray, encoding: str) -> np.ndarray:
    """Matcher RGB input: float32 ``(H, W, 3)`` in [0, 1] from an array laid out as ``encoding``."""
    if _check_matcher_array(array, encoding).channels == 1:
        return np.repeat(_normalized(array)[..., None], 3, axis=2)
    return _normalized(_rgb_channels(array, encoding))


def to_gray_float(array: np.ndarray, encoding: str) -> np.ndarray:
    """Matcher grayscale input: float32 ``(H, W)`` in [0, 1] from an array laid out as ``encoding``."""
    if _check_matcher_array(array, encoding).channels == 1:
        return _normalized(array)
    return _normalized(_rgb_channels(array, encoding)) @ BT601_LUMA


def to_matcher_image(array: np.ndarray, encoding: str, color: str, keep_uint8: bool) -> np.ndarray:
    """The matcher's input of an array laid out as ``encoding``, for a network of ``color`` (``"rgb"`` or
    ``"gray"``): with ``keep_uint8``, an 8-bit image whose conversion needs no arithmetic as uint8 (``(H, W, 3)``
    R, G, B views, alpha dropped, or a ``mono8`` ``(H, W)``; see the module docstring); otherwise
    :func:`to_rgb_float` / :func:`to_gray_float`."""
    info = _check_matcher_array(array, encoding)
    if keep_uint8 and info.dtype == np.uint8 and (info.channels == 1 or color == "rgb"):
        return array if info.channels == 1 else _rgb_channels(array, encoding)
    return to_rgb_float(array, encoding) if color == "rgb" else to_gray_float(array, encoding)


def image_to_matcher_image(msg: Any, color: str, keep_uint8: bool) -> np.ndarray:
    """:func:`to_matcher_image` of an image message."""
    return to_matcher_image(image_to_numpy(msg), msg.encoding, color, keep_uint8)
