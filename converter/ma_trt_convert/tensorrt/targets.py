"""Build targets: which TensorRT, typing mode and builder settings each deployment platform gets.

==================  =============  ========  =========================================================
target              module         TensorRT  what it sets
==================  =============  ========  =========================================================
desktop             tensorrt       10, 11    strong typing; 8 GiB workspace; opt level 3; timing cache;
                                             optional version-compatible plan (lean runtime)
desktop-rtx         tensorrt_rtx   1.x       strong typing; compute capabilities 8.0 8.6 8.9 12.0
                                             (builds on a CPU-only machine); no timing cache (no-op)
jetson-orin-jp6     tensorrt       10.3      strong typing; 4 GiB workspace; timing cache; DLA optional
jetson-xavier-jp5   tensorrt       8.5       weak typing: fp32 graph + FP16 builder flag, fp32 kept for
                                             softmax/normalisation/reduction layers; 2 GiB; DLA optional
jetson-thor         tensorrt       10.13+    strong typing (JetPack 7; 11.x from 7.2.2); 8 GiB; timing
                                             cache; no DLA on Thor
==================  =============  ========  =========================================================

Engines are tied to the TensorRT version and GPU: build on the machine (or an identical one) that
runs them. Only ``desktop-rtx`` has been executed in this repository (CPU-only CI); the other
targets follow the documented TensorRT Python API and are unexecuted here.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.tensorrt.profiles import ProfileSizes
from ma_trt_ros.contract.sizes import ShapeProfile


@dataclass(frozen=True)
class Target:
    """One deployment platform.

    Attributes:
        name: CLI name (``--target``).
        module: Python module of its TensorRT (``tensorrt`` or ``tensorrt_rtx``).
        majors: accepted major versions of that module.
        expected: the version the platform ships (a different one only warns), ``""`` for any.
        typing: ``"strong"`` (precision from the ONNX graph) or ``"weak"`` (fp32 graph + FP16 flag).
        workspace_gib: default workspace memory-pool limit in GiB.
        opt_level: builder optimisation level (0-5; TensorRT's default is 3), when the version has it.
        timing_cache: whether a timing cache file is kept next to the plan by default.
        version_compatible: whether ``--version-compatible`` (lean-runtime deployment) is offered.
        dla_cores: DLA cores on the platform (0: none).
        compute_capabilities: TensorRT-RTX only: capabilities the plan is built for.
        op_table: key of :data:`ma_trt_convert.engine_limits.UNSUPPORTED_OPS` (None: real parser only).
        max_opset: highest opset its parser takes.
        install: how to get the module.
        summary: one line for ``--help``.
    """

    name: str
    module: str
    majors: tuple[int, ...]
    expected: str
    typing: str
    workspace_gib: float
    opt_level: int
    timing_cache: bool
    version_compatible: bool
    dla_cores: int
    op_table: str | None
    max_opset: int
    install: str
    summary: str
    compute_capabilities: tuple[str, ...] = field(default=())


_JETPACK_INSTALL = (
    "it comes with JetPack ({jp}): `sudo apt install python3-libnvinfer python3-libnvinfer-dev`; in a venv "
    "create it with --system-site-packages so that `import tensorrt` finds it"
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="desktop",
            module="tensorrt",
            majors=(10, 11),
            expected="",
            typing="strong",
            workspace_gib=8,
            opt_level=3,
            timing_cache=True,
            version_compatible=True,
            dla_cores=0,
            op_table="10",
            max_opset=20,
            install=(
                "`pip install tensorrt` (NVIDIA's wheels, fetched from NVIDIA's own package index; "
                "`tensorrt-cu12` / `tensorrt-cu13` pick the CUDA major)"
            ),
            summary="x86-64/ARM desktop or server GPU with TensorRT 10.x/11.x (pip `tensorrt`)",
        ),
        Target(
            name="desktop-rtx",
            module="tensorrt_rtx",
            majors=(1,),
            expected="",
            typing="strong",
            workspace_gib=8,
            opt_level=3,
            timing_cache=False,
            version_compatible=False,
            dla_cores=0,
            op_table=None,
            max_opset=20,
            install="`pip install tensorrt-rtx-cu13` (module tensorrt_rtx; builds without a GPU)",
            summary="TensorRT for RTX (GeForce/RTX PRO, sm 8.0-12.x; builds on CPU-only machines)",
            compute_capabilities=("8.0", "8.6", "8.9", "12.0"),
        ),
        Target(
            name="jetson-orin-jp6",
            module="tensorrt",
            majors=(10,),
            expected="10.3",
            typing="strong",
            workspace_gib=4,
            opt_level=3,
            timing_cache=True,
            version_compatible=False,
            dla_cores=2,
            op_table="10",
            max_opset=20,
            install=_JETPACK_INSTALL.format(jp="JetPack 6.x, TensorRT 10.3"),
            summary="Jetson AGX Orin / Orin NX / Orin Nano on JetPack 6 (TensorRT 10.3)",
        ),
        Target(
            name="jetson-xavier-jp5",
            module="tensorrt",
            majors=(8,),
            expected="8.5",
            typing="weak",
            workspace_gib=2,
            opt_level=3,
            timing_cache=True,
            version_compatible=False,
            dla_cores=2,
            op_table="8.5",
            max_opset=17,
            install=_JETPACK_INSTALL.format(jp="JetPack 5.1, TensorRT 8.5"),
            summary="Jetson AGX Xavier / Xavier NX (or Orin) on JetPack 5.1 (TensorRT 8.5, fp32 graph + fp16 flag)",
        ),
        Target(
            name="jetson-thor",
            module="tensorrt",
            majors=(10, 11),
            expected="10.13",
            typing="strong",
            workspace_gib=8,
            opt_level=3,
            timing_cache=True,
            version_compatible=False,
            dla_cores=0,
            op_table="10",
            max_opset=20,
            install=_JETPACK_INSTALL.format(jp="JetPack 7, TensorRT 10.13 / 11.4"),
            summary="Jetson AGX Thor on JetPack 7 (TensorRT 10.13, 11.x from JetPack 7.2.2)",
        ),
    )
}


def get_target(name: str) -> Target:
    """The target called ``name``; ConversionError listing the known ones otherwise."""
    if name not in TARGETS:
        raise ConversionError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


@dataclass(frozen=True)
class BuildOptions:
    """Per-build settings (defaults come from the target; see :func:`default_options`).

    Attributes:
        workspace_gib: workspace memory-pool limit, GiB.
        opt_level: builder optimisation level 0-5.
        timing_cache: timing cache file to read and update, or None.
        version_compatible: build a version-compatible plan (runs on later TensorRT of the same major
            through the lean/dispatch runtime).
        exclude_lean_runtime: with ``version_compatible``: leave the lean runtime out of the plan (the
            application then ships ``libnvinfer_lean``).
        dla_core: DLA core to place layers on (GPU fallback on), None for GPU only.
        compute_capabilities: TensorRT-RTX targets, ``"major.minor"`` strings.
        fp32_layers: weak typing only: keep softmax/normalisation/reduction/exp/pow layers in fp32.
        profile_sizes: dynamic-size graphs: the optimisation profile's sizes (defaults from the ONNX).
    """

    workspace_gib: float
    opt_level: int
    timing_cache: str | None = None
    version_compatible: bool = False
    exclude_lean_runtime: bool = False
    dla_core: int | None = None
    compute_capabilities: tuple[str, ...] = ()
    fp32_layers: bool = True
    profile_sizes: ProfileSizes = field(default_factory=ProfileSizes)


def validate_options(target: Target, options: BuildOptions) -> None:
    """Refuse settings the target does not have (ConversionError says which and why)."""
    if options.version_compatible and not target.version_compatible:
        raise ConversionError(
            f"--version-compatible is offered for desktop only; on {target.name} build on the device with its "
            "own TensorRT instead"
        )
    if options.exclude_lean_runtime and not options.version_compatible:
        raise ConversionError("--exclude-lean-runtime only makes sense with --version-compatible")
    if options.dla_core is not None and not 0 <= options.dla_core < target.dla_cores:
        raise ConversionError(
            f"{target.name} has no DLA core {options.dla_core} (DLA cores: {target.dla_cores or 'none'})"
        )
    if options.compute_capabilities and target.module != "tensorrt_rtx":
        raise ConversionError("--compute-capability is a TensorRT-RTX setting (target desktop-rtx)")
    if not 0 <= options.opt_level <= 5:
        raise ConversionError(f"--opt-level must be 0..5, got {options.opt_level}")
    if options.workspace_gib <= 0:
        raise ConversionError(f"--workspace-gib must be positive, got {options.workspace_gib}")


def trtexec_command(
    target: Target,
    options: BuildOptions,
    onnx_path: str,
    plan_path: str,
    *,
    fp32_layer_names: tuple[str, ...] = (),
    profiles: tuple[ShapeProfile, ...] = (),
) -> str:
    """The ``trtexec`` command that builds the same plan without Python (e.g. on a Jetson).

    ``--memPoolSize`` is in MiB (accepted by TensorRT 8.5 and 10.x); TensorRT 8.5 builds with
    ``--buildOnly`` and has no ``--builderOptimizationLevel``, 10.x uses ``--skipInference``.
    ``fp32_layer_names`` (weak typing) become ``--layerPrecisions``/``--layerOutputTypes`` with
    ``--precisionConstraints=obey``: the parser names layers after ONNX nodes, so this keeps the
    same layers in fp32 as the Python build does (as far as one node makes one layer).
    ``profiles`` (dynamic-size graphs) become ``--minShapes``/``--optShapes``/``--maxShapes``.
    """
    if target.module == "tensorrt_rtx":
        raise ConversionError("desktop-rtx builds with the Python API only here; use `ma-trt-convert build`")
    validate_options(target, options)
    legacy = target.majors == (8,)
    parts = [
        "trtexec",
        f"--onnx={onnx_path}",
        f"--saveEngine={plan_path}",
        f"--memPoolSize=workspace:{round(options.workspace_gib * 1024)}",
    ]
    if target.typing == "strong":
        parts.append("--stronglyTyped")
    else:
        parts.append("--fp16")
        if options.fp32_layers and fp32_layer_names:
            spec = ",".join(f"{name}:fp32" for name in fp32_layer_names)
            parts += ["--precisionConstraints=obey", f"--layerPrecisions={spec}", f"--layerOutputTypes={spec}"]
    if not legacy:
        parts.append(f"--builderOptimizationLevel={options.opt_level}")
    if options.timing_cache:
        parts.append(f"--timingCacheFile={options.timing_cache}")
    if options.version_compatible:
        parts.append("--versionCompatible")
    if options.exclude_lean_runtime:
        parts.append("--excludeLeanRuntime")
    if options.dla_core is not None:
        parts += [f"--useDLACore={options.dla_core}", "--allowGPUFallback"]
    for flag, key in (("--minShapes", "min"), ("--optShapes", "opt"), ("--maxShapes", "max")):
        if profiles:
            shapes = ",".join(f"{p.name}:{'x'.join(map(str, getattr(p, key)))}" for p in profiles)
            parts.append(f"{flag}={shapes}")
    parts.append("--buildOnly" if legacy else "--skipInference")
    return shlex.join(parts)


def default_options(target: Target, plan_path: str) -> BuildOptions:
    """The target's defaults for a plan written to ``plan_path``."""
    return BuildOptions(
        workspace_gib=target.workspace_gib,
        opt_level=target.opt_level,
        timing_cache=f"{plan_path}.timing-cache" if target.timing_cache else None,
        compute_capabilities=target.compute_capabilities,
    )
