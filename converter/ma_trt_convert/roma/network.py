"""The MatchAnything-RoMa test-time pipeline as one export-ready module.

Pass 1 runs at the coarse resolution on both images (DINOv2 at scale 16, VGG19-BN at scales 8…1),
symmetrically: the two images form a batch of ``2B`` whose second half is matched against the first
(image 0 → image 1 for rows ``:B``, image 1 → image 0 for rows ``B:``). Scale 16 projects the features,
runs the GP and the coordinate decoder, then every scale refines flow and certainty with its conv
refiner and hands them, bilinearly upsampled, to the next. Pass 2 (optional) repeats scales 8…1 on
VGG features of the upsample-resolution images, starting from pass 1's final flow and certainty.
The certainty logit is attenuated by pass 1's negative scale-16 certainty, squashed with a sigmoid,
zeroed where the flow leaves [-1, 1], and the flow is clamped to [-1, 1].

All shapes are fixed when the module is built; the forward pass has no data-dependent control
flow, no boolean indexing and no dense inverse.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.roma.coordinate_decoder import CoordinateDecoder
from ma_trt_convert.roma.dinov2 import DinoV2Large
from ma_trt_convert.roma.gp import GaussianProcess
from ma_trt_convert.roma.precision import batch_norm_fp32
from ma_trt_convert.roma.refiner import ConvRefiner
from ma_trt_convert.roma.vgg import VGG19BNFeatures

SCALES = (16, 8, 4, 2, 1)
UPSAMPLE_SCALES = (8, 4, 2, 1)
REFINE_INIT = 4
ATTENUATION_FACTOR = 0.5
# (input channels, output channels) of the 1×1 projection per scale.
PROJECTIONS = {16: (1024, 512), 8: (512, 512), 4: (256, 256), 2: (128, 64), 1: (64, 9)}
# (input = hidden channels, displacement-embedding channels, local-correlation radius) per scale.
REFINERS = {16: (1377, 128, 7), 8: (1137, 64, 3), 4: (569, 32, 2), 2: (144, 16, None), 1: (24, 6, None)}


def _projection(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_dim, out_dim, 1, 1), nn.BatchNorm2d(out_dim))


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """``[A; B]`` → ``[B; A]`` along the batch axis (the other image of every symmetric pair)."""
    half = t.shape[0] // 2
    return torch.cat((t[half:], t[:half]), dim=0)


def _resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)


def finish(
    flow: torch.Tensor, certainty: torch.Tensor, certainty_16: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's last steps: attenuate, sigmoid, zero where the flow left the image, clamp.

    Args:
        flow: ``[N, 2, R, R]`` fp32 normalised flow of the last pass.
        certainty: ``[N, 1, R, R]`` certainty logits of the last pass.
        certainty_16: ``[N, 1, g, g]`` pass-1 logits after the scale-16 refiner.

    Returns:
        ``(flow clamped to [-1, 1], probability)``; the probability is
        ``sigmoid(certainty − 0.5·min(resize(certainty_16), 0))``, set to 0 where ``|flow_x|`` or
        ``|flow_y|`` exceeds 1.
    """
    res = tuple(flow.shape[-2:])
    attenuation = ATTENUATION_FACTOR * torch.clamp(_resize(certainty_16, res), max=0.0)
    probability = torch.sigmoid(certainty - attenuation)
    inside = flow.abs().amax(dim=1, keepdim=True) <= 1
    probability = torch.where(inside, probability, torch.zeros_like(probability))
    return torch.clamp(flow, -1.0, 1.0), probability


class RomaNetwork(nn.Module):
    """MatchAnything-RoMa dense matcher for square inputs of fixed size.

    Sub-modules and their checkpoint keys (after the prefix mapping in :mod:`.loading`):
    ``dinov2`` (the DINOv2 file), ``vgg`` (``encoder.cnn``), ``proj`` (``decoder.proj``), ``gp``
    (``decoder.gps.16``), ``coordinate_decoder`` (``decoder.embedding_decoder``) and ``refiners``
    (``decoder.conv_refiner``).

    Args:
        coarse_res: pass-1 side length in pixels (multiple of 14 and of 8).
        upsample_res: pass-2 side length (multiple of 8), or None for a single pass.
        gp_solver, gp_iterations: see :class:`~ma_trt_convert.roma.gp.GaussianProcess`.
    """

    def __init__(self, coarse_res: int, upsample_res: int | None, gp_solver: str, gp_iterations: int) -> None:
        super().__init__()
        if coarse_res % 14 or coarse_res % 8:
            raise ValueError(f"coarse_res {coarse_res} must be a multiple of 14 and of 8 (e.g. 560)")
        if upsample_res is not None and upsample_res % 8:
            raise ValueError(f"upsample_res {upsample_res} must be a multiple of 8 (e.g. 864)")
        self.coarse_res = coarse_res
        self.upsample_res = upsample_res
        self.dinov2 = DinoV2Large()
        self.vgg = VGG19BNFeatures()
        self.proj = nn.ModuleDict({str(s): _projection(*PROJECTIONS[s]) for s in SCALES})
        self.gp = GaussianProcess(gp_solver, gp_iterations)
        self.coordinate_decoder = CoordinateDecoder()
        self.refiners = nn.ModuleDict(
            {str(s): ConvRefiner(dim, dim, emb, radius) for s, (dim, emb, radius) in REFINERS.items()}
        )

    @property
    def output_res(self) -> int:
        """Side length of the output warp and certainty."""
        return self.upsample_res if self.upsample_res is not None else self.coarse_res

    def project(self, scale: int, features: torch.Tensor) -> torch.Tensor:
        """1×1 conv (weight dtype) + BatchNorm (fp32, or folded into the conv) of one scale; returns the conv dtype."""
        conv, norm = self.proj[str(scale)]
        return batch_norm_fp32(norm, conv(features.to(conv.weight.dtype)))

    def refine(
        self,
        scale: int,
        features: torch.Tensor,
        flow: torch.Tensor,
        certainty: torch.Tensor,
        full_res: int,
        scale_factor: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the refiner of one scale.

        Args:
            scale: 16, 8, 4, 2 or 1.
            features: ``[2B, C, h, w]`` projected features of both images (image-0 rows first).
            flow: ``[2B, 2, h, w]`` fp32 normalised coordinates in the other image.
            certainty: ``[2B, 1, h, w]`` certainty logits.
            full_res: side length of the pass's input; the refiner's Δflow becomes ``scale·Δ/(4·full_res)``.
            scale_factor: 1 in pass 1, ``sqrt(upsample² / coarse²)`` in pass 2 (see :class:`ConvRefiner`).

        Returns:
            Updated ``(flow, certainty)``, fp32.
        """
        delta_flow, delta_certainty = self.refiners[str(scale)](features, _swap_halves(features), flow, scale_factor)
        step = torch.stack(
            (delta_flow[:, 0] / (REFINE_INIT * full_res), delta_flow[:, 1] / (REFINE_INIT * full_res)), dim=1
        )
        return flow + scale * step, certainty + delta_certainty

    def refine_vgg_scales(
        self,
        vgg: tuple[torch.Tensor, ...],
        flow: torch.Tensor,
        certainty: torch.Tensor,
        full_res: int,
        scale_factor: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scales 8 → 1: project, refine, upsample to the next scale.

        Args:
            vgg: VGG features at scales 1, 2, 4, 8 of ``[2B, 3, full_res, full_res]`` images.
            flow, certainty: fp32 flow ``[2B, 2, h8, w8]`` and logits ``[2B, 1, h8, w8]`` on the scale-8 grid.

        Returns:
            ``(flow [2B, 2, full_res, full_res], certainty [2B, 1, full_res, full_res])`` fp32.
        """
        by_scale = dict(zip((1, 2, 4, 8), vgg, strict=True))
        for scale in UPSAMPLE_SCALES:
            flow, certainty = self.refine(
                scale, self.project(scale, by_scale[scale]), flow, certainty, full_res, scale_factor
            )
            if scale != 1:
                size = tuple(by_scale[scale // 2].shape[-2:])
                flow, certainty = _resize(flow, size), _resize(certainty, size)
        return flow, certainty

    def coarse_pass(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pass 1 on ``[2B, 3, coarse, coarse]`` (image-0 rows then image-1 rows).

        Returns:
            ``(flow [2B, 2, coarse, coarse], certainty [2B, 1, coarse, coarse], certainty_16 [2B, 1, g, g])``,
            fp32 logits; ``certainty_16`` is the certainty after the scale-16 refiner (``g = coarse/14``).
        """
        vgg = self.vgg(images)
        x16 = self.project(16, self.dinov2(images))
        flow, certainty = self.coordinate_decoder(self.gp(x16, _swap_halves(x16)), x16)
        flow, certainty_16 = self.refine(16, x16, flow, certainty, self.coarse_res, 1.0)
        size = tuple(vgg[3].shape[-2:])
        flow, certainty = self.refine_vgg_scales(
            vgg, _resize(flow, size), _resize(certainty_16, size), self.coarse_res, 1.0
        )
        return flow, certainty, certainty_16

    def fine_pass(
        self, images: torch.Tensor, flow: torch.Tensor, certainty: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pass 2 on ``[2B, 3, up, up]`` starting from pass 1's full-resolution flow and certainty.

        Returns:
            ``(flow [2B, 2, up, up], certainty [2B, 1, up, up])`` fp32.
        """
        if self.upsample_res is None:
            raise RuntimeError("fine_pass needs a matcher built with upsample_res")
        vgg = self.vgg(images)
        size = tuple(vgg[3].shape[-2:])
        scale_factor = math.sqrt(self.upsample_res * self.upsample_res / (self.coarse_res * self.coarse_res))
        return self.refine_vgg_scales(
            vgg, _resize(flow, size), _resize(certainty, size), self.upsample_res, scale_factor
        )

    def forward(self, *images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense symmetric matching.

        Args:
            images: ``image0_coarse, image1_coarse`` ``[B, 3, coarse, coarse]`` and, with an upsample pass,
                ``image0_upsample, image1_upsample`` ``[B, 3, up, up]``: fp32 RGB in [0, 1], stretched to
                the square size, not ImageNet-normalised.

        Returns:
            ``(flow, certainty)``: ``[2B, 2, R, R]`` normalised coordinates clamped to [-1, 1] and
            ``[2B, 1, R, R]`` probabilities, fp32, R the output resolution. Rows ``:B`` map image 0 → 1,
            rows ``B:`` image 1 → 0; entry ``[b, :, i, j]`` belongs to the pixel centre (j, i) of the
            source image's R×R grid.
        """
        flow, certainty, certainty_16 = self.coarse_pass(torch.cat(images[:2], dim=0))
        if self.upsample_res is not None:
            flow, certainty = self.fine_pass(torch.cat(images[2:4], dim=0), flow, certainty)
        return finish(flow, certainty, certainty_16)
