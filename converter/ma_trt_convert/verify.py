"""ONNX Runtime vs PyTorch parity on the same synthetic image pair.

Inputs: a seeded smooth texture (image 0) and a shifted, re-lit copy of it (image 1), resized to
every input's resolution (inputs whose name starts with ``image0``/``image1`` get the same picture
at their own size: RoMa's coarse and upsample inputs stay consistent), one picture per batch item.

Each output is compared by its *kind* (from its name, see :data:`OUTPUT_KINDS`):

- ``pixels``: coordinates in pixels (ELoFTR keypoints); error = Euclidean distance in pixels.
- ``normalized``: coordinates in [-1, 1] (RoMa warp, last axis (x, y[, x, y])); converted to pixels
  with ``size/2`` where ``size`` is the output grid's height (RoMa works on square grids).
- ``score``: certainty/confidence; error = absolute difference.
- ``mask``: boolean validity; error = fraction of entries that differ.
- ``count``: match counts (ELoFTR ``num_valid``); error = |difference| / max(reference, 1), a
  fraction held to the mask tolerance.
- ``value``: anything else; absolute difference.

When the graph has a boolean ``valid`` output, coordinate errors are taken over the entries valid in
both results (other entries carry meaningless values by contract). Rows are compared in order: with
ELoFTR's match budget (valid rows first, in candidate order) one candidate whose validity flips
shifts the rows after it, which then show as large keypoint errors next to a non-zero ``valid`` and
``num_valid`` mismatch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from ma_trt_convert.engine_sidecar import TensorSpec

OUTPUT_KINDS = {
    "keypoints0": "pixels",
    "keypoints1": "pixels",
    "warp": "normalized",
    "warp_1to0": "normalized",
    "confidence": "score",
    "certainty": "score",
    "certainty_1to0": "score",
    "valid": "mask",
    "num_valid": "count",
}
VALID_OUTPUT = "valid"


@dataclass(frozen=True)
class Tolerances:
    """Pass limits: coordinate p99/max in pixels, score max abs error, mask mismatch fraction."""

    px_p99: float
    px_max: float
    score_max: float
    mask_fraction: float

    @classmethod
    def default(cls, precision: str) -> Tolerances:
        """Defaults: tight for fp32 graphs, looser for fp16 graphs (10-bit mantissa)."""
        if precision == "fp16":
            return cls(px_p99=2.0, px_max=8.0, score_max=0.05, mask_fraction=0.01)
        return cls(px_p99=0.1, px_max=1.0, score_max=1e-3, mask_fraction=0.002)


@dataclass(frozen=True)
class OutputError:
    """Error statistics of one output; ``count`` is the number of compared entries."""

    name: str
    kind: str
    unit: str
    count: int
    median: float
    p99: float
    max: float

    def passes(self, tol: Tolerances) -> bool:
        if self.count == 0:
            return True
        if self.kind in ("pixels", "normalized"):
            return self.p99 <= tol.px_p99 and self.max <= tol.px_max
        if self.kind in ("mask", "count"):
            return self.max <= tol.mask_fraction
        return self.max <= tol.score_max

    def line(self) -> str:
        return (
            f"{self.name:<14} {self.kind:<10} n={self.count:<9} median {self.median:.3g}  p99 {self.p99:.3g}  "
            f"max {self.max:.3g} {self.unit}"
        )


def _texture(size: int, channels: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random texture ``[channels, size, size]`` in [0, 1] (sum of upsampled noise octaves)."""
    image = torch.zeros(1, channels, size, size)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.2)):
        noise = torch.rand(1, channels, cells, cells, generator=generator)
        image += weight * F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    return image[0].clamp(0, 1)


def synthetic_inputs(specs: tuple[TensorSpec, ...], seed: int = 0) -> list[np.ndarray]:
    """One float32 array per input spec ``[B, C, H, W]`` (see module docstring); C is 1 or 3."""
    generator = torch.Generator().manual_seed(seed)
    batch = specs[0].shape[0]
    size = 2 * max(max(spec.shape[2:]) for spec in specs)
    pictures = []
    for _ in range(batch):
        base = _texture(size + 16, 3, generator)
        first = base[:, :size, :size]
        second = (base[:, 9 : size + 9, 5 : size + 5] * 0.9 + 0.05).clamp(0, 1)
        pictures.append((first, second))
    arrays = []
    for spec in specs:
        which = 1 if spec.name.startswith("image1") else 0
        stack = torch.stack([pair[which] for pair in pictures])
        resized = F.interpolate(stack, size=spec.shape[2:], mode="area")
        if spec.shape[1] == 1:
            resized = resized.mean(dim=1, keepdim=True)
        arrays.append(resized.contiguous().numpy().astype(np.float32))
    return arrays


def run_onnxruntime(onnx_path: str | os.PathLike[str], names: tuple[str, ...], inputs: list[np.ndarray]) -> list:
    """Outputs of the ONNX file on ONNX Runtime's CPU provider (graph optimisations on)."""
    session = ort.InferenceSession(os.fspath(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(names, inputs, strict=True)))


def run_torch(module: torch.nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of the PyTorch module on the same inputs (moved to the module's device)."""
    device = next(module.parameters()).device
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(a).to(device) for a in inputs))
    return [o.detach().cpu().numpy() for o in outputs]


def _stats(name: str, kind: str, unit: str, errors: np.ndarray) -> OutputError:
    errors = errors.astype(np.float64).reshape(-1)
    if errors.size == 0:
        return OutputError(name, kind, unit, 0, math.nan, math.nan, math.nan)
    return OutputError(
        name,
        kind,
        unit,
        errors.size,
        float(np.median(errors)),
        float(np.percentile(errors, 99)),
        float(errors.max()),
    )


def compare_outputs(
    names: tuple[str, ...], reference: list[np.ndarray], candidate: list[np.ndarray]
) -> list[OutputError]:
    """Error statistics per output of ``candidate`` against ``reference`` (see module docstring)."""
    outputs = dict(zip(names, zip(reference, candidate, strict=True), strict=True))
    both_valid = None
    if VALID_OUTPUT in outputs:
        ref_valid, cand_valid = outputs[VALID_OUTPUT]
        both_valid = ref_valid.astype(bool) & cand_valid.astype(bool)
    results = []
    for name, (ref, cand) in outputs.items():
        kind = OUTPUT_KINDS.get(name, "value")
        if ref.shape != cand.shape:
            raise ValueError(f"output {name}: shapes differ, {ref.shape} vs {cand.shape}")
        if kind == "mask":
            mismatch = (ref.astype(bool) != cand.astype(bool)).mean() if ref.size else 0.0
            results.append(OutputError(name, kind, "fraction", ref.size, mismatch, mismatch, mismatch))
            continue
        diff = ref.astype(np.float64) - cand.astype(np.float64)
        if kind == "count":
            errors = np.abs(diff) / np.maximum(np.abs(ref.astype(np.float64)), 1.0)
            unit = "fraction"
        elif kind == "pixels":
            errors = np.linalg.norm(diff, axis=-1)
            unit = "px"
        elif kind == "normalized":
            size = ref.shape[1]
            errors = np.linalg.norm(diff.reshape(*diff.shape[:-1], -1, 2), axis=-1) * size / 2
            unit = "px"
        else:
            errors = np.abs(diff)
            unit = ""
        if both_valid is not None and kind == "pixels" and errors.shape == both_valid.shape:
            errors = errors[both_valid]
        results.append(_stats(name, kind, unit, errors))
    return results
