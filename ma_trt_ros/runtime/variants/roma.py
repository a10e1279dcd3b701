"""RoMa: RGB stretched bicubically to the coarse and upsample squares; warps to pixels; sparse draw.

Each image is stretched (aspect ignored, OpenCV bicubic, pixel centres aligned) to ``coarse x
coarse`` and, for the second pass, ``upsample x upsample``, as upstream does. Outputs are square
``R x R`` grids; the centre of cell (i, j) of image 0's grid is image-0 pixel
``((j + 0.5) · W0 / R, (i + 0.5) · H0 / R)`` and its warp ``(x, y)`` in [-1, 1] is image-1 pixel
``(W1 / 2 · (x + 1), H1 / 2 · (y + 1))`` (``align_corners=False``). The 1→0 outputs are the same
with the images swapped. Sparse matches are drawn from both directions together
(:mod:`ma_trt_ros.runtime.sampling`), as upstream samples from its two-sided warp: here from the
downloaded dense outputs, or on the device by a graph that takes the sampler's inputs
(:data:`~ma_trt_ros.contract.roma.SAMPLER_INPUTS`: the seed's noise, the threshold, the image sizes)
and gives the drawn matches (:data:`~ma_trt_ros.contract.roma.SAMPLED_OUTPUTS`), the same draw.
A camera-input graph exported with uint8 inputs (``camera_dtype`` uint8) gets the images' bytes: 8-bit
images as they are, others rounded to 8 bits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ma_trt_ros.contract.roma import ROMA, SAMPLED_OUTPUTS, SAMPLER_INPUTS
from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.images import stretch, to_bytes, to_nchw, to_rgb
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.result import DenseField, ImageSize
from ma_trt_ros.runtime.sampling import balanced_sample, noise_length, sampler_noise
from ma_trt_ros.runtime.variants.base import DecodedMatches, input_size


def warp_to_pixels(warp: np.ndarray, target: ImageSize) -> np.ndarray:
    """float32 ``[R, R, 2]`` normalised ``(x, y)`` in [-1, 1] -> pixels of the ``target`` image."""
    half = np.array([target.width / 2, target.height / 2], dtype=np.float32)
    return (warp.astype(np.float32) + np.float32(1)) * half


def dense_field(warp: np.ndarray, certainty: np.ndarray, source: ImageSize, target: ImageSize | None) -> DenseField:
    """The dense field of one direction: grid over ``source``, warp in ``target`` pixels (``target`` None:
    ``warp`` is in pixels already)."""
    rows, cols = certainty.shape
    return DenseField(
        warp=warp if target is None else warp_to_pixels(warp, target),
        certainty=np.ascontiguousarray(certainty, dtype=np.float32),
        grid_scale_x=source.width / cols,
        grid_scale_y=source.height / rows,
    )


class RomaIO:
    """Pre/post-processing of RoMa engines (see module docstring)."""

    contract = ROMA

    def __init__(self) -> None:
        self._noise: dict[tuple[int, int], np.ndarray] = {}

    def noise(self, seed: int, length: int) -> np.ndarray:
        """float32 ``[1, length]``: the sampler's read-only noise of ``seed``
        (:func:`~ma_trt_ros.runtime.sampling.sampler_noise`), drawn once per seed and length and then the
        same array object each call (a backend need not upload it again)."""
        key = (seed, length)
        if key not in self._noise:
            self._noise = {key: sampler_noise(seed, length)[None]}
        return self._noise[key]

    def prepare(
        self,
        image0: np.ndarray,
        image1: np.ndarray,
        inputs: Mapping[str, TensorSpec],
        outputs: Mapping[str, TensorSpec],
        options: MatchOptions,
    ) -> dict[str, np.ndarray]:
        rgb = {"image0": to_rgb(image0), "image1": to_rgb(image1)}
        arrays = {}
        for name, spec in inputs.items():
            if name not in SAMPLER_INPUTS:
                width, height = input_size(spec)
                image = stretch(rgb[name.split("_")[0]], width, height, "bicubic")
                arrays[name] = to_nchw(to_bytes(image) if spec.dtype == "uint8" else image)
        if SAMPLER_INPUTS[0] in inputs:
            cells = 2 * outputs["certainty"].shape[1] * outputs["certainty"].shape[2]
            noise = self.noise(options.seed, noise_length(cells, options.num_matches))
            sizes = [image0.shape[1], image0.shape[0], image1.shape[1], image1.shape[0]]
            arrays.update(
                sampler_noise=noise,
                sampler_threshold=np.array([options.certainty_threshold], np.float32),
                image_sizes=np.array([sizes], np.float32),
            )
        return arrays

    def outputs_read(self, outputs: Mapping[str, TensorSpec]) -> tuple[str, ...]:
        """A graph that draws on the device: its draw and the 0->1 dense field in pixels (the 1->0 field and
        the normalised warp stay on the device); otherwise every dense output."""
        if "match_count" in outputs:
            return ("certainty", *SAMPLED_OUTPUTS)
        return ROMA.output_names

    def decode(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: Mapping[str, TensorSpec],
        sizes: tuple[ImageSize, ImageSize],
        options: MatchOptions,
    ) -> DecodedMatches:
        size0, size1 = sizes
        if "match_count" in outputs:  # drawn on the device (SAMPLED_OUTPUTS), the warp in pixels there too
            forward = dense_field(outputs["warp_pixels"], outputs["certainty"], size0, None)
            count = int(outputs["match_count"])
            points0, points1, certainty = (outputs[name][:count] for name in SAMPLED_OUTPUTS[:3])
            return DecodedMatches(points0, points1, certainty, dense=forward)
        forward = dense_field(outputs["warp"], outputs["certainty"], size0, size1)
        backward_warp = outputs["warp_1to0"].reshape(-1, 2)
        cells = forward.certainty.size
        certainty = np.concatenate([forward.certainty.reshape(-1), outputs["certainty_1to0"].reshape(-1)])
        rows, cols = forward.certainty.shape
        backward_scale = np.array([size1.width / cols, size1.height / rows], np.float32)

        def points_of(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(image-0, image-1) pixels of candidates: first the 0->1 cells, then the 1->0 cells."""
            is_forward = indices < cells
            cell = np.where(is_forward, indices, indices - cells)
            centre = np.stack([cell % cols, cell // cols], axis=1).astype(np.float32) + np.float32(0.5)
            grid0 = centre * np.array([forward.grid_scale_x, forward.grid_scale_y], np.float32)
            warped0 = warp_to_pixels(backward_warp[cell], size0)
            warped1 = forward.warp.reshape(-1, 2)[cell]
            points0 = np.where(is_forward[:, None], grid0, warped0)
            points1 = np.where(is_forward[:, None], warped1, centre * backward_scale)
            return points0, points1

        chosen = balanced_sample(
            certainty,
            lambda indices: points_of(indices)[0],
            options.num_matches,
            options.certainty_threshold,
            (size0.width, size0.height),
            self.noise(options.seed, noise_length(certainty.size, options.num_matches))[0],
        )
        points0, points1 = points_of(chosen)
        return DecodedMatches(points0, points1, certainty[chosen], dense=forward)
