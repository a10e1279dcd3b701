"""The module handed to the ONNX exporter: fixed inputs/outputs, example inputs and metadata."""

from __future__ import annotations

import torch
from torch import nn

from ma_trt_convert.roma.loading import apply_reference_precision
from ma_trt_convert.roma.network import RomaNetwork
from ma_trt_convert.variants.spec import precision_change
from ma_trt_ros.contract.roma import ROMA

INPUT_NAMES = ROMA.input_names
OUTPUT_NAMES = ROMA.output_names


class RomaExportModule(nn.Module):
    """MatchAnything-RoMa with export-ready inputs and outputs.

    Inputs (``input_names``): ``image0_coarse``, ``image1_coarse`` ``[B, 3, coarse, coarse]`` and, unless
    built without an upsample pass, ``image0_upsample``, ``image1_upsample`` ``[B, 3, up, up]``: fp32 RGB
    in [0, 1], each image stretched (bicubic, aspect ignored) to the square size; no ImageNet
    normalisation.

    Outputs (``output_names``), fp32, ``R`` = upsample_res (or coarse_res without upsampling):

    * ``warp`` ``[B, R, R, 2]``: for the centre of pixel (j, i) of image 0's R×R grid, the matching
      location in image 1, normalised to [-1, 1] with the ``align_corners=False`` convention, x first
      (pixels of an image of width W: ``x_pix = W/2·(x + 1)``);
    * ``certainty`` ``[B, R, R]``: match probability in [0, 1] (0 where the raw flow left the image);
    * ``warp_1to0``, ``certainty_1to0``: the same from image 1 to image 0. The reference computes both
      directions in one batch and samples its matches from both halves of its ``R×2R`` warp, so a
      runtime needs them to reproduce upstream's matches.
    """

    def __init__(self, matcher: RomaNetwork, precision: str = "fp32") -> None:
        super().__init__()
        self.matcher = matcher
        self.precision = precision
        n_inputs = 4 if matcher.upsample_res is not None else 2
        self.input_names: tuple[str, ...] = INPUT_NAMES[:n_inputs]
        self.output_names: tuple[str, ...] = OUTPUT_NAMES

    def set_precision(self, precision: str) -> RomaExportModule:
        """Give the fp32 module the reference's fp16 regions as explicit casts (``"fp16"``); returns self.

        Raises:
            ValueError: an unknown precision, or fp32 asked of an fp16 module (its weights are rounded).
        """
        if not precision_change(self.precision, precision, "RoMa"):
            return self
        apply_reference_precision(self.matcher)
        self.matcher.dinov2.bake_pos_embed(self.matcher.coarse_res)
        self.precision = precision
        return self

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Seeded random images in [0, 1] with the module's input shapes."""
        gen = torch.Generator().manual_seed(0)
        sizes = (self.matcher.coarse_res, self.matcher.coarse_res, self.matcher.upsample_res, self.matcher.upsample_res)
        return tuple(torch.rand(batch, 3, size, size, generator=gen) for size in sizes[: len(self.input_names)])

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """No dynamic axes: the graph takes images at its fixed internal resolutions."""
        return {}

    def metadata(self) -> dict[str, str]:
        """String facts for the ONNX/engine metadata (resolutions, precision, GP solver, conventions)."""
        m = self.matcher
        return {
            "variant": "roma",
            "coarse_res": str(m.coarse_res),
            "upsample_res": "" if m.upsample_res is None else str(m.upsample_res),
            "output_res": str(m.output_res),
            "precision": self.precision,
            "gp_solver": m.gp.solver,
            "gp_iterations": str(m.gp.iterations),
            "inputs": ",".join(self.input_names),
            "outputs": ",".join(self.output_names),
            "input_convention": "RGB float32 in [0,1], stretched bicubic to square, no ImageNet normalisation",
            "warp_convention": "normalised [-1,1], x first, align_corners=False; pixels x_pix = W/2*(x+1)",
            "certainty_convention": "probability in [0,1]; 0 where the flow left [-1,1]",
        }

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """See the class docstring for shapes; returns ``warp, certainty, warp_1to0, certainty_1to0``."""
        batch = inputs[0].shape[0]
        flow, certainty = self.matcher(*inputs)
        warp = flow.permute(0, 2, 3, 1)
        certainty = certainty[:, 0]
        return warp[:batch], certainty[:batch], warp[batch:], certainty[batch:]
