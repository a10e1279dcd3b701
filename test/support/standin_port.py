"""A small stand-in model port with the export-module interface (test double of a real port).

It has the interface of ``ma_trt_convert.eloftr`` / ``ma_trt_convert.roma`` (``build_export_module``
returning a module with ``input_names``, ``output_names``, ``example_inputs``, ``metadata``) and an
ELoFTR-like output contract, but is small enough to export in a second.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from ma_trt_convert.eloftr.coarse_matching import budget_selection

STRIDE = 8


class StandInMatcher(nn.Module):
    """Tiny matcher with ELoFTR's I/O: images ``[B, 1, H, W]`` -> keypoints, confidence, valid, cells.

    ``shift`` (pixels) is added to ``keypoints0``: a deliberately wrong model for failing ``verify``.
    ``max_matches``: rows kept by the ELoFTR port's budget rule (valid first, then by candidate index;
    None: every candidate, in candidate order).
    """

    input_names = ("image0", "image1")
    output_names = ("keypoints0", "keypoints1", "confidence", "valid", "cells")

    def __init__(
        self,
        height: int,
        width: int,
        precision: str = "fp32",
        threshold: float = 0.02,
        shift: float = 0.0,
        max_matches: int | None = None,
    ):
        super().__init__()
        self.height, self.width, self.precision, self.threshold, self.shift = height, width, precision, threshold, shift
        self.max_matches = max_matches
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.conv = nn.Conv2d(1, 16, STRIDE, stride=STRIDE)
        self.norm = nn.LayerNorm(16)
        self.proj = nn.Linear(16, 16)
        self.k = 2
        self.diagonal = 4.0

    def load(self, path: str | os.PathLike[str]) -> StandInMatcher:
        """Load weights saved by :func:`write_standin_checkpoint`, then apply the precision."""
        self.load_state_dict(torch.load(path, weights_only=True))
        self.conv.to(self.dtype)
        self.proj.to(self.dtype)
        return self.eval()

    def _tokens(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.conv(image.to(self.dtype))
        tokens = self.norm(fmap.flatten(2).transpose(1, 2).float())
        return self.proj(tokens.to(self.dtype)), fmap

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = image0.shape[0]
        h, w = self.height // STRIDE, self.width // STRIDE
        t0, _ = self._tokens(image0)
        t1, fmap1 = self._tokens(image1)
        sim = (t0 @ t1.transpose(1, 2)).float()
        sim = sim + torch.eye(h * w) * torch.tensor(self.diagonal, dtype=torch.float64).float()
        conf = sim.softmax(1) * sim.softmax(2)
        score, j = conf.topk(self.k, dim=2)
        index = torch.arange(h * w)
        centres = torch.stack([index % w, index // w], dim=-1).float() * STRIDE + STRIDE / 2
        kp0 = centres[:, None, :].expand(h * w, self.k, 2).reshape(1, -1, 2).expand(b, -1, -1)
        kp1 = centres[j.reshape(b, -1)]
        grid = torch.stack([kp1[..., 0] / self.width, kp1[..., 1] / self.height], dim=-1) * 2 - 1
        sampled = F.grid_sample(fmap1.float(), grid[:, :, None, :], align_corners=False)
        kp1 = kp1 + torch.tanh(sampled.mean(dim=1))[..., None].expand(-1, -1, 1, 2)[:, :, 0]
        score = score.reshape(b, -1)
        cell0 = index[:, None].expand(h * w, self.k).reshape(1, -1).expand(b, -1)
        cells = torch.stack([cell0, j.reshape(b, -1)], dim=-1).to(torch.int32)
        rows = (kp0 + self.shift, kp1, score, score > self.threshold, cells)
        if self.max_matches is None:
            return rows
        kept = budget_selection(score, rows[3], min(self.max_matches, score.shape[1]))
        return tuple(torch.gather(t, 1, kept if t.dim() == 2 else kept[..., None].expand(-1, -1, 2)) for t in rows)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        shape = (batch, 1, self.height, self.width)
        return torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {}

    def metadata(self) -> dict[str, str]:
        return {"variant": "eloftr", "height": str(self.height), "width": str(self.width), "standin": "true"}


def write_standin_checkpoint(path: Path, seed: int = 0) -> Path:
    """Seeded stand-in weights (the stand-in's own layout, saved with torch.save)."""
    torch.manual_seed(seed)
    torch.save(StandInMatcher(32, 32).state_dict(), path)
    return path


def standin_port(shift: float = 0.0, match_threshold: float = 0.02) -> SimpleNamespace:
    """Test double of ``ma_trt_convert.eloftr`` (only ``build_export_module``, which matches at
    ``match_threshold`` whatever ``threshold`` it is given)."""

    def build_export_module(checkpoint, *, height, width, precision="fp32", threshold=0.1, max_matches=None):
        return StandInMatcher(height, width, precision, match_threshold, shift, max_matches).load(checkpoint)

    return SimpleNamespace(build_export_module=build_export_module)
