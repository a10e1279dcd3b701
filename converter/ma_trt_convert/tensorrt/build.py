"""ONNX -> TensorRT plan + sidecar, for one target (see :mod:`ma_trt_convert.tensorrt.targets`).

Thin on purpose: import the target's TensorRT module, check its version, parse the ONNX with
NVIDIA's parser, set the target's builder options, build with a progress bar, write the plan and its
sidecar atomically. Version differences handled explicitly:

- TensorRT 8.x needs the ``EXPLICIT_BATCH`` network flag; 10.x deprecates it, 11.x and RTX lack it.
- Strong typing (``STRONGLY_TYPED`` network flag) exists from TensorRT 9/10; 8.5 builds weakly typed
  with the ``FP16`` builder flag, and :func:`keep_fp32_layers` pins overflow-prone layers to fp32
  (``OBEY_PRECISION_CONSTRAINTS``).
- ``builder_optimization_level`` exists from 8.6, ``progress_monitor`` from 10.0.
- TensorRT-RTX: compute capabilities instead of a GPU, no timing cache (its calls are no-ops).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ma_trt_convert import __version__
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.gpu_probe import find_gpu
from ma_trt_convert.onnx.metadata import IO_CONTRACT_KEY, decode_io_contract, onnx_sha256, read_export_metadata
from ma_trt_convert.tensorrt.profiles import optimisation_profiles
from ma_trt_convert.tensorrt.progress import build_progress
from ma_trt_convert.tensorrt.targets import BuildOptions, Target, validate_options
from ma_trt_ros.contract.files import atomic_write_bytes, sha256_file
from ma_trt_ros.contract.sidecar import BuildDevice, EngineSidecar, FileRef, TensorRTBuild, sidecar_path, write_sidecar
from ma_trt_ros.contract.sizes import ShapeProfile
from ma_trt_ros.contract.tensors import TensorSpec

LOG = logging.getLogger(__name__)
# Weak typing: layer kinds that overflow or lose too much in fp16 (LayerNorm/softmax/GP reductions).
FP32_LAYER_TYPES = ("SOFTMAX", "NORMALIZATION", "REDUCE")
FP32_UNARY_OPS = ("EXP", "LOG", "SQRT", "RECIP")
FP32_ONNX_OPS = ("Softmax", "LayerNormalization", "ReduceMean", "ReduceSum", "Exp", "Log", "Sqrt", "Reciprocal", "Pow")


def import_tensorrt(target: Target) -> ModuleType:
    """The target's TensorRT module; ConversionError saying how to install it when it is missing."""
    try:
        return importlib.import_module(target.module)
    except ImportError as exc:
        raise ConversionError(
            f"target {target.name} needs the Python module `{target.module}`, which is not importable here "
            f"({exc}). Install it: {target.install}. Without Python, build on the device with the command "
            f"from `ma-trt-convert build ... --print-trtexec`."
        ) from exc


def _major(version: str) -> int:
    return int(version.split(".")[0])


def checked_version(trt: ModuleType, target: Target) -> str:
    """``trt.__version__`` after checking the major version against the target."""
    version = str(trt.__version__)
    if _major(version) not in target.majors:
        raise ConversionError(
            f"target {target.name} needs {target.module} {' or '.join(f'{m}.x' for m in target.majors)}, "
            f"found {version}: pick the target that matches this machine's TensorRT"
        )
    if target.expected and not version.startswith(target.expected + "."):
        LOG.warning(
            "%s ships TensorRT %s; this is %s: fine if it is the one on the robot",
            target.name,
            target.expected,
            version,
        )
    return version


def make_logger(trt: ModuleType) -> Any:
    """A TensorRT logger that forwards to Python logging (errors as ERROR, info as DEBUG)."""

    class PythonLogger(trt.ILogger):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
                LOG.error("TensorRT: %s", msg)
            elif severity == trt.ILogger.WARNING:
                LOG.warning("TensorRT: %s", msg)
            else:
                LOG.debug("TensorRT: %s", msg)

    return PythonLogger()


def create_network(trt: ModuleType, builder: Any, target: Target) -> Any:
    """An empty network with the flags the target's typing mode and TensorRT version need."""
    creation = trt.NetworkDefinitionCreationFlag
    flags = 0
    if _major(str(trt.__version__)) < 10 and target.module == "tensorrt":
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if target.typing == "strong":
        if not hasattr(creation, "STRONGLY_TYPED"):
            raise ConversionError(f"{target.module} {trt.__version__} has no strongly typed networks")
        flags |= 1 << int(creation.STRONGLY_TYPED)
    return builder.create_network(flags)


def parser_errors(parser: Any) -> list[str]:
    """``node #i name (Op): message`` for each error the ONNX parser recorded."""
    lines = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        name = error.node_name() if hasattr(error, "node_name") else ""
        op = error.node_operator() if hasattr(error, "node_operator") else ""
        lines.append(f"node #{error.node()} {name} ({op}): {error.desc()}")
    return lines


def parse_onnx(trt: ModuleType, network: Any, logger: Any, onnx_path: str | os.PathLike[str]) -> tuple[Any, list[str]]:
    """Parse ``onnx_path`` (external data resolved from its folder) into ``network``.

    Returns:
        ``(parser, errors)``: keep ``parser`` alive until the build is done (it owns the weights).
    """
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse_from_file(os.fspath(onnx_path))
    errors = parser_errors(parser)
    if not ok and not errors:
        errors = ["the parser failed without naming a node"]
    return parser, errors


def keep_fp32_layers(trt: ModuleType, network: Any) -> list[str]:
    """Weak typing: pin softmax, normalisation, reduction and exp/log/sqrt/reciprocal/pow layers to fp32.

    TensorRT 8.5 has no normalisation layer type (added in 8.6; its graphs come from opset 16, where
    LayerNorm is decomposed into reductions, pow, sqrt and division, which are pinned instead).

    Returns:
        names of the pinned layers (the builder must obey: ``OBEY_PRECISION_CONSTRAINTS``).
    """
    kinds = {getattr(trt.LayerType, name) for name in FP32_LAYER_TYPES if hasattr(trt.LayerType, name)}
    unary = {getattr(trt.UnaryOperation, name) for name in FP32_UNARY_OPS}
    pinned = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        keep = layer.type in kinds
        if layer.type == trt.LayerType.UNARY:
            layer.__class__ = trt.IUnaryLayer
            keep = layer.op in unary
        elif layer.type == trt.LayerType.ELEMENTWISE:
            layer.__class__ = trt.IElementWiseLayer
            keep = layer.op == trt.ElementWiseOperation.POW
        if keep:
            layer.precision = trt.float32
            for out in range(layer.num_outputs):
                layer.set_output_type(out, trt.float32)
            pinned.append(layer.name)
    return pinned


def configure(trt: ModuleType, builder: Any, target: Target, options: BuildOptions) -> Any:
    """A builder config with the target's settings (weak typing: FP16 flag + obeyed fp32 layers)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gib * (1 << 30)))
    if hasattr(config, "builder_optimization_level"):
        config.builder_optimization_level = options.opt_level
    if target.typing == "weak":
        config.set_flag(trt.BuilderFlag.FP16)
        if options.fp32_layers:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if options.exclude_lean_runtime:
        config.set_flag(trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME)
    if options.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if options.compute_capabilities:
        config.num_compute_capabilities = len(options.compute_capabilities)
        for index, capability in enumerate(options.compute_capabilities):
            member = "SM" + capability.replace(".", "")
            if not hasattr(trt.ComputeCapability, member):
                known = [m for m in trt.ComputeCapability.__members__ if m.startswith("SM")]
                raise ConversionError(f"compute capability {capability} unknown to {target.module}; known: {known}")
            config.set_compute_capability(getattr(trt.ComputeCapability, member), index)
    return config


def add_profile(builder: Any, config: Any, profiles: tuple[ShapeProfile, ...]) -> None:
    """Give ``config`` one optimisation profile holding every dynamic input's min/opt/max shape."""
    if not profiles:
        return
    profile = builder.create_optimization_profile()
    for entry in profiles:
        profile.set_shape(entry.name, entry.min, entry.opt, entry.max)
    config.add_optimization_profile(profile)
    LOG.info("optimisation profile: %s", "; ".join(entry.text() for entry in profiles))


def _load_timing_cache(config: Any, path: str) -> None:
    data = Path(path).read_bytes() if Path(path).is_file() else b""
    LOG.info("timing cache %s (%s)", path, f"{len(data)} bytes" if data else "new")
    config.set_timing_cache(config.create_timing_cache(data), False)


def gpu_identity() -> tuple[str | None, str | None]:
    """``(name, "major.minor")`` of GPU 0 (:func:`ma_trt_convert.gpu_probe.find_gpu`); ``(None, None)`` if none."""
    gpu = find_gpu()
    if gpu is None:
        return None, None
    return gpu.name or None, gpu.compute_capability or None


def build_device(target: Target, options: BuildOptions) -> BuildDevice:
    """What the plan is built for: RTX lists capabilities (no GPU name: the plan is portable)."""
    if target.module == "tensorrt_rtx":
        return BuildDevice(None, options.compute_capabilities)
    name, capability = gpu_identity()
    if name is None:
        LOG.warning("could not identify the GPU (no nvidia-smi, no torch.cuda, no pycuda): the sidecar records none")
    return BuildDevice(name, (capability,) if capability else ())


def _network_specs(trt: ModuleType, network: Any, descriptions: dict[str, str]) -> tuple[tuple, tuple]:
    def spec(tensor: Any) -> TensorSpec:
        dtype = np.dtype(trt.nptype(tensor.dtype)).name
        return TensorSpec(tensor.name, tuple(int(d) for d in tensor.shape), dtype, descriptions.get(tensor.name, ""))

    inputs = tuple(spec(network.get_input(i)) for i in range(network.num_inputs))
    outputs = tuple(spec(network.get_output(i)) for i in range(network.num_outputs))
    return inputs, outputs


def _contract_descriptions(metadata: dict[str, str]) -> dict[str, str]:
    """Tensor name -> description from the ONNX I/O contract (empty when the file has none)."""
    try:
        return {spec.name: spec.description for group in decode_io_contract(metadata) for spec in group}
    except KeyError:
        return {}


def make_sidecar(
    metadata: dict[str, str],
    specs: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]],
    *,
    target: Target,
    options: BuildOptions,
    version: str,
    device: BuildDevice,
    onnx_path: Path,
    plan_path: Path,
    profiles: tuple[ShapeProfile, ...] = (),
) -> EngineSidecar:
    """The sidecar of a plan already written to ``plan_path`` (hashes are computed from the files).

    Args:
        metadata: the ONNX metadata (``model`` keeps all of it but the I/O contract).
        specs: ``(inputs, outputs)`` of the built network.
        version: the TensorRT version that built the plan.
        device: the GPU it was built on / for.
        profiles: the optimisation profile of a dynamic-size plan.
    """
    inputs, outputs = specs
    return EngineSidecar(
        variant=metadata["variant"],
        precision=metadata["precision"],
        batch=inputs[0].shape[0],
        target=target.name,
        tensorrt=TensorRTBuild(
            module=target.module,
            version=version,
            typing=target.typing,
            fp16_flag=target.typing == "weak",
            version_compatible=options.version_compatible,
            exclude_lean_runtime=options.exclude_lean_runtime,
            dla_core=options.dla_core,
        ),
        device=device,
        onnx=FileRef(onnx_path.name, onnx_sha256(onnx_path)),
        plan=FileRef(plan_path.name, sha256_file(plan_path), plan_path.stat().st_size),
        inputs=inputs,
        outputs=outputs,
        model={k: v for k, v in metadata.items() if k != IO_CONTRACT_KEY},
        converter_version=__version__,
        created_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        profiles=profiles,
    )


def build_engine(
    onnx_path: str | os.PathLike[str], plan_path: str | os.PathLike[str], target: Target, options: BuildOptions
) -> EngineSidecar:
    """Parse, build, write ``plan_path`` and ``plan_path.json``; returns the sidecar.

    Raises:
        ConversionError: module missing or wrong version, no converter metadata, precision the target
            cannot build, parser errors (listed per node), or a failed build.
    """
    validate_options(target, options)
    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    metadata = read_export_metadata(onnx_path, "precision")
    precision = metadata["precision"]
    if target.typing == "weak" and precision == "fp16":
        raise ConversionError(
            f"{target.name} builds weakly typed (TensorRT 8.5 has no strong typing): export with --precision fp32 "
            "--opset 16; the FP16 builder flag then makes the fp16 engine"
        )
    if target.typing == "strong" and precision == "fp32":
        LOG.warning("fp32 graph on a strongly typed target: the engine computes in fp32 (export fp16 for speed)")
    trt = import_tensorrt(target)
    version = checked_version(trt, target)
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = create_network(trt, builder, target)
    start = time.monotonic()
    parser, errors = parse_onnx(trt, network, logger, onnx_path)
    if errors:
        raise ConversionError(f"{target.module} {version} cannot parse {onnx_path}:\n  " + "\n  ".join(errors))
    LOG.info(
        "parsed %s with %s %s in %.1f s (%d layers)",
        onnx_path,
        target.module,
        version,
        time.monotonic() - start,
        network.num_layers,
    )
    specs = _network_specs(trt, network, _contract_descriptions(metadata))
    profiles = optimisation_profiles(specs[0], metadata, options.profile_sizes)
    config = configure(trt, builder, target, options)
    add_profile(builder, config, profiles)
    if target.typing == "weak" and options.fp32_layers:
        LOG.info("kept %d layers in fp32 (softmax/normalisation/reductions)", len(keep_fp32_layers(trt, network)))
    if options.timing_cache:
        _load_timing_cache(config, options.timing_cache)
    start = time.monotonic()
    with build_progress(trt, config, f"building {plan_path.name}"):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ConversionError(f"{target.module} could not build the engine; rerun with -v to see TensorRT's log")
    del parser  # kept alive until here: the network refers to weights the parser owns
    LOG.info("built in %.1f s", time.monotonic() - start)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan_path, memoryview(serialized))
    if options.timing_cache:
        atomic_write_bytes(options.timing_cache, memoryview(config.get_timing_cache().serialize()))
    sidecar = make_sidecar(
        metadata,
        specs,
        target=target,
        options=options,
        version=version,
        device=build_device(target, options),
        onnx_path=onnx_path,
        plan_path=plan_path,
        profiles=profiles,
    )
    write_sidecar(sidecar, sidecar_path(plan_path))
    return sidecar


def sidecar_for_plan(
    onnx_path: str | os.PathLike[str],
    plan_path: str | os.PathLike[str],
    target: Target,
    options: BuildOptions,
    *,
    version: str,
    device: BuildDevice,
) -> EngineSidecar:
    """Write the sidecar of a plan built elsewhere from ``onnx_path`` (e.g. by ``trtexec``), without TensorRT.

    Inputs and outputs come from the ONNX I/O contract (the same as the network's); ``options`` must
    describe the build that was done (DLA core, version compatibility, profile sizes).
    """
    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    if not plan_path.is_file():
        raise ConversionError(f"{plan_path}: no such plan")
    metadata = read_export_metadata(onnx_path, IO_CONTRACT_KEY)
    validate_options(target, options)
    specs = decode_io_contract(metadata)
    sidecar = make_sidecar(
        metadata,
        specs,
        target=target,
        options=options,
        version=version,
        device=device,
        onnx_path=onnx_path,
        plan_path=plan_path,
        profiles=optimisation_profiles(specs[0], metadata, options.profile_sizes),
    )
    write_sidecar(sidecar, sidecar_path(plan_path))
    return sidecar
