"""``build``, ``sidecar``, ``check`` and ``info`` subcommands (ONNX -> TensorRT plan, parser check, summary)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ma_trt_convert.cli.arguments import size_argument
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.tensorrt.profiles import ProfileSizes
from ma_trt_convert.tensorrt.targets import TARGETS, default_options, get_target, trtexec_command
from ma_trt_ros.contract.sidecar import sidecar_path

TARGET_HELP = "where the plan will run; each target is described above"


def _target_help() -> str:
    return "; ".join(f"{t.name}: {t.summary}" for t in TARGETS.values())


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``build``, ``sidecar``, ``check`` and ``info``."""
    bld = sub.add_parser(
        "build",
        help="build a TensorRT plan (+ JSON sidecar) from an exported ONNX for one target",
        description=(
            "Parse the ONNX with the target's TensorRT and build a plan on this machine (engines are tied to "
            "the TensorRT version and GPU: run this on the robot, or on an identical one). Writes the plan "
            "atomically and <plan>.json, the sidecar the runtime checks before loading. Targets: " + _target_help()
        ),
    )
    bld.add_argument("--onnx", required=True, help="ONNX file written by `ma-trt-convert export`")
    bld.add_argument("--target", choices=TARGETS, required=True, help=TARGET_HELP)
    bld.add_argument("--output", required=True, help="plan file to write (sidecar: <output>.json)")
    bld.add_argument("--workspace-gib", type=float, help="workspace memory-pool limit in GiB (default per target)")
    bld.add_argument("--opt-level", type=int, help="builder optimisation level 0-5 (default 3)")
    bld.add_argument("--timing-cache", help="timing cache file (default <output>.timing-cache where it applies)")
    bld.add_argument("--no-timing-cache", action="store_true", help="build without a timing cache")
    bld.add_argument(
        "--version-compatible",
        action="store_true",
        help="desktop: version-compatible plan that later TensorRT of the same major runs (lean runtime)",
    )
    bld.add_argument(
        "--exclude-lean-runtime", action="store_true", help="with --version-compatible: leave the lean runtime out"
    )
    bld.add_argument("--dla-core", type=int, help="Jetson Orin/Xavier: place layers on this DLA core (GPU fallback)")
    bld.add_argument(
        "--compute-capability",
        help="desktop-rtx: comma-separated capabilities to build for (default 8.0,8.6,8.9,12.0)",
    )
    bld.add_argument(
        "--no-fp32-layers",
        action="store_true",
        help="jetson-xavier-jp5: let the builder put softmax/normalisation layers in fp16 too (may overflow)",
    )
    _add_profile_sizes(bld)
    bld.add_argument(
        "--print-trtexec",
        action="store_true",
        help="print the equivalent trtexec command (to build on a Jetson without Python) and exit",
    )
    bld.set_defaults(run=run_build)

    chk = sub.add_parser(
        "check",
        help="list what the target's TensorRT cannot parse in an ONNX, before going to the robot",
        description=(
            "Report the opset and every node the target's TensorRT version does not parse, from NVIDIA's "
            "onnx-tensorrt support tables (8.5, 10.x) and the restrictions that matter here (TopK K >= 3840, "
            "antialiased Resize, GridSample at opset >= 20, float64). When the target's TensorRT module is "
            "importable here (tensorrt_rtx for desktop-rtx), the file is also parsed for real and parser "
            "errors are listed per node. Exits 1 on any problem."
        ),
    )
    chk.add_argument("--onnx", required=True, help="ONNX file written by `ma-trt-convert export`")
    chk.add_argument("--target", choices=TARGETS, required=True, help=TARGET_HELP)
    chk.add_argument("--no-parser", action="store_true", help="only the static tables, no real parse")
    chk.set_defaults(run=run_check)

    side = sub.add_parser(
        "sidecar",
        help="write the sidecar for a plan built without this tool (e.g. by the --print-trtexec command)",
        description=(
            "Write <plan>.json for a plan built from an exported ONNX by other means (trtexec on a Jetson). "
            "The I/O contract comes from the ONNX; say how the plan was built: --target, the TensorRT version "
            "(default: the target module's, when importable here), the build GPU's name and compute "
            "capability (default: this machine's GPU), and --dla-core/--version-compatible if used."
        ),
    )
    side.add_argument("--onnx", required=True, help="the ONNX file the plan was built from")
    side.add_argument("--plan", required=True, help="the plan file")
    side.add_argument("--target", choices=TARGETS, required=True, help="the target the plan was built for")
    side.add_argument("--tensorrt-version", help="TensorRT version that built the plan, e.g. 10.3.0.30")
    side.add_argument("--gpu-name", help="name of the GPU that built it, e.g. Orin")
    side.add_argument("--compute-capability", help="its compute capability, e.g. 8.7 (comma list for desktop-rtx)")
    side.add_argument("--dla-core", type=int, help="DLA core the plan was built for")
    side.add_argument("--version-compatible", action="store_true", help="the plan was built version-compatible")
    side.add_argument("--exclude-lean-runtime", action="store_true", help="... and without the lean runtime")
    _add_profile_sizes(side)
    side.set_defaults(run=run_sidecar)

    inf = sub.add_parser(
        "info",
        help="print the metadata and I/O contract of a plan (its sidecar) or an exported ONNX",
        description=(
            "For a .plan: read <plan>.json, check the plan's SHA-256 against it and print build details and "
            "the I/O contract (exit 1 on a hash mismatch). For an .onnx: print its metadata, opset, operator "
            "counts and I/O contract."
        ),
    )
    inf.add_argument("path", help="model.plan or model.onnx")
    inf.add_argument("--json", action="store_true", help="print the raw sidecar/metadata as JSON")
    inf.set_defaults(run=run_info)


def _add_profile_sizes(parser: argparse.ArgumentParser) -> None:
    """``--min-size``/``--opt-size``/``--max-size``: the optimisation profile of a dynamic-size ONNX."""
    for bound, default in (
        ("min", "the smallest size of the ONNX's --size-range"),
        ("opt", "the size the ONNX was traced at, its --height x --width"),
        ("max", "the largest size of the ONNX's --size-range"),
    ):
        parser.add_argument(
            f"--{bound}-size",
            type=size_argument,
            metavar="HxW",
            help=f"dynamic-size ONNX only: {bound} input height x width of the optimisation profile, pixels, "
            f"multiples of 32 (default {default})",
        )


def _profile_sizes(args: argparse.Namespace) -> ProfileSizes:
    return ProfileSizes(args.min_size, args.opt_size, args.max_size)


def _options(args: argparse.Namespace) -> tuple:
    target = get_target(args.target)
    options = default_options(target, args.output)
    if args.workspace_gib is not None:
        options = replace(options, workspace_gib=args.workspace_gib)
    if args.opt_level is not None:
        options = replace(options, opt_level=args.opt_level)
    if args.timing_cache:
        options = replace(options, timing_cache=args.timing_cache)
    if args.no_timing_cache:
        options = replace(options, timing_cache=None)
    if args.compute_capability:
        options = replace(options, compute_capabilities=tuple(c.strip() for c in args.compute_capability.split(",")))
    return target, replace(
        options,
        version_compatible=args.version_compatible,
        exclude_lean_runtime=args.exclude_lean_runtime,
        dla_core=args.dla_core,
        fp32_layers=not args.no_fp32_layers,
        profile_sizes=_profile_sizes(args),
    )


def run_build(args: argparse.Namespace) -> int:
    """Build (or print the trtexec command)."""
    import onnx

    from ma_trt_convert.onnx.metadata import decode_io_contract, get_metadata
    from ma_trt_convert.tensorrt.build import FP32_ONNX_OPS, build_engine
    from ma_trt_convert.tensorrt.profiles import optimisation_profiles

    target, options = _options(args)
    if not Path(args.onnx).is_file():
        raise ConversionError(f"{args.onnx}: no such file")
    if args.print_trtexec:
        model = onnx.load(args.onnx, load_external_data=False)
        names = tuple(n.name for n in model.graph.node if n.op_type in FP32_ONNX_OPS and n.name)
        metadata = get_metadata(model)
        profiles = optimisation_profiles(decode_io_contract(metadata)[0], metadata, options.profile_sizes)
        print(trtexec_command(target, options, args.onnx, args.output, fp32_layer_names=names, profiles=profiles))
        print(
            f"then write the sidecar the runtime needs: ma-trt-convert sidecar --onnx {args.onnx} --plan {args.output} "
            f"--target {target.name} --tensorrt-version <the robot's> --gpu-name <its GPU> --compute-capability <its>",
            file=sys.stderr,
        )
        return 0
    folder = Path(args.output).parent
    new_folder = not folder.is_dir()
    sidecar = build_engine(args.onnx, args.output, target, options)
    if new_folder:
        print(f"created the folder {folder} (it did not exist)")
    print(f"wrote {args.output} ({sidecar.plan.size / 2**20:.1f} MiB) and {sidecar_path(args.output)}")
    print(
        f"{sidecar.tensorrt.module} {sidecar.tensorrt.version}, {sidecar.tensorrt.typing} typing, "
        f"{sidecar.precision} graph, for {sidecar.device.gpu_name or 'compute capability'} "
        f"{' '.join(sidecar.device.compute_capabilities)}"
    )
    for profile in sidecar.profiles:
        print(f"optimisation profile {profile.text()}")
    return 0


def run_sidecar(args: argparse.Namespace) -> int:
    """Write the sidecar of an existing plan."""
    from ma_trt_convert.tensorrt.build import checked_version, gpu_identity, import_tensorrt, sidecar_for_plan
    from ma_trt_ros.contract.sidecar import BuildDevice

    target = get_target(args.target)
    version = args.tensorrt_version or checked_version(import_tensorrt(target), target)
    capabilities = tuple(c.strip() for c in args.compute_capability.split(",")) if args.compute_capability else ()
    if target.module == "tensorrt_rtx":
        device = BuildDevice(None, capabilities or target.compute_capabilities)
    elif args.gpu_name or capabilities:
        device = BuildDevice(args.gpu_name, capabilities)
    else:
        name, capability = gpu_identity()
        device = BuildDevice(name, (capability,) if capability else ())
    options = replace(
        default_options(target, args.plan),
        timing_cache=None,
        compute_capabilities=(),
        dla_core=args.dla_core,
        version_compatible=args.version_compatible,
        exclude_lean_runtime=args.exclude_lean_runtime,
        profile_sizes=_profile_sizes(args),
    )
    sidecar = sidecar_for_plan(args.onnx, args.plan, target, options, version=version, device=device)
    print(
        f"wrote {sidecar_path(args.plan)}: {sidecar.variant} {sidecar.precision}, {target.module} {version}, "
        f"{device.gpu_name or 'no GPU name'} {' '.join(device.compute_capabilities)}"
    )
    return 0


@contextlib.contextmanager
def readable_onnx(path: str | Path) -> Iterator[None]:
    """Turn protobuf's DecodeError while reading ``path`` into a one-line ConversionError."""
    from google.protobuf.message import DecodeError

    try:
        yield
    except DecodeError as error:
        raise ConversionError(
            f"{path}: not an ONNX file, or a truncated one ({error}); give the .onnx that `ma-trt-convert export` "
            "wrote, copied whole"
        ) from error


def run_check(args: argparse.Namespace) -> int:
    """Print the check report; 1 when the target's parser would fail."""
    from ma_trt_convert.tensorrt.check import check_onnx

    if not Path(args.onnx).is_file():
        raise ConversionError(f"{args.onnx}: no such file")
    with readable_onnx(args.onnx):
        report = check_onnx(args.onnx, get_target(args.target), real_parser=not args.no_parser)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _info_plan(path: Path, as_json: bool) -> int:
    from ma_trt_ros.contract.files import sha256_file
    from ma_trt_ros.contract.sidecar import read_sidecar
    from ma_trt_ros.contract.tensors import format_io_contract

    sidecar = read_sidecar(sidecar_path(path))
    if as_json:
        print(json.dumps(sidecar.to_dict(), indent=2))
    else:
        t = sidecar.tensorrt
        print(f"{path}: {sidecar.variant} {sidecar.precision}, batch {sidecar.batch}, target {sidecar.target}")
        print(
            f"built with {t.module} {t.version} ({t.typing} typing{', fp16 flag' if t.fp16_flag else ''}"
            f"{', version-compatible' if t.version_compatible else ''}"
            f"{f', DLA core {t.dla_core}' if t.dla_core is not None else ''}) on {sidecar.created_utc}"
        )
        print(
            f"device: {sidecar.device.gpu_name or 'no GPU recorded'}; compute capability "
            f"{' '.join(sidecar.device.compute_capabilities) or 'unknown'}"
        )
        print(f"from {sidecar.onnx.file} (sha256 {sidecar.onnx.sha256[:16]}...)")
        for key in sorted(sidecar.model):
            print(f"  {key}: {sidecar.model[key]}")
        print(format_io_contract(sidecar.inputs, sidecar.outputs))
        if sidecar.profiles:
            print("optimisation profile (input shapes the plan takes; -1 above = set per call):")
            print("\n".join(f"  {profile.text()}" for profile in sidecar.profiles))
    actual = sha256_file(path)
    if actual != sidecar.plan.sha256:
        print(f"plan sha256 {actual[:16]}... does NOT match the sidecar ({sidecar.plan.sha256[:16]}...): rebuild")
        return 1
    return 0


def _info_onnx(path: Path, as_json: bool) -> int:
    import onnx

    from ma_trt_convert.onnx.cleanup import op_histogram
    from ma_trt_convert.onnx.metadata import IO_CONTRACT_KEY, decode_io_contract, get_metadata
    from ma_trt_convert.tensorrt.op_support import model_opset
    from ma_trt_ros.contract.tensors import format_io_contract

    with readable_onnx(path):
        model = onnx.load(os.fspath(path), load_external_data=False)
    metadata = get_metadata(model)
    if as_json:
        print(json.dumps(metadata, indent=2))
        return 0
    external = path.with_name(path.name + ".data")
    size = path.stat().st_size + (external.stat().st_size if external.is_file() else 0)
    print(
        f"{path}: opset {model_opset(model)}, {size / 2**20:.1f} MiB"
        + (" (external data)" if external.is_file() else "")
    )
    counts = op_histogram(model)
    print(f"{sum(counts.values())} nodes: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for key in sorted(metadata):
        if key != IO_CONTRACT_KEY:
            print(f"  {key}: {metadata[key]}")
    if IO_CONTRACT_KEY in metadata:
        print(format_io_contract(*decode_io_contract(metadata)))
        if "size_range" in metadata:
            print(
                f"dynamic input size {metadata['size_range']} (heights x widths, multiples of "
                f"{metadata.get('size_multiple', '32')}); `build` makes the profile min/max of that range and opt "
                f"{metadata['height']}x{metadata['width']} unless --min-size/--opt-size/--max-size say otherwise"
            )
    else:
        print("no I/O contract: not written by `ma-trt-convert export`")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Summarise a plan (via its sidecar) or an ONNX file."""
    path = Path(args.path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    if path.suffix == ".onnx":
        return _info_onnx(path, args.json)
    return _info_plan(path, args.json)
