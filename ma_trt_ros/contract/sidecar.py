"""The engine sidecar: the JSON file written next to every TensorRT plan (``model.plan.json``).

It is the contract between the converter and the robot runtime: the runtime reads it *before*
deserialising the plan and refuses (or warns about) an engine that was built for another TensorRT
version, another GPU, or from another ONNX file. This module is pure standard library (no torch, no
numpy, no tensorrt): the converter writes it and the runtime reads it.

Schema 1 (all keys required unless marked optional; see ``docs/conversion.md``)::

    {
      "schema": 1,
      "variant": "eloftr" | "roma",
      "precision": "fp16" | "fp32",          # precision of the ONNX graph the plan was built from
      "batch": 1,                             # fixed batch size of every input
      "target": "desktop" | "desktop-rtx" | "jetson-orin-jp6" | "jetson-xavier-jp5" | "jetson-thor",
      "tensorrt": {"module": "tensorrt" | "tensorrt_rtx", "version": "10.3.0.30",
                   "typing": "strong" | "weak", "fp16_flag": bool,
                   "version_compatible": bool, "exclude_lean_runtime": bool, "dla_core": int | null},
      "device": {"gpu_name": str | null, "compute_capabilities": ["8.6", ...]},
      "onnx": {"file": "model.onnx", "sha256": "<hex>"},
      "plan": {"file": "model.plan", "sha256": "<hex>", "bytes": int},
      "model": {str: str},                    # the ONNX model metadata (resolutions, checkpoint hashes...)
      "inputs":  [{"name": str, "shape": [int, ...], "dtype": "float32", "description": str}, ...],
      "outputs": [... same form ...],         # -1 in an input shape: a dynamic axis (see "profiles")
      "profiles": [{"name": str, "min": [int, ...], "opt": [...], "max": [...]}, ...],   # optional:
                                              # the optimisation profile of each dynamic input
      "converter_version": "0.1.0",
      "created_utc": "2026-01-01T00:00:00Z"
    }

``device.gpu_name`` is ``null`` when the builder had no GPU (TensorRT-RTX building on a CPU-only
machine); ``device.compute_capabilities`` then lists the capabilities the builder targeted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ma_trt_ros.contract.errors import SidecarError
from ma_trt_ros.contract.files import atomic_write_bytes
from ma_trt_ros.contract.sizes import SIZE_MULTIPLE, ShapeProfile, SizeRange, size_range_of
from ma_trt_ros.contract.tensors import TensorSpec, require_keys

SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".json"
PRECISIONS = ("fp16", "fp32")
TYPING_MODES = ("strong", "weak")


@dataclass(frozen=True)
class TensorRTBuild:
    """How the plan was built (see ``ma_trt_convert.tensorrt.targets`` for what each target sets)."""

    module: str
    version: str
    typing: str
    fp16_flag: bool = False
    version_compatible: bool = False
    exclude_lean_runtime: bool = False
    dla_core: int | None = None


@dataclass(frozen=True)
class BuildDevice:
    """The GPU the plan was built on (``gpu_name`` None: no GPU, see module docstring)."""

    gpu_name: str | None
    compute_capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRef:
    """A file by name (relative to the sidecar's folder) and SHA-256; ``size`` in bytes, plans only."""

    file: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class EngineSidecar:
    """Everything the runtime needs to know about a plan before loading it (schema 1)."""

    variant: str
    precision: str
    batch: int
    target: str
    tensorrt: TensorRTBuild
    device: BuildDevice
    onnx: FileRef
    plan: FileRef
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    model: dict[str, str] = field(default_factory=dict)
    converter_version: str = ""
    created_utc: str = ""
    schema: int = SCHEMA_VERSION
    profiles: tuple[ShapeProfile, ...] = ()

    def size_range(self) -> SizeRange | None:
        """Input heights and widths the plan takes (its profile), None for a fixed-size plan."""
        if not self.profiles:
            return None
        graph = size_range_of(self.model)
        return self.profiles[0].size_range(graph.multiple if graph else SIZE_MULTIPLE)

    def buffer_shapes(self) -> tuple[TensorSpec, ...]:
        """The inputs at their largest shapes (the profile maximum for dynamic ones): what to allocate."""
        largest = {profile.name: profile.max for profile in self.profiles}
        return tuple(spec.with_shape(largest[spec.name]) if spec.is_dynamic else spec for spec in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (key order as in the module docstring)."""
        return {
            "schema": self.schema,
            "variant": self.variant,
            "precision": self.precision,
            "batch": self.batch,
            "target": self.target,
            "tensorrt": asdict(self.tensorrt),
            "device": {
                "gpu_name": self.device.gpu_name,
                "compute_capabilities": list(self.device.compute_capabilities),
            },
            "onnx": {"file": self.onnx.file, "sha256": self.onnx.sha256},
            "plan": {"file": self.plan.file, "sha256": self.plan.sha256, "bytes": self.plan.size},
            "model": dict(self.model),
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
            "profiles": [profile.to_dict() for profile in self.profiles],
            "converter_version": self.converter_version,
            "created_utc": self.created_utc,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineSidecar:
        """Validate and convert the JSON form; raises :class:`SidecarError` naming the first problem."""
        if not isinstance(data, dict):
            raise SidecarError("sidecar: top level must be a JSON object")
        if data.get("schema") != SCHEMA_VERSION:
            raise SidecarError(
                f"sidecar: schema {data.get('schema')!r} is not supported (this reader knows schema {SCHEMA_VERSION}); "
                "rebuild the engine with this converter version"
            )
        require_keys(
            data,
            {
                "variant": str,
                "precision": str,
                "batch": int,
                "target": str,
                "tensorrt": dict,
                "device": dict,
                "onnx": dict,
                "plan": dict,
                "model": dict,
                "inputs": list,
                "outputs": list,
            },
            "sidecar",
        )
        if data["precision"] not in PRECISIONS:
            raise SidecarError(f"sidecar: precision {data['precision']!r} is not one of {', '.join(PRECISIONS)}")
        if data["batch"] < 1:
            raise SidecarError(f"sidecar: batch must be >= 1, got {data['batch']}")
        trt = data["tensorrt"]
        require_keys(trt, {"module": str, "version": str, "typing": str}, "sidecar.tensorrt")
        if trt["typing"] not in TYPING_MODES:
            raise SidecarError(f"sidecar.tensorrt: typing {trt['typing']!r} is not one of {', '.join(TYPING_MODES)}")
        dev = data["device"]
        if not (dev.get("gpu_name") is None or isinstance(dev.get("gpu_name"), str)):
            raise SidecarError("sidecar.device: gpu_name must be a string or null")
        require_keys(data["onnx"], {"file": str, "sha256": str}, "sidecar.onnx")
        require_keys(data["plan"], {"file": str, "sha256": str, "bytes": int}, "sidecar.plan")
        if not data["inputs"] or not data["outputs"]:
            raise SidecarError("sidecar: inputs and outputs must not be empty")
        inputs = tuple(TensorSpec.from_dict(t) for t in data["inputs"])
        profiles = tuple(ShapeProfile.from_dict(p) for p in data.get("profiles", []))
        _check_profiles(inputs, profiles)
        return cls(
            variant=data["variant"],
            precision=data["precision"],
            batch=data["batch"],
            target=data["target"],
            tensorrt=TensorRTBuild(
                module=trt["module"],
                version=trt["version"],
                typing=trt["typing"],
                fp16_flag=bool(trt.get("fp16_flag", False)),
                version_compatible=bool(trt.get("version_compatible", False)),
                exclude_lean_runtime=bool(trt.get("exclude_lean_runtime", False)),
                dla_core=trt.get("dla_core"),
            ),
            device=BuildDevice(dev.get("gpu_name"), tuple(str(c) for c in dev.get("compute_capabilities", []))),
            onnx=FileRef(data["onnx"]["file"], data["onnx"]["sha256"]),
            plan=FileRef(data["plan"]["file"], data["plan"]["sha256"], data["plan"]["bytes"]),
            inputs=inputs,
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            model={str(k): str(v) for k, v in data["model"].items()},
            converter_version=str(data.get("converter_version", "")),
            created_utc=str(data.get("created_utc", "")),
            profiles=profiles,
        )


def _check_profiles(inputs: tuple[TensorSpec, ...], profiles: tuple[ShapeProfile, ...]) -> None:
    """SidecarError unless exactly the dynamic inputs have a profile that fits their shape."""
    dynamic = {spec.name: spec for spec in inputs if spec.is_dynamic}
    if set(dynamic) != {profile.name for profile in profiles}:
        raise SidecarError(
            f"sidecar: dynamic inputs {sorted(dynamic)} and profiles {sorted(p.name for p in profiles)} differ"
        )
    for profile in profiles:
        try:
            for shape in (profile.min, profile.opt, profile.max):
                dynamic[profile.name].with_shape(shape)
        except ValueError as exc:
            raise SidecarError(f"sidecar: profile of {profile.name}: {exc}") from exc


def sidecar_path(plan_path: str | os.PathLike[str]) -> Path:
    """Where the sidecar of ``plan_path`` lives: ``model.plan`` -> ``model.plan.json``."""
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_path.name + SIDECAR_SUFFIX)


def write_sidecar(sidecar: EngineSidecar, path: str | os.PathLike[str]) -> None:
    """Write ``sidecar`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(sidecar.to_dict(), indent=2) + "\n").encode())


def read_sidecar(path: str | os.PathLike[str]) -> EngineSidecar:
    """Read and validate a sidecar file; raises :class:`SidecarError` with the file name."""
    path = Path(path)
    if not path.is_file():
        raise SidecarError(
            f"{path}: no sidecar; build the engine with `ma-trt-convert build`, which writes it "
            "(for a plan built by trtexec: `ma-trt-convert sidecar`)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{path}: not readable JSON ({exc})") from exc
    try:
        return EngineSidecar.from_dict(data)
    except SidecarError as exc:
        raise SidecarError(f"{path}: {exc}") from exc


def runtime_mismatches(
    sidecar: EngineSidecar,
    *,
    tensorrt_module: str,
    tensorrt_version: str,
    compute_capability: str | None,
    gpu_name: str | None = None,
) -> list[str]:
    """Reasons why this runtime should not load the plan (empty list: fine to load).

    Args:
        tensorrt_module: module the runtime uses (``"tensorrt"``, ``"tensorrt_rtx"``, a lean runtime
            reports ``"tensorrt"``).
        tensorrt_version: its ``__version__``.
        compute_capability: the runtime GPU's ``"major.minor"``; None skips the check.
        gpu_name: the runtime GPU's name; None skips the check.

    Rules: the module must match; the version must equal the build version exactly, except for
    version-compatible plans, which need the same major version and a runtime at least as new;
    the compute capability must be one the plan was built for; the GPU name, when both are known,
    must match (TensorRT tunes tactics for one GPU model).
    """
    problems: list[str] = []
    built = sidecar.tensorrt
    if tensorrt_module != built.module:
        problems.append(f"plan was built with {built.module}, this runtime uses {tensorrt_module}")
    elif built.version_compatible:
        if _version_tuple(tensorrt_version)[:1] != _version_tuple(built.version)[:1] or _version_tuple(
            tensorrt_version
        ) < _version_tuple(built.version):
            problems.append(
                f"version-compatible plan built with {built.module} {built.version} needs the same major version "
                f"at least as new; this runtime has {tensorrt_version}"
            )
    elif _version_tuple(tensorrt_version)[:3] != _version_tuple(built.version)[:3]:
        problems.append(
            f"plan was built with {built.module} {built.version}, this runtime has {tensorrt_version}: "
            "rebuild the engine on this machine"
        )
    caps = sidecar.device.compute_capabilities
    if compute_capability is not None and caps and compute_capability not in caps:
        problems.append(f"plan targets compute capability {', '.join(caps)}, this GPU is {compute_capability}")
    if gpu_name is not None and sidecar.device.gpu_name is not None and gpu_name != sidecar.device.gpu_name:
        problems.append(f"plan was built on {sidecar.device.gpu_name}, this GPU is {gpu_name}: rebuild it here")
    return problems


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
