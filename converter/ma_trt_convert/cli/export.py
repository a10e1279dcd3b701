"""``export`` and ``verify`` subcommands (PyTorch checkpoint -> ONNX, ONNX Runtime parity).

PyTorch, ONNX and ONNX Runtime are imported only when a subcommand runs, so that ``build``,
``check`` and ``info`` work on a robot that has none of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.tensorrt.op_support import DEFAULT_OPSET, SUPPORTED_OPSETS
from ma_trt_convert.variants.release_files import ELOFTR_DEFAULT_MAX_MATCHES as DEFAULT_MAX_MATCHES
from ma_trt_convert.variants.release_files import VARIANTS

if TYPE_CHECKING:
    from ma_trt_ros.contract.compare import Tolerances

LOG = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``verify``."""
    exp = sub.add_parser(
        "export",
        help="export a variant from its checkpoint to a cleaned, fixed-shape ONNX file",
        description=(
            "Load the released weights, build the fixed-shape export module and write a cleaned ONNX "
            "(constant-folded, no float64, no operator TensorRT rejects) with metadata: variant, "
            "resolutions, precision, checkpoint hashes, exporter version and the I/O contract "
            "(see `ma-trt-convert info`). --precision fp16 writes a strongly typed graph (fp16 compute, "
            "fp32 where the reference keeps fp32: normalisations, softmax, GP) for TensorRT's strongly "
            "typed builds; use fp32 for jetson-xavier-jp5 (TensorRT 8.5 makes fp16 with its builder flag)."
        ),
    )
    exp.add_argument("--variant", choices=VARIANTS, required=True)
    exp.add_argument("--checkpoint", required=True, help="matchanything_<variant>.ckpt as released")
    exp.add_argument("--dinov2", help="RoMa only: dinov2_vitl14_pretrain.pth as released")
    exp.add_argument("--output", required=True, help="ONNX file to write (weights over 1 GiB go to <output>.data)")
    exp.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="graph precision (default fp16)")
    exp.add_argument("--batch", type=int, default=1, help="fixed batch size (pairs per run; default 1)")
    exp.add_argument(
        "--opset",
        type=int,
        choices=SUPPORTED_OPSETS,
        default=DEFAULT_OPSET,
        help="ONNX opset (default 17: parsed by TensorRT 8.5 to 11, GridSample right; 16 for jetson-xavier-jp5)",
    )
    exp.add_argument("--height", type=int, default=480, help="ELoFTR: input height in pixels, multiple of 32")
    exp.add_argument("--width", type=int, default=640, help="ELoFTR: input width in pixels, multiple of 32")
    exp.add_argument("--threshold", type=float, default=0.1, help="ELoFTR: coarse match threshold (default 0.1)")
    exp.add_argument(
        "--max-matches",
        type=parse_max_matches,
        default=DEFAULT_MAX_MATCHES,
        help=f"ELoFTR: output rows, the global match budget (default {DEFAULT_MAX_MATCHES}; below 3840 for "
        "TensorRT's TopK); 'all' or 0: one row per candidate, the heavy unbudgeted graph",
    )
    exp.add_argument("--coarse-res", type=int, default=560, help="RoMa: coarse pass side in pixels (default 560)")
    exp.add_argument(
        "--upsample-res", type=int, default=864, help="RoMa: upsample pass side in pixels (default 864; 0: no pass 2)"
    )
    exp.add_argument("--gp-solver", help="RoMa: GP solver of the model port (default: the port's)")
    exp.add_argument(
        "--device", default="cpu", help="torch device to trace on (default cpu; cuda is much faster for fp16)"
    )
    exp.add_argument(
        "--external-data",
        choices=("auto", "always", "never"),
        default="auto",
        help="weights in <output>.data: auto = when over 1 GiB (default)",
    )
    exp.set_defaults(run=run_export)

    ver = sub.add_parser(
        "verify",
        help="compare an exported ONNX (ONNX Runtime) with the PyTorch model on the same inputs",
        description=(
            "Rebuild the PyTorch module recorded in the ONNX metadata from the given weights, run it and "
            "the ONNX file (ONNX Runtime, CPU) on a synthetic image pair and print per-output errors: "
            "median, p99 and max, in pixels for coordinates (warp, keypoints), absolute for "
            "certainty/confidence, mismatch fraction for validity masks. ELoFTR rows are paired by their "
            "coarse cells (output `cells`), not by position: the valid match sets are compared (in both, only "
            "in one, Jaccard index) and keypoints/confidences on the matches valid in both. Exits 1 when a "
            "tolerance is exceeded. Defaults depend on the graph precision (fp32: p99 0.1 px, max 1 px, score "
            "1e-3, mask 0.2 percent, match agreement 1.0 = identical sets; fp16: 2 px, 8 px, 0.05, 1 percent, "
            "0.95)."
        ),
    )
    ver.add_argument("--onnx", required=True, help="ONNX file written by `ma-trt-convert export`")
    ver.add_argument("--checkpoint", required=True, help="the checkpoint the ONNX was exported from")
    ver.add_argument("--dinov2", help="RoMa only: the DINOv2 weights the ONNX was exported from")
    ver.add_argument("--seed", type=int, default=0, help="seed of the synthetic image pair (default 0)")
    ver.add_argument(
        "--pair",
        choices=("octaves", "shifted"),
        default="octaves",
        help="synthetic image pair: octaves (smooth texture and a shifted, re-lit copy; default) or shifted (a "
        "finer texture moved by a few pixels: where ELoFTR with synthetic matching weights finds many matches)",
    )
    ver.add_argument(
        "--reference-precision",
        choices=("graph", "fp32"),
        default="graph",
        help="precision of the PyTorch reference: the graph's (export parity, default) or fp32 (total fp16 "
        "error; also much faster on CPU, where PyTorch has no fast fp16 convolution)",
    )
    ver.add_argument("--device", default="cpu", help="torch device of the PyTorch reference (default cpu; e.g. cuda)")
    ver.add_argument("--px-p99", type=float, help="max p99 coordinate error in pixels")
    ver.add_argument("--px-max", type=float, help="max coordinate error in pixels")
    ver.add_argument("--score-max", type=float, help="max absolute certainty/confidence error")
    ver.add_argument(
        "--mask-fraction",
        type=float,
        help="max fraction of validity entries that differ (graphs without row identities)",
    )
    ver.add_argument(
        "--min-match-agreement",
        type=float,
        help="least Jaccard index of the two valid match sets (ELoFTR), also the bound 1 - x on the relative "
        "num_valid difference (default fp32 1.0: identical sets; fp16 0.95)",
    )
    ver.set_defaults(run=run_verify)


def parse_max_matches(text: str) -> int | None:
    """``--max-matches`` value: a positive row budget, or None (every candidate) for ``all`` or ``0``."""
    word = text.strip().lower()
    if word == "all":
        return None
    if not word.isdigit():
        raise argparse.ArgumentTypeError(f"expected a positive number of rows, 'all' or 0, got {text!r}")
    return int(word) or None


def _hash_weights(variant: str, checkpoint: str, dinov2: str | None) -> dict[str, str]:
    from ma_trt_ros.contract.files import sha256_file

    hashes = {"checkpoint_sha256": sha256_file(checkpoint)}
    if variant == "roma" and dinov2 is not None:
        hashes["dinov2_sha256"] = sha256_file(dinov2)
    return hashes


def run_export(args: argparse.Namespace) -> int:
    """Build the module, export, print what was written."""
    from ma_trt_convert.onnx.export import export_onnx
    from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY
    from ma_trt_convert.variants.models import build_args, build_module, encode_build_args
    from ma_trt_ros.contract.variants import variant_contract

    start = time.monotonic()
    kwargs = build_args(
        args.variant,
        height=args.height,
        width=args.width,
        threshold=args.threshold,
        max_matches=args.max_matches,
        coarse_res=args.coarse_res,
        upsample_res=args.upsample_res or None,
        gp_solver=args.gp_solver,
    )
    module = build_module(args.variant, args.checkpoint, args.dinov2, precision=args.precision, args=kwargs)
    module = module.to(args.device)
    metadata = {
        "variant": args.variant,
        "precision": args.precision,
        BUILD_ARGS_KEY: encode_build_args(kwargs),
        **_hash_weights(args.variant, args.checkpoint, args.dinov2),
    }
    external = {"auto": None, "always": True, "never": False}[args.external_data]
    result = export_onnx(
        module,
        args.output,
        opset=args.opset,
        batch=args.batch,
        metadata=metadata,
        descriptions=variant_contract(args.variant).descriptions,
        external_data=external,
    )
    sizes = ", ".join(f"{p} ({p.stat().st_size / 2**20:.1f} MiB)" for p in result.files)
    print(f"wrote {sizes} in {time.monotonic() - start:.1f} s")
    print(f"{args.variant} {args.precision}, opset {args.opset}, batch {args.batch}, build args {kwargs}")
    print(f"{sum(result.op_counts.values())} nodes: " + ", ".join(f"{k} {v}" for k, v in result.op_counts.items()))
    if args.precision == "fp16" and result.float16_initializers == 0:
        LOG.warning("fp16 export holds no float16 weights: the model port ignored precision='fp16'")
    print(f"next: ma-trt-convert verify --onnx {args.output} --checkpoint {args.checkpoint} ...")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Run both models, print the error table, 1 when beyond tolerance."""
    from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY, decode_io_contract, read_onnx_metadata
    from ma_trt_convert.variants.models import build_module, decode_build_args
    from ma_trt_convert.verify.parity import run_onnxruntime, run_torch, synthetic_inputs
    from ma_trt_ros.contract.compare import compare_outputs

    onnx_path = Path(args.onnx)
    if not onnx_path.is_file():
        raise ConversionError(f"{onnx_path}: no such file")
    metadata = read_onnx_metadata(onnx_path)
    if "variant" not in metadata or BUILD_ARGS_KEY not in metadata:
        raise ConversionError(f"{onnx_path}: no ma_trt_convert metadata; was it written by `ma-trt-convert export`?")
    variant, precision = metadata["variant"], metadata["precision"]
    hashes = _hash_weights(variant, args.checkpoint, args.dinov2)
    for key, digest in hashes.items():
        if metadata.get(key) not in (None, digest):
            raise ConversionError(
                f"{key.split('_')[0]} file differs from the one {onnx_path} was exported from "
                f"(sha256 {digest[:12]}... vs {metadata[key][:12]}...): pass the same weights"
            )
    reference_precision = precision if args.reference_precision == "graph" else "fp32"
    module = build_module(
        variant,
        args.checkpoint,
        args.dinov2,
        precision=reference_precision,
        args=decode_build_args(metadata[BUILD_ARGS_KEY]),
    )
    specs_in, specs_out = decode_io_contract(metadata)
    inputs = synthetic_inputs(specs_in, seed=args.seed, pair=args.pair)
    start = time.monotonic()
    reference = run_torch(module.to(args.device), inputs)
    torch_s = time.monotonic() - start
    candidate = run_onnxruntime(onnx_path, tuple(s.name for s in specs_in), inputs)
    ort_s = time.monotonic() - start - torch_s
    tol = _tolerances(args, precision)
    comparison = compare_outputs(tuple(s.name for s in specs_out), reference, candidate)
    print(
        f"{onnx_path}: {variant} {precision} graph vs PyTorch {reference_precision} on {args.device} "
        f"({torch_s:.1f} s), ONNX Runtime ({ort_s:.1f} s)"
    )
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
        return 1
    print("verify passed")
    return 0


def _tolerances(args: argparse.Namespace, precision: str) -> Tolerances:
    """The precision's default tolerances, overridden by the options given on the command line."""
    from ma_trt_ros.contract.compare import Tolerances

    default = Tolerances.default(precision)
    given = {
        "px_p99": args.px_p99,
        "px_max": args.px_max,
        "score_max": args.score_max,
        "mask_fraction": args.mask_fraction,
        "min_match_agreement": args.min_match_agreement,
    }
    return dataclasses.replace(default, **{k: v for k, v in given.items() if v is not None})
