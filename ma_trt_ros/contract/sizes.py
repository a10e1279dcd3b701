"""Input sizes of dynamic-size graphs and engines (standard library only).

A dynamic-size graph takes images of any height and width within a :class:`SizeRange` (both
multiples of ``multiple``). Text form, used by the CLI, the ONNX metadata and the sidecar:
``"MIN_HxMIN_W:MAX_HxMAX_W"``, heights first as in NCHW (``"224x224:896x896"``). A TensorRT
engine built from such a graph has an optimisation profile: :class:`ShapeProfile` (``min``/``opt``/
``max`` full input shapes); the runtime sizes its buffers for ``max`` and sets each call's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ma_trt_ros.contract.errors import SidecarError

DEFAULT_SIZE_RANGE_TEXT = "224x224:896x896"
SIZE_MULTIPLE = 32


def parse_size(text: str) -> tuple[int, int]:
    """``"HxW"`` -> ``(height, width)``; ValueError naming the expected form."""
    parts = text.strip().lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"expected HEIGHTxWIDTH in pixels (e.g. 480x640), got {text!r}")
    return int(parts[0]), int(parts[1])


def size_text(height: int, width: int) -> str:
    """``(height, width)`` -> ``"HxW"``."""
    return f"{height}x{width}"


@dataclass(frozen=True)
class SizeRange:
    """Heights in ``[min_height, max_height]`` and widths in ``[min_width, max_width]`` (pixels), each a
    multiple of ``multiple``."""

    min_height: int
    min_width: int
    max_height: int
    max_width: int
    multiple: int = SIZE_MULTIPLE

    def __post_init__(self) -> None:
        bounds = (self.min_height, self.min_width, self.max_height, self.max_width)
        if any(b <= 0 or b % self.multiple for b in bounds):
            raise ValueError(f"size range {self.text()}: every bound must be a positive multiple of {self.multiple}")
        if self.min_height > self.max_height or self.min_width > self.max_width:
            raise ValueError(f"size range {self.text()}: the minimum exceeds the maximum")

    @classmethod
    def parse(cls, text: str, multiple: int = SIZE_MULTIPLE) -> SizeRange:
        """``"MIN_HxMIN_W:MAX_HxMAX_W"`` (or ``"default"`` for :data:`DEFAULT_SIZE_RANGE_TEXT`)."""
        if text.strip().lower() == "default":
            text = DEFAULT_SIZE_RANGE_TEXT
        low, sep, high = text.partition(":")
        if not sep:
            raise ValueError(f"expected MIN_HxMIN_W:MAX_HxMAX_W (e.g. {DEFAULT_SIZE_RANGE_TEXT}), got {text!r}")
        return cls(*parse_size(low), *parse_size(high), multiple=multiple)

    def text(self) -> str:
        return f"{size_text(self.min_height, self.min_width)}:{size_text(self.max_height, self.max_width)}"

    def problem(self, height: int, width: int) -> str | None:
        """Why ``height × width`` is not accepted, in words; None when it is."""
        if height % self.multiple or width % self.multiple:
            return f"{size_text(height, width)} is not a multiple of {self.multiple} on both sides"
        if not (self.min_height <= height <= self.max_height and self.min_width <= width <= self.max_width):
            return f"{size_text(height, width)} is outside {self.text()}"
        return None

    def fit(self, height: int, width: int) -> tuple[int, int]:
        """The network size ``(height, width)`` for a ``height × width`` camera image.

        The image keeps its size when the range allows; a larger one is scaled down to fit the
        maximum, a smaller one up to the minimum (one factor for both sides, so the aspect is kept).
        Each side then goes to the multiple just below or just above (within the range), choosing the
        combination whose aspect ratio is closest to the image's (ties: the larger area): the stretch
        this leaves is at most one multiple per side, and usually far less in aspect.
        """
        scale = min(1.0, self.max_height / height, self.max_width / width)
        scale = max(scale, self.min_height / height, self.min_width / width)
        heights = self._neighbours(height * scale, self.min_height, self.max_height)
        widths = self._neighbours(width * scale, self.min_width, self.max_width)
        aspect = math.log(width / height)
        return min(
            ((h, w) for h in heights for w in widths), key=lambda s: (abs(math.log(s[1] / s[0]) - aspect), -s[0] * s[1])
        )

    def _neighbours(self, value: float, low: int, high: int) -> set[int]:
        """The multiples just below and above ``value``, clamped into ``[low, high]``."""
        below = math.floor(value / self.multiple) * self.multiple
        return {min(max(side, low), high) for side in (below, below + self.multiple)}


def size_range_of(metadata: dict[str, str]) -> SizeRange | None:
    """The size range a graph was exported for (its ``size_range``/``size_multiple`` metadata), None for a
    fixed-size graph."""
    if "size_range" not in metadata:
        return None
    return SizeRange.parse(metadata["size_range"], int(metadata.get("size_multiple", SIZE_MULTIPLE)))


@dataclass(frozen=True)
class ShapeProfile:
    """A TensorRT optimisation profile of one input: full shapes (batch first) it was built for."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ShapeProfile:
        try:
            shapes = [tuple(int(d) for d in data[key]) for key in ("min", "opt", "max")]  # type: ignore[union-attr]
            name = str(data["name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SidecarError(f"profile entry {data!r}: needs name and min/opt/max integer shapes") from exc
        if not all(lo <= op <= hi for lo, op, hi in zip(*shapes, strict=True)) or any(d <= 0 for d in shapes[0]):
            raise SidecarError(f"profile of {name}: min <= opt <= max must hold on every axis, got {shapes}")
        return cls(name, *shapes)

    def size_range(self, multiple: int = SIZE_MULTIPLE) -> SizeRange:
        """The heights and widths (axes 2 and 3 of an NCHW image input) this profile admits."""
        return SizeRange(self.min[2], self.min[3], self.max[2], self.max[3], multiple)

    def text(self) -> str:
        """``name: min 1x1x224x224, opt ..., max ...`` for ``info``."""
        shapes = ", ".join(f"{key} {'x'.join(map(str, getattr(self, key)))}" for key in ("min", "opt", "max"))
        return f"{self.name}: {shapes}"
