"""Image preparation: conversions, the stretch convention, and our OpenCV resize measured against the
resize upstream uses (PyTorch bicubic / bilinear, align_corners=False, no antialias)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ma_trt_ros.runtime import InputError
from ma_trt_ros.runtime.images import read_image, stretch, to_gray, to_nchw, to_rgb

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Measured on a seeded smooth texture (values in [0, 1]), 640x480 -> 560x560 / 864x864, 2026-12-01,
# OpenCV 5.0 float32 vs torch 2.13 F.interpolate(align_corners=False, no antialias): max 1.1e-5, mean
# 8e-7 for both modes and both sizes (the same kernels: OpenCV's and PyTorch's bicubic use a = -0.75);
# vs PIL's BICUBIC (romatch's own `match()` path; a = -0.5 and a support widened when shrinking):
# max 0.0137, mean 0.0023. The bounds are those figures rounded up (docs/runtime.md).
TORCH_BOUNDS = (2e-5, 2e-6)
PIL_BOUNDS = (0.02, 0.003)
SIZES = {"down": (560, 560), "up": (864, 864)}


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 1, width // 8 + 1, 3), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


@pytest.mark.parametrize("case", list(SIZES))
@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_opencv_resize_against_torch(mode: str, case: str) -> None:
    image, size = _texture(480, 640), SIZES[case]
    ours = to_nchw(stretch(image, size[1], size[0], mode))
    theirs = F.interpolate(torch.from_numpy(to_nchw(image)), size=size, mode=mode, align_corners=False).numpy()
    diff = np.abs(ours - theirs)
    print(f"torch {mode} {case} 640x480 -> {size}: max {diff.max():.2e}, mean {diff.mean():.2e}")
    assert diff.max() <= TORCH_BOUNDS[0] and diff.mean() <= TORCH_BOUNDS[1]


@pytest.mark.parametrize("case", list(SIZES))
def test_opencv_bicubic_against_pil(case: str) -> None:
    from PIL import Image

    image, size = _texture(480, 640), SIZES[case]
    ours = stretch(image, size[1], size[0], "bicubic")
    channels = [Image.fromarray(image[..., c], mode="F").resize(size[::-1], Image.BICUBIC) for c in range(3)]
    diff = np.abs(ours - np.stack([np.asarray(c) for c in channels], axis=-1))
    print(f"PIL bicubic {case} 640x480 -> {size}: max {diff.max():.2e}, mean {diff.mean():.2e}")
    assert diff.max() <= PIL_BOUNDS[0] and diff.mean() <= PIL_BOUNDS[1]


def test_stretch_aligns_pixel_centres() -> None:
    ramp = np.tile(np.arange(100, dtype=np.float32) + 0.5, (4, 1))  # value = continuous x of the pixel centre
    wide = stretch(ramp, 250, 4, "bilinear")
    centres = (np.arange(250, dtype=np.float32) + 0.5) * 100 / 250  # x in the source of each new centre
    inner = (centres > 0.5) & (centres < 99.5)
    np.testing.assert_allclose(wide[0, inner], centres[inner], atol=1e-4)


def test_colour_conversions() -> None:
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0
    np.testing.assert_allclose(to_gray(rgb), 0.299, atol=1e-6)
    gray = np.full((2, 3), 0.25, np.float32)
    assert to_rgb(gray).shape == (2, 3, 3) and np.all(to_rgb(gray) == 0.25)
    assert to_nchw(gray).shape == (1, 1, 2, 3) and to_nchw(rgb).shape == (1, 3, 2, 2)


def test_read_image_8_and_16_bit(tmp_path: Path) -> None:
    bgr = np.zeros((3, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    thermal = np.full((3, 4), 65535 // 2, np.uint16)
    cv2.imwrite(str(tmp_path / "t.png"), thermal)
    colour, heat = read_image(str(tmp_path / "c.png")), read_image(str(tmp_path / "t.png"))
    assert colour.shape == (3, 4, 3) and colour[0, 0].tolist() == [0.0, 0.0, 1.0]
    assert heat.shape == (3, 4) and heat.dtype == np.float32
    np.testing.assert_allclose(heat, 0.5, atol=1e-4)
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        read_image(str(tmp_path / "x.png"))
