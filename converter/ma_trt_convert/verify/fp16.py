"""Judging an fp16 graph: is its deviation from the fp32 model within what PyTorch's own fp16 shows?

An fp16 graph is never compared with tolerances picked in advance: near-tied arg-max decisions (a
fine-stage pixel in ELoFTR, a coarse anchor in RoMa) flip under *any* fp16 arithmetic, and one flip
moves a keypoint by whole pixels. Instead the PyTorch port is run twice, in fp32 (the reference) and
at the graph's fp16, and ONNX Runtime runs the graph; both fp16 results are compared with the fp32
one, and the graph passes when its deviation is of the same size as PyTorch's fp16 deviation:

- per coordinate output: median error at most ``margin ×`` PyTorch's + :data:`MEDIAN_FLOOR_PX`, and
  the fraction of flips (moves over half a pixel) at most ``margin ×`` PyTorch's + :data:`FLIP_FLOOR`;
- per score output: median error at most ``margin ×`` PyTorch's + :data:`SCORE_FLOOR`;
- match sets (graphs with row identities): Jaccard index against fp32 at least PyTorch's minus
  :data:`JACCARD_SLACK`.

A graph error (a wrong scale, a dropped offset) moves *every* coordinate and fails the medians;
flips alone do not. With fewer than ``min_matches`` matches in the fp32 result the set and flip
statistics mean nothing, and the verdict is "not judged", never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ma_trt_convert.verify.compare import Comparison, MatchAgreement, OutputError, compare_outputs

MEDIAN_FLOOR_PX = 0.05
FLIP_FLOOR = 0.01
SCORE_FLOOR = 1e-3
JACCARD_SLACK = 0.05
DEFAULT_MARGIN = 2.0
DEFAULT_MIN_MATCHES = 20
VERDICTS = ("pass", "fail", "not judged")


@dataclass(frozen=True)
class Fp16Judgement:
    """Both fp16 results against fp32, and the verdict.

    Attributes:
        torch: PyTorch fp16 vs PyTorch fp32.
        onnx: the graph (ONNX Runtime) vs PyTorch fp32.
        matches: valid matches in the fp32 result (None for graphs without row identities).
        verdict: one of :data:`VERDICTS`.
        reasons: why it failed or was not judged (empty on a pass).
    """

    torch: Comparison
    onnx: Comparison
    matches: int | None
    verdict: str
    reasons: list[str] = field(default_factory=list)


def _coordinate_problems(name: str, ours: OutputError, theirs: OutputError, margin: float) -> list[str]:
    problems = []
    if ours.median > margin * theirs.median + MEDIAN_FLOOR_PX:
        problems.append(f"{name}: median {ours.median:.3g} px vs PyTorch fp16's {theirs.median:.3g} px")
    if ours.flips > margin * theirs.flips + FLIP_FLOOR:
        problems.append(f"{name}: {ours.flips:.2%} flips vs PyTorch fp16's {theirs.flips:.2%}")
    return problems


def _score_problems(name: str, ours: OutputError, theirs: OutputError, margin: float) -> list[str]:
    if ours.median > margin * theirs.median + SCORE_FLOOR:
        return [f"{name}: median {ours.median:.3g} vs PyTorch fp16's {theirs.median:.3g}"]
    return []


def judge_fp16(
    names: tuple[str, ...],
    fp32: list[np.ndarray],
    torch_fp16: list[np.ndarray],
    onnx_fp16: list[np.ndarray],
    margin: float = DEFAULT_MARGIN,
    min_matches: int = DEFAULT_MIN_MATCHES,
) -> Fp16Judgement:
    """The verdict on an fp16 graph from the three results (module docstring); arrays by output name order."""
    torch_cmp = compare_outputs(names, fp32, torch_fp16)
    onnx_cmp = compare_outputs(names, fp32, onnx_fp16)
    matches = None
    if onnx_cmp.agreement is not None:
        agreement = onnx_cmp.agreement
        matches = agreement.both + agreement.only_reference
        if matches < min_matches:
            reason = (
                f"only {matches} matches in the fp32 result (at least {min_matches} needed to judge): use real "
                "weights, or weights from `random-checkpoint --variant eloftr --matching HxW` with --pair shifted"
            )
            return Fp16Judgement(torch_cmp, onnx_cmp, matches, "not judged", [reason])
    reasons = []
    for ours, theirs in zip(onnx_cmp.errors, torch_cmp.errors, strict=True):
        if ours.count == 0 or math.isnan(ours.median):
            continue
        if ours.unit == "px":
            reasons += _coordinate_problems(ours.name, ours, theirs, margin)
        elif ours.kind == "score":
            reasons += _score_problems(ours.name, ours, theirs, margin)
    if onnx_cmp.agreement is not None and torch_cmp.agreement is not None:
        ours_j, theirs_j = onnx_cmp.agreement.jaccard, torch_cmp.agreement.jaccard
        if ours_j < theirs_j - JACCARD_SLACK:
            reasons.append(f"match sets: Jaccard {ours_j:.3f} vs PyTorch fp16's {theirs_j:.3f}")
    return Fp16Judgement(torch_cmp, onnx_cmp, matches, "fail" if reasons else "pass", reasons)


def judgement_lines(judgement: Fp16Judgement) -> list[str]:
    """The table ``verify`` prints: each output's deviation from fp32, PyTorch fp16 then the graph."""
    lines = [f"{'output':<14} {'PyTorch fp16 vs fp32':<40} ONNX fp16 vs fp32"]
    for theirs, ours in zip(judgement.torch.errors, judgement.onnx.errors, strict=True):
        lines.append(f"{ours.name:<14} {_cell(theirs):<40} {_cell(ours)}")
    if judgement.onnx.agreement is not None:
        theirs_a, ours_a = judgement.torch.agreement, judgement.onnx.agreement
        lines.append(f"{'match sets':<14} {_sets(theirs_a):<40} {_sets(ours_a)}")
    return lines


def _cell(err: OutputError) -> str:
    if err.count == 0:
        return "nothing compared"
    flips = "" if math.isnan(err.flips) else f" flips {err.flips:.2%}"
    return f"median {err.median:.3g} max {err.max:.3g} {err.unit}{flips}".replace("  ", " ")


def _sets(agreement: MatchAgreement) -> str:
    return f"Jaccard {agreement.jaccard:.3f} ({agreement.both} in both)"
