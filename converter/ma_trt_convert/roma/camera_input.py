"""Camera images of any size -> the four fixed-size inputs of :class:`RomaExportModule`, inside the graph.

RoMa's resolutions stay fixed (``coarse x coarse``, ``upsample x upsample``); this module takes the
two camera images at whatever size they come (one ONNX with named dynamic heights and widths, one
TensorRT optimisation profile) and stretches them the way upstream MatchAnything-RoMa does: PyTorch
``F.interpolate(mode="bicubic", align_corners=False)`` on the float image, no antialias, aspect not
kept. Traced to ONNX this is ``Resize(mode="cubic", cubic_coeff_a=-0.75,
coordinate_transformation_mode="half_pixel", exclude_outside=0)`` with fixed output ``sizes``, which
TensorRT's resize layer implements (cubic, coefficient -0.75, half-pixel centres); TensorRT has no
antialiased resize, and none is needed here. Pixel convention: the centre of input pixel ``c`` at
``c + 0.5`` lands at ``(c + 0.5) · R / W`` (per axis), the same mapping the runtime's CPU stretch
uses, so the network-to-pixel factors ``W / R``, ``H / R`` are unchanged.

Input layouts (:data:`LAYOUTS`), RGB, batch fixed, ``H x W`` free per image within the profile:

* ``"uint8_nhwc"``: ``[N, H, W, 3]`` uint8 0..255, the camera's bytes (ROS ``rgb8``): a quarter of
  the float upload; the graph casts and divides by 255 (what the runtime's ``as_float_image`` does).
* ``"float32_nhwc"``: ``[N, H, W, 3]`` float32 in [0, 1], the runtime's current image arrays.
* ``"float32_nchw"``: ``[N, 3, H, W]`` float32 in [0, 1] (the runtime's contract for camera inputs).
* ``"uint8_nchw"``: ``[N, 3, H, W]`` uint8 0..255: the camera's bytes in the contract's NCHW order (the
  runtime hands over a view of the camera image); the graph casts and divides by 255.

Outputs: ``image0_coarse``, ``image1_coarse`` ``[N, 3, coarse, coarse]`` and (with an upsample
pass) ``image0_upsample``, ``image1_upsample`` ``[N, 3, upsample, upsample]``, float32 — exactly the
inputs of :class:`~ma_trt_convert.roma.export_module.RomaExportModule`. Bicubic overshoot is kept
(no clamping), as upstream.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.engine_limits import DEFAULT_OPSET
from ma_trt_ros.contract.roma import ROMA
from ma_trt_ros.contract.sizes import ShapeProfile, SizeRange

LAYOUTS = ("uint8_nhwc", "float32_nhwc", "float32_nchw", "uint8_nchw")
# the layouts of the runtime's contract (NCHW), by the element type a camera-input export takes
CONTRACT_LAYOUTS = {"float32": "float32_nchw", "uint8": "uint8_nchw"}
INPUT_NAMES = tuple(ROMA.size_sources)
# Dynamic dimension names per input (ONNX ``dim_param`` and TensorRT profile keys).
SIZE_NAMES = {"image0": ("height0", "width0"), "image1": ("height1", "width1")}


def stretch_bicubic(image: torch.Tensor, side: int) -> torch.Tensor:
    """``[N, C, H, W]`` float -> ``[N, C, side, side]``: upstream's bicubic stretch (see module docstring)."""
    return F.interpolate(image, size=(side, side), mode="bicubic", align_corners=False)


class RomaCameraInput(nn.Module):
    """Resize inside the graph: two camera images -> RoMa's fixed-size inputs (see module docstring).

    Args:
        coarse_res: pass-1 side in pixels (reference 560).
        upsample_res: pass-2 side (reference 864), or None for a single-pass export.
        layout: one of :data:`LAYOUTS`.
    """

    def __init__(self, coarse_res: int, upsample_res: int | None, layout: str = "uint8_nhwc") -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.sides = (coarse_res,) if upsample_res is None else (coarse_res, upsample_res)
        self.layout = layout
        self.input_names: tuple[str, ...] = INPUT_NAMES
        self.output_names: tuple[str, ...] = ROMA.input_names[: 2 * len(self.sides)]

    @property
    def channels_last(self) -> bool:
        return self.layout.endswith("nhwc")

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8 if self.layout.startswith("uint8") else torch.float32

    def input_shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        """The shape of one camera input of ``height x width`` pixels in this layout."""
        return (batch, height, width, 3) if self.channels_last else (batch, 3, height, width)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``torch.onnx.export``'s ``dynamic_axes``: each image's height and width by name."""
        h_axis, w_axis = (1, 2) if self.channels_last else (2, 3)
        return {name: {h_axis: SIZE_NAMES[name][0], w_axis: SIZE_NAMES[name][1]} for name in self.input_names}

    def profile_shapes(
        self, batch: int, smallest: tuple[int, int], optimal: tuple[int, int], largest: tuple[int, int]
    ) -> tuple[ShapeProfile, ...]:
        """The TensorRT optimisation profile of both inputs from ``(height, width)`` pairs (min, opt, max)."""
        shapes = tuple(self.input_shape(batch, *size) for size in (smallest, optimal, largest))
        return tuple(ShapeProfile(name, *shapes) for name in self.input_names)

    def example_inputs(
        self, sizes: tuple[tuple[int, int], tuple[int, int]], batch: int = 1
    ) -> tuple[torch.Tensor, ...]:
        """Seeded random camera images of ``(height, width)`` ``sizes`` in this layout."""
        gen = torch.Generator().manual_seed(0)
        images = []
        for height, width in sizes:
            values = torch.randint(0, 256, self.input_shape(batch, height, width), generator=gen, dtype=torch.uint8)
            images.append(values if self.dtype == torch.uint8 else values.float() / 255)
        return tuple(images)

    def to_float_nchw(self, image: torch.Tensor) -> torch.Tensor:
        """One camera input -> float32 ``[N, 3, H, W]`` in [0, 1] (uint8 divided by 255).

        The cast comes first: TensorRT takes uint8 only as a network input cast to another type
        (TensorRT-RTX 1.7 refuses a Transpose of uint8).
        """
        image = image.float()
        if self.channels_last:
            image = image.permute(0, 3, 1, 2)
        return image / 255 if self.dtype == torch.uint8 else image

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``image0_coarse, image1_coarse[, image0_upsample, image1_upsample]`` (see module docstring)."""
        images = (self.to_float_nchw(image0), self.to_float_nchw(image1))
        return tuple(stretch_bicubic(image, side) for side in self.sides for image in images)


def export_camera_input(module: RomaCameraInput, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET) -> Path:
    """Trace ``module`` to ONNX at ``path`` with each image's height and width as named dynamic dimensions.

    The resize alone has no variant metadata, so the converter's ``export_onnx`` (which exports it as part
    of :class:`RomaCameraExportModule`) does not take it; this traces it by itself for its tests and the
    resize benchmark (at 480x640 and 479x641, so no size is baked in). Returns ``path`` as a Path.
    """
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            module,
            module.example_inputs(((480, 640), (479, 641))),
            os.fspath(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(module.input_names),
            output_names=list(module.output_names),
            dynamic_axes=module.dynamic_axes(),
        )
    return Path(path)


CAMERA_VALUES = {"float32": "float32 NCHW in [0,1]", "uint8": "uint8 NCHW 0..255 (divided by 255 in the graph)"}
TRACED_SIZE = (480, 640)  # (height, width) of image 0 when tracing (clamped into the range); image 1 one pixel less


class RomaCameraExportModule(nn.Module):
    """RoMa that takes the camera images themselves and resizes them inside the graph (docs/roma_resize.md).

    Inputs ``image0``, ``image1``: ``[N, 3, H, W]`` RGB, float32 in [0, 1] (layout ``float32_nchw``) or the
    camera's uint8 bytes 0..255 (``uint8_nchw``, divided by 255 in the graph), each image its own ``H x W``
    within ``size_range`` (named dynamic axes ``height0``/``width0``, ``height1``/``width1``). Outputs: those
    of :class:`~ma_trt_convert.roma.export_module.RomaExportModule`, whose pixel conventions are unchanged
    (the in-graph stretch maps pixel centres as the runtime's did).

    Args:
        roma: the fixed-size export module.
        size_range: the camera sizes the graph must take (``multiple`` 1: any size in it).
        dtype: the inputs' element type, a key of :data:`CONTRACT_LAYOUTS` (``"float32"``, ``"uint8"``).
    """

    def __init__(self, roma: nn.Module, size_range: SizeRange, dtype: str = "float32") -> None:
        super().__init__()
        self.roma = roma
        self.size_range = size_range
        self.dtype = dtype
        self.resize = RomaCameraInput(roma.matcher.coarse_res, roma.matcher.upsample_res, CONTRACT_LAYOUTS[dtype])
        self.input_names: tuple[str, ...] = self.resize.input_names
        self.output_names: tuple[str, ...] = roma.output_names
        self.traced = self._traced_sizes()

    def _inside(self, size: tuple[int, int]) -> tuple[int, int]:
        r = self.size_range
        return min(max(size[0], r.min_height), r.max_height), min(max(size[1], r.min_width), r.max_width)

    def _traced_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Two different sizes in the range (one pixel apart per side where it allows), so that no image's
        size can stand in for the other's in the trace."""
        height, width = self._inside(TRACED_SIZE)
        step = -1 if (height, width) != (self.size_range.min_height, self.size_range.min_width) else 1
        return (height, width), self._inside((height + step, width + step))

    @property
    def precision(self) -> str:
        return self.roma.precision

    def set_precision(self, precision: str) -> RomaCameraExportModule:
        """See :meth:`RomaExportModule.set_precision`; returns self."""
        self.roma.set_precision(precision)
        return self

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Seeded camera images in [0, 1] of two different sizes (no size may be baked into the trace)."""
        return self.resize.example_inputs(self.traced, batch)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return self.resize.dynamic_axes()

    def metadata(self) -> dict[str, str]:
        """RoMa's metadata plus the camera size range; ``height``/``width`` are image 0's traced size."""
        return {
            **self.roma.metadata(),
            "inputs": ",".join(self.input_names),
            "input_convention": f"camera images, RGB {CAMERA_VALUES[self.dtype]}, any size in size_range; "
            "stretched bicubic (a=-0.75, half-pixel, no antialias) to the coarse and upsample squares inside the graph",
            "size_range": self.size_range.text(),
            "size_multiple": str(self.size_range.multiple),
            "height": str(self.traced[0][0]),
            "width": str(self.traced[0][1]),
        }

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``warp, certainty, warp_1to0, certainty_1to0`` of two camera images (see the class docstring)."""
        return self.roma(*self.resize(image0, image1))
