"""The MatchAnything-ELoFTR test-time pipeline as one fixed-shape module.

Input: two grayscale images ``[N, 1, H, W]`` float32 in [0, 1], ``H`` and ``W`` multiples of 32 (the
same size for both images). Coarse grid: ``h = H/8``, ``w = W/8``, ``L = h·w`` cells per image, cell
``i`` at column ``i % w`` and row ``i // w``.

Output contract (``forward``; ``M = L·k`` candidates, candidate ``m = i·k + r`` is the ``r``-th best
image-1 cell for image-0 cell ``i``, ``k = ceil(1/threshold) − 1`` unless overridden):

    keypoints0  float32 [N, M, 2]  (x, y) in image-0 pixels, upstream convention (see .fine_matching)
    keypoints1  float32 [N, M, 2]  (x, y) in image-1 pixels, same convention
    confidence  float32 [N, M]     coarse dual-softmax confidence of the pair (0 for border columns)
    valid       bool    [N, M]     the pair is a MatchAnything match: confidence > threshold and
                                   neither cell within 2 cells of its image border

The set ``{m : valid[m]}`` equals upstream's coarse match set exactly for any threshold in (0, 1)
when ``k = ceil(1/threshold) − 1`` (see :mod:`.coarse_matching`); the runtime compacts it.
Invalid candidates carry finite but meaningless coordinates.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ma_trt_convert.eloftr.coarse_matching import (
    candidates_per_cell,
    confidence_matrix,
    interior_mask,
    top_candidates,
)
from ma_trt_convert.eloftr.coarse_transformer import CoarseTransformer
from ma_trt_convert.eloftr.fine_matching import regression_index, stage1_argmax, stage2_offset, window_offset
from ma_trt_convert.eloftr.fine_preprocess import STRIDE, FinePreprocess, window1_index, windows0, windows1
from ma_trt_convert.eloftr.repvgg import RepVGGBackbone, fuse_backbone

SIZE_MULTIPLE = 32
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}
INPUT_NAMES = ("image0", "image1")
OUTPUT_NAMES = ("keypoints0", "keypoints1", "confidence", "valid")


class MatchResult(NamedTuple):
    """Everything :meth:`ELoFTRMatcher.match` computes; shapes as in the module docstring.

    ``cell1`` (int64 ``[N, M]``) is the image-1 cell of each candidate (the image-0 cell is ``m // k``).
    """

    keypoints0: torch.Tensor
    keypoints1: torch.Tensor
    confidence: torch.Tensor
    valid: torch.Tensor
    cell1: torch.Tensor


def _cell_origins(h: int, w: int) -> torch.Tensor:
    """float32 ``[h*w, 2]``: ``8·(column, row)`` of every cell, row-major."""
    index = torch.arange(h * w)
    return torch.stack([index % w, index // w], dim=-1).float() * STRIDE


class ELoFTRMatcher(nn.Module):
    """MatchAnything-ELoFTR for one input size; parameter names equal the release minus ``matcher.``.

    Args:
        height, width: input size in pixels (multiples of 32).
        threshold: coarse confidence threshold (MatchAnything default 0.1), in (0, 1).
        top_k: candidates per image-0 cell; default ``ceil(1/threshold) − 1`` (exact). A smaller value
            makes the graph lighter but may drop matches of rows with many passing entries.
        rope_reference_size: upstream NPE test size in pixels; default ``max(height, width)``.
    """

    input_names = INPUT_NAMES
    output_names = OUTPUT_NAMES

    def __init__(
        self,
        height: int,
        width: int,
        threshold: float = 0.1,
        top_k: int | None = None,
        rope_reference_size: int | None = None,
    ) -> None:
        super().__init__()
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {SIZE_MULTIPLE}, got {height}x{width}")
        self.height, self.width, self.threshold = height, width, threshold
        h, w = height // STRIDE, width // STRIDE
        self.top_k = min(top_k or candidates_per_cell(threshold), h * w)
        self.rope_reference_size = rope_reference_size or max(height, width)
        self.precision = "fp32"
        self.backbone = RepVGGBackbone()
        self.loftr_coarse = CoarseTransformer((h, w), self.rope_reference_size)
        self.fine_preprocess = FinePreprocess()
        self.register_buffer("interior", interior_mask(h, w), persistent=False)
        self.register_buffer("cell_origin", _cell_origins(h, w), persistent=False)
        self.register_buffer("window1_index", window1_index(height, width), persistent=False)
        self.register_buffer("regression_index", regression_index(), persistent=False)

    def fuse(self) -> ELoFTRMatcher:
        """Fuse RepVGG branches and fold FPN BatchNorms (eval-mode equivalent); returns self."""
        fuse_backbone(self.backbone)
        self.fine_preprocess.fuse()
        return self

    def set_precision(self, precision: str) -> ELoFTRMatcher:
        """Cast conv/linear weights to the precision's dtype; LayerNorms stay float32; returns self."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        dtype = PRECISIONS[precision]
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.to(dtype)
        self.loftr_coarse.set_rope_dtype(dtype)
        self.precision = precision
        return self

    def match(self, image0: torch.Tensor, image1: torch.Tensor) -> MatchResult:
        """Run the pipeline on ``[N, 1, H, W]`` float32 images in [0, 1]."""
        n = image0.shape[0]
        k = self.top_k
        dtype = self.fine_preprocess.layer3_outconv.weight.dtype
        coarse, x2, x1 = self.backbone(torch.cat([image0, image1], dim=0).to(dtype))
        feat0, feat1 = self.loftr_coarse(*coarse.chunk(2))
        conf = confidence_matrix(feat0.flatten(2).transpose(1, 2), feat1.flatten(2).transpose(1, 2))
        score, cell1, valid = top_candidates(conf, self.interior, self.interior, k, self.threshold)

        fine0, fine1 = self.fine_preprocess(torch.cat([feat0, feat1], dim=0), x2, x1).chunk(2)
        cells = conf.shape[1]
        w0 = windows0(fine0).unsqueeze(2)
        w1 = windows1(fine1, cell1.reshape(n, -1), self.window1_index).unflatten(1, (cells, k))
        a, b = stage1_argmax(w0, w1)
        offset = stage2_offset(w0, w1, a, b, self.regression_index)

        origin1 = self.cell_origin.index_select(0, cell1.reshape(-1)).reshape(n, cells, k, 2)
        keypoints0 = self.cell_origin[None, :, None, :] + window_offset(a)
        keypoints1 = (origin1 + window_offset(b)) + offset
        return MatchResult(
            keypoints0.reshape(n, -1, 2),
            keypoints1.reshape(n, -1, 2),
            score.reshape(n, -1),
            valid.reshape(n, -1),
            cell1.reshape(n, -1),
        )

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The :data:`OUTPUT_NAMES` tensors of :meth:`match`, in that order."""
        result = self.match(image0, image1)
        return result.keypoints0, result.keypoints1, result.confidence, result.valid

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic float32 images ``[batch, 1, H, W]`` in [0, 1] for tracing/export."""
        gen = torch.Generator().manual_seed(0)
        shape = (batch, 1, self.height, self.width)
        return torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)

    def metadata(self) -> dict[str, str]:
        """String metadata describing this graph (for the ONNX/engine sidecar)."""
        h, w = self.height // STRIDE, self.width // STRIDE
        return {
            "variant": "eloftr",
            "height": str(self.height),
            "width": str(self.width),
            "precision": self.precision,
            "threshold": repr(self.threshold),
            "top_k": str(self.top_k),
            "exact_threshold_rule": str(self.top_k >= min(candidates_per_cell(self.threshold), h * w)).lower(),
            "coarse_cells": str(h * w),
            "num_candidates": str(h * w * self.top_k),
            "border_cells": "2",
            "rope_reference_size": str(self.rope_reference_size),
            "inputs": ",".join(self.input_names),
            "outputs": ",".join(self.output_names),
            "coordinates": "pixels of the network input, upstream ELoFTR convention (window index - 3.5)",
        }
