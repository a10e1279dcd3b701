"""RoMa's sparse draw inside the graph: the runtime's sampler (:mod:`ma_trt_ros.runtime.sampling`) on the device.

:class:`RomaSampledExportModule` runs a RoMa export module (fixed-size or camera-input) and then
:class:`SparseSampling` on its dense outputs, so that only the drawn matches (and the dense field, when
wanted) leave the device. The draw is the runtime's, step for step, with fixed shapes, no host
synchronisation and no tensor made from host values (CUDA-graph capturable; TopK, CumSum,
ScatterElements and Conv also exist in ONNX):

* candidates: the ``M = 2·R²`` cells of both directions, 0→1 first, in cell order;
* step 2: the key of a candidate above the threshold is ``noise[rank] / certainty`` (``rank``: its
  place among those above, a cumulative sum), others ``+inf``; the ``4·num`` smallest by TopK;
* density: the image-0 histogram of the drawn points (scatter-add), smoothed in float64 by the
  runtime's kernel (two 1-D convolutions, zero border), scaled, cast to float32;
* step 3: keys ``noise[n_above + j] / weight_j``; the ``num`` smallest by TopK.

Same noise, same draw: the keys are the same float32 quotients as the runtime's, so the chosen indices
agree except where two keys are equal (TopK and numpy order ties differently; test_device_sampling
bounds it). Pixels follow :mod:`ma_trt_ros.runtime.variants.roma` (grid centres at ``(j + 0.5) · W / R``,
warps ``(x + 1) · W / 2``), the scales rounded from float64 to float32 as numpy does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_ros.contract.roma import SAMPLED_OUTPUTS, SAMPLER_INPUTS
from ma_trt_ros.runtime.sampling import (
    DENSITY_SCALE,
    HISTOGRAM_BINS,
    ISOLATED_FACTOR,
    MIN_NEIGHBOURS,
    OVERSAMPLE,
    density_kernel,
    noise_length,
    sampler_noise,
)

EXAMPLE_MATCHES = 5000  # the runtime's default num_matches: the example inputs' noise is that long


def _smallest(keys: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, k]`` of the ``k`` smallest ``keys`` ``[B, n]`` per row, smallest first."""
    return torch.topk(keys, k, dim=1, largest=False, sorted=True).indices


class SparseSampling(nn.Module):
    """The runtime's balanced draw on the device (see module docstring); no parameters."""

    def __init__(self) -> None:
        super().__init__()
        kernel = torch.from_numpy(density_kernel())
        self.register_buffer("kernel", kernel, persistent=False)

    def density(self, points0: torch.Tensor, valid: torch.Tensor, size0: torch.Tensor) -> torch.Tensor:
        """float32 ``[B, n]`` smoothed neighbour counts of image-0 pixels ``[B, n, 2]`` (``valid`` ones counted)
        in images of ``size0`` ``[B, 2]`` (width, height)."""
        bins = HISTOGRAM_BINS
        cell = (points0 / size0[:, None, :] * bins).long().clamp(0, bins - 1)
        flat = cell[..., 1] * bins + cell[..., 0]
        counts = torch.zeros(flat.shape[0], bins * bins, dtype=torch.float64, device=flat.device)
        counts.scatter_add_(1, flat, valid.double())
        size = self.kernel.numel()
        smooth = F.conv2d(counts.reshape(-1, 1, bins, bins), self.kernel.reshape(1, 1, size, 1), padding=(size // 2, 0))
        smooth = F.conv2d(smooth, self.kernel.reshape(1, 1, 1, size), padding=(0, size // 2))
        smooth = (smooth.reshape(-1, bins * bins) * DENSITY_SCALE).float()
        return smooth.gather(1, flat) - 1.0

    def forward(
        self,
        warp: torch.Tensor,
        certainty: torch.Tensor,
        warp_1to0: torch.Tensor,
        certainty_1to0: torch.Tensor,
        noise: torch.Tensor,
        threshold: torch.Tensor,
        sizes: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """``points0, points1`` float32 ``[B, num, 2]``, ``match_certainty`` ``[B, num]``, ``match_count`` int64
        ``[B]``, and ``warp_pixels`` ``[B, R, R, 2]`` (``warp`` in image-1 pixels, the dense field's).

        Args: the dense outputs (``warp`` ``[B, R, R, 2]``, ``certainty`` ``[B, R, R]``, float32), ``noise``
        float32 ``[B, 2·R² + 4·num]``, ``threshold`` float32 ``[B]``, ``sizes`` float32 ``[B, 4]``
        (width0, height0, width1, height1). Entries past ``match_count`` are zero.
        """
        batch, rows, cols = certainty.shape
        cells = rows * cols
        scores = torch.cat((certainty.reshape(batch, -1), certainty_1to0.reshape(batch, -1)), dim=1).float()
        num = max(0, (noise.shape[1] - 2 * cells) // OVERSAMPLE)
        first = min(OVERSAMPLE * num, 2 * cells)
        above = scores > threshold[:, None]
        n_above = above.sum(dim=1, keepdim=True)
        rank = (torch.cumsum(above, dim=1) - 1).clamp(min=0)
        drawn = _smallest(torch.where(above, noise.gather(1, rank) / scores, math.inf), first)
        valid = torch.arange(first, device=scores.device) < n_above  # the first min(4·num, n_above) are real

        grid = rows, cols
        wide = sizes.double()
        cell_scale = torch.stack((wide[:, 0::2] / cols, wide[:, 1::2] / rows), dim=2).float()  # [B, image, (x, y)]
        half = sizes.reshape(batch, 2, 2) / 2
        forward_warp = (warp.reshape(batch, -1, 2) + 1) * half[:, 1:2]
        backward_warp = warp_1to0.reshape(batch, -1, 2)

        def points_of(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            is_forward = (index < cells)[..., None]
            cell = torch.where(is_forward[..., 0], index, index - cells)
            centre = torch.stack((cell % grid[1], cell // grid[1]), dim=2).float() + 0.5
            rows_of = cell[..., None].expand(-1, -1, 2)
            warped0 = (backward_warp.gather(1, rows_of) + 1) * half[:, 0:1]
            warped1 = forward_warp.gather(1, rows_of)
            points0 = torch.where(is_forward, centre * cell_scale[:, 0:1], warped0)
            points1 = torch.where(is_forward, warped1, centre * cell_scale[:, 1:2])
            return points0, points1

        density = self.density(points_of(drawn)[0], valid, sizes[:, :2])
        weights = 1.0 / (1.0 + density.clamp(min=0.0))
        weights = torch.where(density < MIN_NEIGHBOURS, weights * ISOLATED_FACTOR, weights)
        second = noise.gather(1, (n_above + torch.arange(first, device=noise.device)).clamp(max=noise.shape[1] - 1))
        picked = _smallest(torch.where(valid, second / weights, math.inf), min(num, first))
        chosen = drawn.gather(1, picked)
        count = valid.sum(dim=1).clamp(max=num)
        keep = torch.arange(chosen.shape[1], device=chosen.device) < count[:, None]
        points0, points1 = points_of(chosen)
        return (
            torch.where(keep[..., None], points0, 0.0),
            torch.where(keep[..., None], points1, 0.0),
            torch.where(keep, scores.gather(1, chosen), 0.0),
            count,
            forward_warp.reshape(warp.shape),
        )


class RomaSampledExportModule(nn.Module):
    """A RoMa export module followed by :class:`SparseSampling` (see module docstring).

    Inputs: the inner module's, then :data:`~ma_trt_ros.contract.roma.SAMPLER_INPUTS`; outputs: its
    dense outputs, then :data:`~ma_trt_ros.contract.roma.SAMPLED_OUTPUTS`. The noise length sets the
    number of matches (``noise_length(2·R², num)``): one CUDA graph per length.
    """

    def __init__(self, roma: nn.Module) -> None:
        super().__init__()
        self.roma = roma
        self.sampling = SparseSampling()
        self.input_names: tuple[str, ...] = (*roma.input_names, *SAMPLER_INPUTS)
        self.output_names: tuple[str, ...] = (*roma.output_names, *SAMPLED_OUTPUTS)

    @property
    def precision(self) -> str:
        return self.roma.precision

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """The inner module's example images plus the sampler inputs of :data:`EXAMPLE_MATCHES` at seed 0."""
        images = self.roma.example_inputs(batch)
        side = self.roma_output_side()
        noise = torch.from_numpy(sampler_noise(0, noise_length(2 * side * side, EXAMPLE_MATCHES)).copy())
        height, width = images[0].shape[-2:]
        sizes = torch.tensor([float(width), float(height)] * 2).expand(batch, 4)
        return (*images, noise.expand(batch, -1).contiguous(), torch.full((batch,), 0.05), sizes.contiguous())

    def roma_output_side(self) -> int:
        """``R``, the side of the dense output grid."""
        return int(self.roma.metadata()["output_res"])

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The inner module's, the noise length, and the drawn outputs' match axis (set by the noise length)."""
        drawn = {name: {1: "num_matches"} for name in SAMPLED_OUTPUTS[:3]}
        return {**self.roma.dynamic_axes(), "sampler_noise": {1: "noise_length"}, **drawn}

    def metadata(self) -> dict[str, str]:
        return {**self.roma.metadata(), "inputs": ",".join(self.input_names), "outputs": ",".join(self.output_names)}

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The inner module's outputs, then the drawn matches (see :meth:`SparseSampling.forward`)."""
        images, (noise, threshold, sizes) = inputs[:-3], inputs[-3:]
        dense = tuple(self.roma(*images))
        return (*dense, *self.sampling(*dense, noise, threshold, sizes))


def with_device_sampling(module: nn.Module) -> RomaSampledExportModule:
    """``module`` (a RoMa export module) followed by the device draw."""
    return RomaSampledExportModule(module)
