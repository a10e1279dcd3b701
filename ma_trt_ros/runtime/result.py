"""What a matcher returns for one image pair: sparse matches, optional dense field, timings.

Pixel convention (both images, every field): continuous pixel coordinates of the images *as given to
the matcher* (before any resize for the network), origin at the top-left corner of the top-left
pixel, x to the right, y down; the centre of pixel (column c, row r) is ``(c + 0.5, r + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageSize:
    """Width and height of an image in pixels."""

    width: int
    height: int


@dataclass(frozen=True)
class DenseField:
    """A dense correspondence from image 0 to image 1 on a regular grid over image 0 (RoMa).

    Attributes:
        warp: float32 ``[Hg, Wg, 2]``: for the centre of grid cell (row i, column j) of image 0, the
            matching point ``(x1, y1)`` in image-1 pixels.
        certainty: float32 ``[Hg, Wg]`` in [0, 1]: probability that the warp of the cell is right.
        grid_scale_x, grid_scale_y: image-0 pixels per grid column / row; the centre of cell (i, j)
            is at ``x0 = (j + 0.5) * grid_scale_x``, ``y0 = (i + 0.5) * grid_scale_y``.
    """

    warp: np.ndarray
    certainty: np.ndarray
    grid_scale_x: float
    grid_scale_y: float

    def cell_centres(self) -> np.ndarray:
        """float32 ``[Hg, Wg, 2]``: image-0 pixel ``(x0, y0)`` of every cell centre."""
        rows, cols = self.certainty.shape
        xs = (np.arange(cols, dtype=np.float32) + 0.5) * np.float32(self.grid_scale_x)
        ys = (np.arange(rows, dtype=np.float32) + 0.5) * np.float32(self.grid_scale_y)
        grid_x, grid_y = np.meshgrid(xs, ys)
        return np.stack([grid_x, grid_y], axis=-1)

    def thinned(self, stride: int) -> DenseField:
        """The field on a grid ``stride`` times coarser in both directions (``stride`` divides the grid).

        Each coarse cell takes the values at its own centre: the middle fine cell for an odd stride,
        the mean of the 2 x 2 middle fine cells (bilinear interpolation at the centre) for an even
        one. The grid scales grow by ``stride``, so the cell-centre formula keeps holding.

        Raises:
            ValueError: ``stride`` < 1 or not a divisor of both grid dimensions (the message names
                the divisors that work).
        """
        rows, cols = self.certainty.shape
        if stride < 1 or rows % stride or cols % stride:
            valid = [d for d in range(1, min(rows, cols) + 1) if rows % d == 0 and cols % d == 0]
            raise ValueError(f"dense stride {stride} does not divide the {rows}x{cols} grid; use one of {valid}")
        if stride == 1:
            return self
        middle = stride // 2
        picks = [middle] if stride % 2 else [middle - 1, middle]

        def centre_values(values: np.ndarray) -> np.ndarray:
            blocks = values.reshape(rows // stride, stride, cols // stride, stride, *values.shape[2:])
            return blocks[:, picks][:, :, :, picks].mean(axis=(1, 3), dtype=np.float32)

        return DenseField(
            warp=centre_values(self.warp),
            certainty=centre_values(self.certainty),
            grid_scale_x=self.grid_scale_x * stride,
            grid_scale_y=self.grid_scale_y * stride,
        )


@dataclass(frozen=True)
class MatchResult:
    """The matches of one pair.

    Attributes:
        variant: ``"roma"`` or ``"eloftr"``.
        image0, image1: sizes of the two images as given.
        points0, points1: float32 ``[N, 2]`` ``(x, y)`` of match k in image 0 / image 1, pixels.
        confidence: float32 ``[N]`` in [0, 1] (ELoFTR: coarse dual-softmax confidence; RoMa: certainty
            of the warp at the sampled cell).
        dense: the dense field (RoMa), None for semi-dense variants.
        truncated: True when the engine's fixed match budget dropped matches (ELoFTR ``num_valid`` >
            rows); the least confident ones were dropped.
        timing_ms: stage name -> milliseconds (``preprocess``, ``inference``, ``postprocess``, and the
            backend's own stages such as ``upload``, ``execute``, ``download``).
    """

    variant: str
    image0: ImageSize
    image1: ImageSize
    points0: np.ndarray
    points1: np.ndarray
    confidence: np.ndarray
    dense: DenseField | None = None
    truncated: bool = False
    timing_ms: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of matches N."""
        return int(self.points0.shape[0])
