"""``verify``'s work: run an exported ONNX (ONNX Runtime) and the PyTorch port it came from on the same
synthetic inputs, print the comparison and judge it (fp32: tolerances; fp16: against PyTorch's own fp16).

Exit codes: :data:`PASSED`, :data:`FAILED`, :data:`NOT_JUDGED` (too few matches to judge an fp16 graph).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY, decode_io_contract
from ma_trt_convert.variants import variant_spec
from ma_trt_convert.variants.models import build_module, decode_build_args
from ma_trt_convert.verify.compare import Tolerances, compare_outputs
from ma_trt_convert.verify.fp16 import judge_fp16, judgement_lines
from ma_trt_convert.verify.parity import run_onnxruntime, run_torch, synthetic_inputs
from ma_trt_ros.contract.sizes import size_range_of
from ma_trt_ros.contract.tensors import TensorSpec

PASSED, FAILED, NOT_JUDGED = 0, 1, 3


@dataclass(frozen=True)
class VerifyRequest:
    """How to verify.

    Attributes:
        seed: seed of the synthetic image pair.
        pair: ``octaves`` or ``shifted`` (:func:`~ma_trt_convert.verify.parity.synthetic_inputs`).
        device: torch device of the PyTorch reference.
        sizes: a dynamic-size graph's input ``(height, width)`` sizes in pixels to verify at (None: the
            traced size).
        tolerances: what an fp32 graph is held to.
        fp16_margin: how many times PyTorch fp16's deviation an fp16 graph may show.
        min_matches: fewer fp32 matches than this leaves an fp16 graph not judged.
    """

    seed: int
    pair: str
    device: str
    sizes: list[tuple[int, int]] | None
    tolerances: Tolerances
    fp16_margin: float
    min_matches: int


def verify_onnx(onnx_path: Path, metadata: dict[str, str], files: dict[str, str | None], request: VerifyRequest) -> int:
    """Verify ``onnx_path`` (whose export ``metadata`` was read) against the port built from ``files``;
    prints the tables; returns :data:`PASSED`, :data:`FAILED` or :data:`NOT_JUDGED` (the worst size's)."""
    spec = variant_spec(metadata["variant"])
    build_args = decode_build_args(metadata[BUILD_ARGS_KEY])
    specs_in, specs_out = decode_io_contract(metadata)
    names = tuple(s.name for s in specs_out)
    precision = metadata["precision"]
    modules: dict[str, Any] = {}

    def torch_result(at: str, inputs: list) -> list:
        if at not in modules:
            modules[at] = build_module(spec.name, files, precision=at, args=build_args).to(request.device)
        start = time.monotonic()
        outputs = run_torch(modules[at], inputs)
        print(f"PyTorch {at} on {request.device}: {time.monotonic() - start:.1f} s")
        return outputs

    codes = []
    for specs in verification_inputs(specs_in, metadata, request.sizes):
        if any(s.is_dynamic for s in specs_in):
            print(f"--- input sizes {', '.join(f'{s.name} {s.shape[2]}x{s.shape[3]}' for s in specs)}")
        inputs = synthetic_inputs(specs, seed=request.seed, pair=request.pair)
        reference = torch_result("fp32", inputs)
        start = time.monotonic()
        candidate = run_onnxruntime(onnx_path, tuple(s.name for s in specs_in), inputs)
        print(f"{onnx_path}: {spec.name} {precision} graph on ONNX Runtime: {time.monotonic() - start:.1f} s")
        if precision == "fp16":
            codes.append(_judge_fp16(request, names, reference, torch_result("fp16", inputs), candidate))
        else:
            codes.append(_check_fp32(request.tolerances, names, reference, candidate))
    return next((code for code in codes if code == FAILED), max(codes))


def verification_inputs(
    specs: tuple[TensorSpec, ...], metadata: dict[str, str], sizes: list[tuple[int, int]] | None
) -> list[tuple[TensorSpec, ...]]:
    """The input specs to verify at: the graph's own (fixed size), or each of ``sizes`` (default: the traced
    size) of a dynamic-size graph, every dynamic input at that size.

    Raises:
        ConversionError: ``sizes`` for a fixed-size graph, or a size outside the graph's range.
    """
    graph = size_range_of(metadata)
    if graph is None:
        if sizes:
            raise ConversionError("--size applies to dynamic-size graphs; this ONNX has fixed input shapes")
        return [specs]
    problems = [problem for size in sizes or [] if (problem := graph.problem(*size))]
    if problems:
        raise ConversionError(f"--size: {'; '.join(problems)}")
    chosen = sizes or [(int(metadata["height"]), int(metadata["width"]))]
    return [tuple(s.at_size(*size) for s in specs) for size in chosen]


def _check_fp32(tol: Tolerances, names: tuple[str, ...], reference: list, candidate: list) -> int:
    comparison = compare_outputs(names, reference, candidate)
    failed = comparison.failures(tol)
    if comparison.agreement is not None:
        ok = comparison.agreement.passes(tol)
        print(("ok    " if ok else "FAIL  ") + comparison.agreement.line("PyTorch", "ONNX"))
    for err in comparison.errors:
        print(("ok    " if err.passes(tol) else "FAIL  ") + err.line())
    sets = "" if comparison.agreement is None else f", match sets Jaccard >= {tol.min_match_agreement}"
    print(
        f"tolerances: coordinates p99 <= {tol.px_p99} px and max <= {tol.px_max} px, scores <= {tol.score_max}, "
        f"masks <= {tol.mask_fraction:.2%}{sets}"
    )
    if failed:
        print(f"verify FAILED for {', '.join(failed)}")
        return FAILED
    print("verify passed")
    return PASSED


def _judge_fp16(request: VerifyRequest, names: tuple[str, ...], fp32: list, torch16: list, onnx16: list) -> int:
    margin = request.fp16_margin
    judgement = judge_fp16(names, fp32, torch16, onnx16, margin=margin, min_matches=request.min_matches)
    print("\n".join(judgement_lines(judgement)))
    print(
        f"fp16 rule: the graph's medians and flips within {margin} x PyTorch fp16's (plus small floors), "
        "match sets no worse than PyTorch fp16's by more than 0.05"
    )
    if judgement.verdict == "not judged":
        print("verify NOT JUDGED: " + "; ".join(judgement.reasons))
        return NOT_JUDGED
    if judgement.verdict == "fail":
        print("verify FAILED: " + "; ".join(judgement.reasons))
        return FAILED
    print("verify passed")
    return PASSED
