"""Image preparation for the networks (numpy + OpenCV, no PyTorch).

Accepted images: ``[H, W]`` grayscale or ``[H, W, 3]`` RGB, float32 in [0, 1] (what
:mod:`ma_trt_ros.ros.image_conversion` gives) or uint8 (divided by 255). Colour conversion uses the
ITU-R BT.601 luma weights (as OpenCV and PIL do).

uint8 images may also pass through as they are, for a backend or graph that converts them on its device
(:func:`checked_image` with ``keep_uint8``): :func:`to_rgb` and :func:`to_nchw` keep their bytes (a
grey channel repeated is exact), while :func:`to_gray` of a colour image and a :func:`stretch` that
resizes convert them to float first, so the network sees the same values either way. A graph whose
image inputs are uint8 gets float images rounded to 8 bits (:func:`to_bytes`).

Resizing stretches the whole image to the network size (aspect ratio not kept) with OpenCV, pixel
centres aligned (``align_corners=False``): the point ``x`` (continuous pixels, centre of pixel ``c`` at
``c + 0.5``) of an image ``W`` wide lands at ``x · W_net / W``. So network coordinates map back per
axis by ``W / W_net`` and ``H / H_net`` exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from ma_trt_ros.runtime.errors import InputError

# OpenCV interpolation per network: bicubic for RoMa (upstream stretches with bicubic interpolation),
# bilinear for ELoFTR (upstream LoFTR-family loaders call cv2.resize with its default, INTER_LINEAR).
INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}


def as_float_image(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as float32 in [0, 1] (uint8 / 255), checked: 2-D, or 3-D with 1 or 3 channels, not empty.

    Raises:
        InputError: naming ``name`` and what is wrong.
    """
    return checked_image(image, name, keep_uint8=False)


def checked_image(image: np.ndarray, name: str, keep_uint8: bool) -> np.ndarray:
    """``image`` checked as :func:`as_float_image` checks it: float32 in [0, 1], or with ``keep_uint8`` a
    uint8 image as it is (a ``[H, W, 1]`` image as ``[H, W]``), for a backend that converts on its device.

    Raises:
        InputError: naming ``name`` and what is wrong.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise InputError(f"{name}: expected [H, W] grayscale or [H, W, 3] RGB, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{name}: empty image {image.shape}")
    if image.dtype == np.uint8:
        return image if keep_uint8 else uint8_to_float(image)
    if image.dtype != np.float32:
        raise InputError(f"{name}: dtype {image.dtype} is not supported; give float32 in [0, 1] or uint8")
    return image


def uint8_to_float(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] of a uint8 image (divided by 255)."""
    return image.astype(np.float32) / np.float32(255)


def as_floats(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] of a checked image: a uint8 one by :func:`uint8_to_float`, a float32 one as it is."""
    return uint8_to_float(image) if image.dtype == np.uint8 else image


def to_bytes(image: np.ndarray) -> np.ndarray:
    """uint8 0..255 of an image for a graph that takes bytes: a uint8 image unchanged, a float32 one in [0, 1]
    rounded to 8 bits (values outside clipped)."""
    if image.dtype == np.uint8:
        return image
    return np.rint(np.clip(image, 0.0, 1.0) * np.float32(255)).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """``[H, W]``: RGB ``[H, W, 3]`` through the BT.601 luma weights (0.299, 0.587, 0.114; OpenCV's
    conversion, a third of the time of a matrix product) as float32 (uint8 RGB converted to float
    first); grayscale unchanged (uint8 stays uint8)."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(as_floats(image), cv2.COLOR_RGB2GRAY)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` of the image's dtype: grayscale repeated into three channels; RGB unchanged."""
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def stretch(image: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    """``image`` (``[H, W]`` or ``[H, W, C]``, float32 or uint8) stretched to ``height`` x ``width`` (see module
    docstring): unchanged when it has that size already, otherwise resized as float32 (uint8 converted first)."""
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(as_floats(image), (width, height), interpolation=INTERPOLATIONS[interpolation])


def to_nchw(image: np.ndarray) -> np.ndarray:
    """``[1, C, H, W]`` of a float32 ``[H, W]`` or ``[H, W, C]`` image, without a copy: for ``[H, W, C]`` a
    transposed view (not C-contiguous). Backends copy inputs into their own buffers, in whatever order
    they read them best (the torch backend uploads the image's own layout and transposes on the device)."""
    planes = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return planes[None]


def read_image(path: str) -> np.ndarray:
    """An image file as float32 in [0, 1]: ``[H, W, 3]`` RGB for colour files, ``[H, W]`` for grayscale
    (8-bit / 255, 16-bit / 65535, e.g. thermal PNGs); alpha is dropped.

    Raises:
        InputError: the file is missing or not an image OpenCV can read.
    """
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: missing or not an image OpenCV can read")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535)
    if image.dtype == np.uint8:
        return uint8_to_float(image)
    raise InputError(f"{path}: {image.dtype} pixels are not supported; use 8- or 16-bit images")
