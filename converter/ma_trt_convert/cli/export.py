"""``export`` and ``verify`` subcommands (PyTorch checkpoint -> ONNX, ONNX Runtime parity).

Parsers are built from the variant facts (:mod:`ma_trt_convert.variants`); every option is checked
against the chosen variant before any file is loaded. PyTorch, ONNX and ONNX Runtime are imported
only when a subcommand runs, so that ``--help`` and the engine commands work without them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ma_trt_convert.cli.arguments import size_argument
from ma_trt_convert.engine_limits import DEFAULT_OPSET, SUPPORTED_OPSETS
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.variants import SPECS, VARIANTS, build_options, variant_spec
from ma_trt_convert.variants.spec import VariantSpec
from ma_trt_convert.verify.fp16 import DEFAULT_MARGIN, DEFAULT_MIN_MATCHES
from ma_trt_ros.contract.sidecar import PRECISIONS

if TYPE_CHECKING:
    from ma_trt_convert.verify.compare import Tolerances

LOG = logging.getLogger(__name__)
VARIANT_HELP = "roma (dense, RoMa-based; two weight files) or eloftr (semi-dense, ELoFTR-based; one file)"


def _add_release_files(parser: argparse.ArgumentParser, purpose: str) -> None:
    """``--checkpoint``, ``--dinov2``...: each variant's released files (named once per option)."""
    seen: dict[str, list[str]] = {}
    for spec in SPECS.values():
        for release in spec.release_files:
            seen.setdefault(release.input_option, []).append(f"{spec.name}: {release.file_name}")
    for option, files in seen.items():
        parser.add_argument(option, help=f"{purpose} ({'; '.join(files)})")


NOT_GIVEN = argparse.SUPPRESS  # an option left out leaves no attribute: given and foreign options are detectable


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    """One option per build option of any variant; an option not given sets nothing (``None`` is a value:
    ``--upsample-res 0`` and ``--max-matches all`` select graphs of their own)."""
    for name, owners in build_options().items():
        first = owners[0][1]
        text = "; ".join(f"{variant}: {option.help} (default {option.default})" for variant, option in owners)
        parser.add_argument(
            first.flag, dest=name, type=first.parse, choices=first.choices, default=NOT_GIVEN, help=text
        )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``verify``."""
    exp = sub.add_parser(
        "export",
        help="export a variant from its checkpoint to a cleaned ONNX file (fixed shapes, or ELoFTR with a size range)",
        description=(
            "Load the released weights, build the export module (fixed shapes; ELoFTR with --size-range: dynamic "
            "height and width) and write a cleaned ONNX "
            "(constant-folded, no float64, no operator TensorRT rejects) with metadata: variant, "
            "resolutions, precision, checkpoint hashes, exporter version and the I/O contract "
            "(see `ma-trt-convert info`). Options are checked against the variant before anything is loaded; "
            "an option of the other variant is an error."
        ),
    )
    exp.add_argument("--variant", choices=VARIANTS, required=True, help=VARIANT_HELP)
    _add_release_files(exp, "released weights")
    exp.add_argument("--output", required=True, help="ONNX file to write (weights over 1 GiB go to <output>.data)")
    exp.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp16",
        help="graph precision (default fp16: a strongly typed graph, fp16 compute with fp32 normalisations, "
        "softmax and GP; tracing it on a CPU is slow, about 105 s for ELoFTR 480x640; fp32 for "
        "jetson-xavier-jp5, where TensorRT 8.5 makes fp16 with its builder flag)",
    )
    exp.add_argument("--batch", type=int, default=1, help="fixed batch size (pairs per run; default 1)")
    exp.add_argument(
        "--opset",
        type=int,
        choices=SUPPORTED_OPSETS,
        default=DEFAULT_OPSET,
        help="ONNX opset (default 17: parsed by TensorRT 8.5 to 11, GridSample right; 16 for jetson-xavier-jp5)",
    )
    _add_build_options(exp)
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
            "Rebuild the PyTorch module recorded in the ONNX metadata from the given weights, run it and the "
            "ONNX file (ONNX Runtime, CPU) on a synthetic image pair and print per-output errors: median, p99 "
            "and max, in pixels for coordinates (warp, keypoints), absolute for certainty/confidence, mismatch "
            "fraction for validity masks. ELoFTR rows are paired by their coarse cells (output `cells`), not by "
            "position. fp32 graphs are held to tolerances (defaults: p99 0.1 px, max 1 px, score 1e-3, mask "
            "0.2 percent, identical match sets). fp16 graphs are judged against PyTorch's own fp16: the PyTorch "
            "port runs in fp32 and fp16, and the graph passes when its deviation from fp32 (medians, arg-max "
            "flips, match sets) is within --fp16-margin times PyTorch fp16's (docs/conversion.md). Exit 0 "
            "passed, 1 failed, 3 not judged (too few matches to judge an fp16 graph)."
        ),
    )
    ver.add_argument("--onnx", required=True, help="ONNX file written by `ma-trt-convert export`")
    _add_release_files(ver, "the weights the ONNX was exported from")
    ver.add_argument("--seed", type=int, default=0, help="seed of the synthetic image pair (default 0)")
    ver.add_argument(
        "--size",
        type=size_argument,
        action="append",
        metavar="HxW",
        help="dynamic-size graphs: verify at this input height x width (pixels; repeat for several sizes; default "
        "the size the graph was traced at)",
    )
    ver.add_argument(
        "--pair",
        choices=("octaves", "shifted"),
        default="octaves",
        help="synthetic image pair: octaves (smooth texture and a shifted, re-lit copy; default) or shifted (a "
        "finer texture moved by a few pixels; ELoFTR finds many matches on it with real weights or with "
        "`random-checkpoint --variant eloftr --matching HxW` weights)",
    )
    ver.add_argument("--device", default="cpu", help="torch device of the PyTorch reference (default cpu; e.g. cuda)")
    ver.add_argument("--px-p99", type=float, help="fp32 graphs: max p99 coordinate error in pixels")
    ver.add_argument("--px-max", type=float, help="fp32 graphs: max coordinate error in pixels")
    ver.add_argument("--score-max", type=float, help="fp32 graphs: max absolute certainty/confidence error")
    ver.add_argument(
        "--mask-fraction",
        type=float,
        help="fp32 graphs: max fraction of validity entries that differ (graphs without row identities)",
    )
    ver.add_argument(
        "--min-match-agreement",
        type=float,
        help="fp32 graphs: least Jaccard index of the two valid match sets (ELoFTR; default 1.0, identical sets), "
        "also the bound 1 - x on the relative num_valid difference",
    )
    ver.add_argument(
        "--fp16-margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"fp16 graphs: how many times PyTorch fp16's deviation the graph may show (default {DEFAULT_MARGIN})",
    )
    ver.add_argument(
        "--min-matches",
        type=int,
        default=DEFAULT_MIN_MATCHES,
        help=f"fp16 graphs: fewer fp32 matches than this is 'not judged' (default {DEFAULT_MIN_MATCHES})",
    )
    ver.set_defaults(run=run_verify)


def _release_files(spec: VariantSpec, args: argparse.Namespace) -> dict[str, str | None]:
    """Weight files by option destination; an error for files of the other variant or missing files."""
    from ma_trt_convert.variants.models import release_paths

    own = {release.dest for release in spec.release_files}
    for other in SPECS.values():
        for release in other.release_files:
            if release.dest not in own and getattr(args, release.dest, None) is not None:
                raise ConversionError(f"{release.input_option} does not apply to --variant {spec.name}")
    files = {dest: getattr(args, dest, None) for dest in own}
    release_paths(spec, files)
    return files


def resolve_build_args(spec: VariantSpec, args: argparse.Namespace) -> dict[str, Any]:
    """The variant's build arguments from the command line (checked; warnings logged)."""
    given = {name: getattr(args, name) for name in build_options() if hasattr(args, name)}
    values, warnings = spec.resolve(given)
    for warning in warnings:
        LOG.warning(warning)
    return values


def _hash_weights(spec: VariantSpec, files: dict[str, str | None]) -> dict[str, str]:
    from ma_trt_ros.contract.files import sha256_file

    return {f"{release.dest}_sha256": sha256_file(files[release.dest]) for release in spec.release_files}


def run_export(args: argparse.Namespace) -> int:
    """Check the options and files, build the module, export, print what was written."""
    spec = variant_spec(args.variant)
    kwargs = resolve_build_args(spec, args)
    files = _release_files(spec, args)
    from ma_trt_convert.onnx.export import export_onnx
    from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY
    from ma_trt_convert.variants.models import build_module, encode_build_args

    start = time.monotonic()
    module = build_module(spec.name, files, precision=args.precision, args=kwargs).to(args.device)
    metadata = {
        "variant": spec.name,
        "precision": args.precision,
        BUILD_ARGS_KEY: encode_build_args(kwargs),
        **_hash_weights(spec, files),
    }
    external = {"auto": None, "always": True, "never": False}[args.external_data]
    result = export_onnx(
        module,
        args.output,
        opset=args.opset,
        batch=args.batch,
        metadata=metadata,
        descriptions=spec.contract.descriptions,
        external_data=external,
    )
    sizes = ", ".join(f"{p} ({p.stat().st_size / 2**20:.1f} MiB)" for p in result.files)
    print(f"wrote {sizes} in {time.monotonic() - start:.1f} s")
    print(f"{spec.name} {args.precision}, opset {args.opset}, batch {args.batch}, build args {kwargs}")
    print(f"{sum(result.op_counts.values())} nodes: " + ", ".join(f"{k} {v}" for k, v in result.op_counts.items()))
    if args.precision == "fp16" and result.float16_initializers == 0:
        LOG.warning("fp16 export holds no float16 weights: the model port ignored precision='fp16'")
    print(f"next: ma-trt-convert verify --onnx {args.output} --checkpoint {files['checkpoint']} ...")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Run the models, print the error table; 0 passed, 1 failed, 3 not judged."""
    from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY, read_export_metadata

    onnx_path = Path(args.onnx)
    if not onnx_path.is_file():
        raise ConversionError(f"{onnx_path}: no such file")
    metadata = read_export_metadata(onnx_path, BUILD_ARGS_KEY)
    spec = variant_spec(metadata["variant"])
    files = _release_files(spec, args)
    for key, digest in _hash_weights(spec, files).items():
        if metadata.get(key) not in (None, digest):
            raise ConversionError(
                f"{key.removesuffix('_sha256')} file differs from the one {onnx_path} was exported from "
                f"(sha256 {digest[:12]}... vs {metadata[key][:12]}...): pass the same weights"
            )
    from ma_trt_convert.verify.onnx_against_torch import VerifyRequest, verify_onnx

    request = VerifyRequest(
        args.seed, args.pair, args.device, args.size, _tolerances(args), args.fp16_margin, args.min_matches
    )
    return verify_onnx(onnx_path, metadata, files, request)


def _tolerances(args: argparse.Namespace) -> Tolerances:
    """The fp32 tolerances, overridden by the options given on the command line."""
    from ma_trt_convert.verify.compare import Tolerances

    given = {
        "px_p99": args.px_p99,
        "px_max": args.px_max,
        "score_max": args.score_max,
        "mask_fraction": args.mask_fraction,
        "min_match_agreement": args.min_match_agreement,
    }
    return dataclasses.replace(Tolerances.default("fp32"), **{k: v for k, v in given.items() if v is not None})
