"""The MatchAnything-ELoFTR test-time pipeline as one module, for one input size or a range of sizes.

Input: two grayscale images ``[N, 1, H, W]`` float32 in [0, 1], ``H`` and ``W`` multiples of 32 (the
same size for both images). The forward pass is written for any such size (sizes are read from the
inputs, never baked in), so one traced ONNX with dynamic ``H``/``W`` serves a whole
:class:`~ma_trt_ros.contract.sizes.SizeRange`; the module's ``height``/``width`` are the size it is
traced at (and an engine's optimisation point). Coarse grid: ``h = H/8``, ``w = W/8``, ``L = h·w`` cells per image, cell
``i`` at column ``i % w`` and row ``i // w``.

Candidates: ``M = L·k``; candidate ``m = i·k + r`` is the ``r``-th best image-1 cell for image-0 cell
``i`` (``k = ceil(1/threshold) − 1`` unless overridden). The set of valid candidates equals upstream's
coarse match set exactly for any threshold in (0, 1) with that ``k`` (see :mod:`.coarse_matching`).

Output rows ``R``: with ``max_matches = None`` every candidate, in candidate order (``R = M``); with a
budget ``K = min(max_matches, M)`` rows (``R = K``): the ``K`` most confident candidates with every
valid one ranked first (:func:`.coarse_matching.budget_selection`), valid rows first and each group in
increasing candidate index, and only these go through the fine stage. Output contract (``forward``):

    keypoints0  float32 [N, R, 2]  (x, y) in image-0 pixels, upstream convention (see .fine_matching)
    keypoints1  float32 [N, R, 2]  (x, y) in image-1 pixels, same convention
    confidence  float32 [N, R]     coarse dual-softmax confidence of the pair (0 for border columns;
                                   with a budget, 0 on every invalid row)
    valid       bool    [N, R]     the pair is a MatchAnything match: confidence > threshold and
                                   neither cell within 2 cells of its image border
    num_valid   int32   [N]        number of valid candidates before the budget (= upstream's match
                                   count); ``num_valid > R`` means the budget dropped the
                                   ``num_valid − R`` least confident matches
    cells       int32   [N, R, 2]  (image-0 cell, image-1 cell) of each row: the coarse match, and the
                                   row's identity (no two rows of one pair share it)

With a budget the valid rows are the first ``min(num_valid, R)``. Invalid rows carry finite but
meaningless coordinates. ``cells`` identifies a row independently of its position, so two backends'
outputs are compared by identity: one match whose validity differs shifts every later budgeted row.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ma_trt_convert.eloftr.coarse_matching import (
    MAX_CANDIDATES,
    budget_selection,
    candidates_per_cell,
    confidence_matrix,
    interior_mask,
    masked_topk,
    top_candidates,
)
from ma_trt_convert.eloftr.coarse_transformer import CoarseTransformer
from ma_trt_convert.eloftr.fine_matching import regression_index, stage1_argmax, stage2_offset, window_offset
from ma_trt_convert.eloftr.fine_preprocess import STRIDE, FinePreprocess, select_windows0, windows0, windows1
from ma_trt_convert.eloftr.repvgg import RepVGGBackbone, fuse_backbone
from ma_trt_convert.variants.spec import precision_change
from ma_trt_ros.contract.eloftr import ELOFTR
from ma_trt_ros.contract.sizes import SizeRange

SIZE_MULTIPLE = 32
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}
INPUT_NAMES = ELOFTR.input_names
OUTPUT_NAMES = ELOFTR.output_names


class MatchResult(NamedTuple):
    """Everything :meth:`ELoFTRExportModule.match` computes; shapes as in the module docstring.

    ``cell0``, ``cell1`` (int64 ``[N, R]``) are the image-0 and image-1 cells of each output row;
    ``forward`` returns them stacked as the int32 ``cells`` output ``[N, R, 2]``.
    """

    keypoints0: torch.Tensor
    keypoints1: torch.Tensor
    confidence: torch.Tensor
    valid: torch.Tensor
    num_valid: torch.Tensor
    cell0: torch.Tensor
    cell1: torch.Tensor


class _Rows(NamedTuple):
    """Coarse part of the output rows, each ``[N, R]``: confidence, validity, image-0 and image-1 cells."""

    score: torch.Tensor
    valid: torch.Tensor
    cell0: torch.Tensor
    cell1: torch.Tensor


def _budget_rows(candidates: _Rows, kept: torch.Tensor) -> _Rows:
    """The rows ``kept`` (int64 ``[N, K]`` candidate indices, a budget selection), confidence 0 on invalid ones.

    Which invalid candidates fill the rows depends on near-ties of tiny confidences, so zeroing their
    confidence makes every backend report the same confidence row by row.
    """
    score, valid, cell0, cell1 = (torch.gather(t, 1, kept) for t in candidates)
    return _Rows(torch.where(valid, score, torch.zeros_like(score)), valid, cell0, cell1)


class _Windows(NamedTuple):
    """Fine windows grouped for the stage-1/2 matmuls: ``G`` image-0 windows, ``g`` image-1 windows each.

    ``w0`` ``[N, G, 1, 64, C]``, ``w1`` ``[N, G, g, 100, C]``; output row ``G_index·g + g_index``.
    """

    w0: torch.Tensor
    w1: torch.Tensor


_BUDGET_ORDER = "valid rows first (the first min(num_valid, output_rows)), each group by increasing candidate index"


def _budget(max_matches: int | None, candidates: int) -> int | None:
    """The output row budget: ``min(max_matches, candidates)``, or None for all candidates."""
    if max_matches is None:
        return None
    if max_matches < 1:
        raise ValueError(f"max_matches must be positive or None, got {max_matches}")
    if candidates >= MAX_CANDIDATES:
        raise ValueError(f"{candidates} candidates: a match budget needs fewer than {MAX_CANDIDATES}")
    return min(max_matches, candidates)


def _check_size_range(sizes: SizeRange, height: int, width: int, top_k: int, max_matches: int | None) -> None:
    """ValueError unless every size of ``sizes`` gives the same graph outputs: a budget that every size's
    candidates fill (fixed output rows), fewer than :data:`MAX_CANDIDATES` at the largest size, and the
    traced size inside the range."""
    if sizes.multiple != SIZE_MULTIPLE:
        raise ValueError(f"ELoFTR sizes are multiples of {SIZE_MULTIPLE}, not {sizes.multiple}")
    if problem := sizes.problem(height, width):
        raise ValueError(f"the traced size (--height/--width) must lie in the size range: {problem}")
    if max_matches is None:
        raise ValueError(
            "a dynamic-size graph needs a match budget (--max-matches N): its output rows must not "
            "depend on the input size"
        )
    fewest = (sizes.min_height // STRIDE) * (sizes.min_width // STRIDE) * top_k
    if fewest < max_matches:
        raise ValueError(
            f"the smallest size of {sizes.text()} has {fewest} candidates, fewer than the budget of {max_matches} "
            "rows: raise the minimum size or lower --max-matches"
        )
    _budget(max_matches, (sizes.max_height // STRIDE) * (sizes.max_width // STRIDE) * top_k)


def _origin(cells: torch.Tensor, grid_width: int | torch.Tensor) -> torch.Tensor:
    """float32 ``[N, R, 2]``: ``8·(column, row)`` of int64 cells ``[N, R]`` on a grid ``grid_width`` cells wide."""
    return torch.stack([cells % grid_width, cells // grid_width], dim=-1).float() * STRIDE


class ELoFTRExportModule(nn.Module):
    """MatchAnything-ELoFTR for one input size; parameter names equal the release minus ``matcher.``.

    Args:
        height, width: input size in pixels (multiples of 32).
        threshold: coarse confidence threshold (MatchAnything default 0.1), in (0, 1).
        top_k: candidates per image-0 cell; default ``ceil(1/threshold) − 1`` (exact). A smaller value
            makes the graph lighter but may drop matches of rows with many passing entries.
        rope_reference_size: upstream NPE test size in pixels; default: the input's long side.
        max_matches: global budget ``K`` of output rows (capped at ``M``); None keeps every candidate.
            Exact (the valid rows are upstream's whole match set) whenever upstream has at most ``K``
            matches. Values >= 3840 exceed older TensorRT's TopK limit.
        size_range: the input sizes an exported graph must take (dynamic ``H``/``W``), or None for
            ``height × width`` only. Needs a budget that the smallest size's candidates fill.
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
        max_matches: int | None = None,
        size_range: SizeRange | None = None,
    ) -> None:
        super().__init__()
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {SIZE_MULTIPLE}, got {height}x{width}")
        self.height, self.width, self.threshold = height, width, threshold
        self.size_range = size_range
        smallest = (size_range.min_height, size_range.min_width) if size_range else (height, width)
        self.top_k = min(top_k or candidates_per_cell(threshold), (smallest[0] // STRIDE) * (smallest[1] // STRIDE))
        if size_range is not None:
            _check_size_range(size_range, height, width, self.top_k, max_matches)
        self.max_matches = _budget(max_matches, (height // STRIDE) * (width // STRIDE) * self.top_k)
        self.rope_reference_size = rope_reference_size
        self.precision = "fp32"
        self.backbone = RepVGGBackbone()
        self.loftr_coarse = CoarseTransformer(rope_reference_size)
        self.fine_preprocess = FinePreprocess()
        self.register_buffer("regression_index", regression_index(), persistent=False)

    def fuse(self) -> ELoFTRExportModule:
        """Fuse RepVGG branches and fold FPN BatchNorms (eval-mode equivalent); returns self."""
        fuse_backbone(self.backbone)
        self.fine_preprocess.fuse()
        return self

    def set_precision(self, precision: str) -> ELoFTRExportModule:
        """Cast conv/linear weights to the precision's dtype; LayerNorms stay float32; returns self.

        Raises:
            ValueError: an unknown precision, or fp32 asked of an fp16 module (its weights are rounded).
        """
        if not precision_change(self.precision, precision, "ELoFTR"):
            return self
        dtype = PRECISIONS[precision]
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.to(dtype)
        self.loftr_coarse.set_rope_dtype(dtype)
        self.precision = precision
        return self

    def match(self, image0: torch.Tensor, image1: torch.Tensor) -> MatchResult:
        """Run the pipeline on ``[N, 1, H, W]`` float32 images in [0, 1] (any ``H``, ``W`` multiples of 32)."""
        n = image0.shape[0]
        k = self.top_k
        dtype = self.fine_preprocess.layer3_outconv.weight.dtype
        coarse, x2, x1 = self.backbone(torch.cat([image0, image1], dim=0).to(dtype))
        feat0, feat1 = self.loftr_coarse(*coarse.chunk(2))
        h, w = feat0.shape[2], feat0.shape[3]
        interior = interior_mask(h, w, device=feat0.device)
        conf = self.confidence(feat0.flatten(2).transpose(1, 2), feat1.flatten(2).transpose(1, 2))
        candidates = top_candidates(conf, interior, interior, k, self.threshold, self.row_topk)
        score, cell1, valid = (t.flatten(1) for t in candidates)
        num_valid = valid.float().sum(dim=1).to(torch.int32)
        fine = self.fine_features(torch.cat([feat0, feat1], dim=0), x2, x1)
        rows = _Rows(score, valid, (torch.arange(score.shape[1], device=score.device) // k).expand(n, -1), cell1)
        if self.max_matches is None:
            fine0, fine1 = fine.chunk(2)
            w0 = windows0(fine0).unsqueeze(2)
            w1 = windows1(fine1, cell1).unflatten(1, (-1, k))
        else:
            rows = _budget_rows(rows, self.select_budget(rows.score, rows.valid, self.max_matches))
            w0, w1 = (w.unsqueeze(2) for w in self.budget_windows(fine, rows.cell0, rows.cell1))
        keypoints0, keypoints1 = self._refine(_Windows(w0, w1), rows.cell0, rows.cell1, w)
        return MatchResult(keypoints0, keypoints1, rows.score, rows.valid, num_valid, rows.cell0, rows.cell1)

    def confidence(self, feat0: torch.Tensor, feat1: torch.Tensor) -> torch.Tensor:
        """Coarse dual-softmax confidence ``[N, L, S]`` float32 of transformed features ``[N, L, C]``,
        ``[N, S, C]`` (:func:`.coarse_matching.confidence_matrix`; the fast path may form it otherwise)."""
        return confidence_matrix(feat0, feat1)

    def row_topk(self, conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` best image-1 cells per row, :func:`.coarse_matching.masked_topk` (the fast path may
        take them otherwise)."""
        return masked_topk(conf, interior1, k)

    def fine_features(self, coarse: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """The fine stage's feature map of both images, image 0's batch first, from the FPN inputs as
        :meth:`.fine_preprocess.FinePreprocess.forward` takes them: the full-resolution map ``[2N, 64, H, W]``
        (the fast path may keep a smaller map that its :meth:`budget_windows` reads)."""
        return self.fine_preprocess(coarse, x2, x1)

    def budget_windows(
        self, fine: torch.Tensor, cell0: torch.Tensor, cell1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fine windows of the kept rows: image 0 ``[N, K, 64, C]`` at ``cell0``, image 1 ``[N, K, 100, C]`` at
        ``cell1`` (int64 ``[N, K]``), from :meth:`fine_features`' map ``fine``."""
        fine0, fine1 = fine.chunk(2)
        return select_windows0(fine0, cell0), windows1(fine1, cell1)

    def select_budget(self, score: torch.Tensor, valid: torch.Tensor, budget: int) -> torch.Tensor:
        """The ``budget`` candidates to keep, int64 ``[N, K]`` (:func:`.coarse_matching.budget_selection`,
        whose contract any override keeps: same rows, same order)."""
        return budget_selection(score, valid, budget)

    def _refine(
        self, windows: _Windows, cell0: torch.Tensor, cell1: torch.Tensor, grid_width: int | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fine stage: keypoints ``[N, R, 2]`` float32 of the ``R`` rows (cells int64 ``[N, R]``)."""
        n = cell0.shape[0]
        a, b = stage1_argmax(windows.w0, windows.w1)
        offset = stage2_offset(windows.w0, windows.w1, a, b, self.regression_index).reshape(n, -1, 2)
        keypoints0 = _origin(cell0, grid_width) + window_offset(a).reshape(n, -1, 2)
        keypoints1 = (_origin(cell1, grid_width) + window_offset(b).reshape(n, -1, 2)) + offset
        return keypoints0, keypoints1

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The :data:`OUTPUT_NAMES` tensors of :meth:`match`, in that order (``cells`` as int32 ``[N, R, 2]``)."""
        result = self.match(image0, image1)
        cells = torch.stack([result.cell0, result.cell1], dim=-1).to(torch.int32)
        return result.keypoints0, result.keypoints1, result.confidence, result.valid, result.num_valid, cells

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic float32 images ``[batch, 1, H, W]`` in [0, 1] for tracing/export."""
        gen = torch.Generator().manual_seed(0)
        shape = (batch, 1, self.height, self.width)
        return torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """ONNX dynamic axes: ``height``/``width`` of both inputs with a size range, none without."""
        if self.size_range is None:
            return {}
        return {name: {2: "height", 3: "width"} for name in self.input_names}

    def metadata(self) -> dict[str, str]:
        """String metadata describing this graph (for the ONNX/engine sidecar); counts are at ``height × width``."""
        h, w = self.height // STRIDE, self.width // STRIDE
        values = {
            "variant": "eloftr",
            "height": str(self.height),
            "width": str(self.width),
            "precision": self.precision,
            "threshold": repr(self.threshold),
            "top_k": str(self.top_k),
            "exact_threshold_rule": str(self.top_k >= min(candidates_per_cell(self.threshold), h * w)).lower(),
            "coarse_cells": str(h * w),
            "num_candidates": str(h * w * self.top_k),
            "max_matches": "none" if self.max_matches is None else str(self.max_matches),
            "output_rows": str(h * w * self.top_k if self.max_matches is None else self.max_matches),
            "row_order": "candidate index i*top_k + r" if self.max_matches is None else _BUDGET_ORDER,
            "truncated_when": "num_valid > output_rows (the least confident matches were dropped)",
            "border_cells": "2",
            "rope_reference_size": str(self.rope_reference_size or "input long side"),
            "inputs": ",".join(self.input_names),
            "outputs": ",".join(self.output_names),
            "coordinates": "pixels of the network input, upstream ELoFTR convention (window index - 3.5)",
            "cells": "coarse cell index row*(W/8) + column of the (H/8)x(W/8) grid (8 px cells), image 0 then image 1",
        }
        if self.size_range is not None:
            values.update(size_range=self.size_range.text(), size_multiple=str(self.size_range.multiple))
        return values
