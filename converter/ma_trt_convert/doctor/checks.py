"""One small look per component of this machine, each returning a :class:`Finding`.

Every import is guarded (a missing or broken module is a finding, never an exception); the GPU comes
from :mod:`ma_trt_convert.gpu_probe`. Nothing here needs more than the standard library.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ma_trt_convert.gpu_probe import GpuInfo, find_gpu

TEGRA_RELEASE = Path("/etc/nv_tegra_release")
# L4T major release -> JetPack major (L4T R35 = JetPack 5, R36 = JetPack 6, R38 = JetPack 7)
JETPACK_OF_L4T = {"32": "4", "35": "5", "36": "6", "38": "7"}


@dataclass(frozen=True)
class Finding:
    """What was found of one component.

    Attributes:
        component: key used by the requirements (``"tensorrt"``, ``"gpu"``, ...).
        label: what the table shows (``"TensorRT (tensorrt)"``).
        present: importable / found.
        version: its version, ``""`` when unknown or missing.
        details: further facts (providers, CUDA build, compute capability, ...).
        error: why it is missing (the import error, the failed command), ``""`` when present.
    """

    component: str
    label: str
    present: bool
    version: str = ""
    details: tuple[str, ...] = ()
    error: str = ""

    def found_text(self) -> str:
        """``"1.32.0; providers: CPUExecutionProvider"`` or ``"missing (why)"``."""
        if not self.present:
            return f"missing ({self.error})" if self.error else "missing"
        return "; ".join(part for part in (self.version or "present", *self.details) if part)


@dataclass(frozen=True)
class Inventory:
    """Everything the doctor found: findings by component, the GPU (None: none visible), the JetPack release."""

    findings: dict[str, Finding]
    gpu: GpuInfo | None
    jetpack: str = ""


def try_import(name: str) -> tuple[ModuleType | None, str]:
    """``(module, "")`` or ``(None, why)``; any exception while importing counts as missing."""
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None, "not installed"
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]
    except Exception as exc:  # a broken install (missing .so, ABI mismatch) is "missing" too
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def distribution_version(*names: str) -> str:
    """Version of the first installed distribution among ``names``, ``""`` if none is."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def module_version(module: ModuleType, *distributions: str) -> str:
    """``module.__version__``, else the version of one of its distributions."""
    version = getattr(module, "__version__", "")
    return str(version) if version else distribution_version(*distributions)


def check_python() -> Finding:
    """The interpreter (the project needs 3.10 or later)."""
    version = platform.python_version()
    return Finding("python", "Python", True, version, (sys.executable, platform.machine()))


def check_module(component: str, label: str, module_name: str, *distributions: str) -> Finding:
    """A plain import check: present with its version, or missing with the import error."""
    module, error = try_import(module_name)
    if module is None:
        return Finding(component, label, False, error=error)
    return Finding(component, label, True, module_version(module, *distributions))


def check_onnxruntime() -> Finding:
    """ONNX Runtime and its execution providers (CUDA/TensorRT only in GPU builds)."""
    module, error = try_import("onnxruntime")
    if module is None:
        return Finding("onnxruntime", "ONNX Runtime (onnxruntime)", False, error=error)
    providers = ", ".join(module.get_available_providers())
    return Finding(
        "onnxruntime", "ONNX Runtime (onnxruntime)", True, module_version(module), (f"providers: {providers}",)
    )


def check_torch() -> Finding:
    """PyTorch, the CUDA it was built with and whether it sees a GPU."""
    module, error = try_import("torch")
    if module is None:
        return Finding("torch", "PyTorch (torch)", False, error=error)
    built = getattr(module.version, "cuda", None)
    try:
        available = bool(module.cuda.is_available())
    except Exception:  # a driver mismatch raises here; it means "no CUDA" for us
        available = False
    cuda = f"CUDA {built}, GPU {'visible' if available else 'not visible'}" if built else "CPU-only build"
    return Finding("torch", "PyTorch (torch)", True, module_version(module), (cuda,))


def check_pycuda() -> Finding:
    """pycuda's driver module (what the TensorRT backend's buffers use); it loads libcuda."""
    module, error = try_import("pycuda.driver")
    if module is None:
        return Finding("pycuda", "pycuda", False, error=error)
    package = sys.modules.get("pycuda")
    version = str(getattr(package, "VERSION_TEXT", "")) or distribution_version("pycuda")
    return Finding("pycuda", "pycuda", True, version)


def check_cuda_python() -> Finding:
    """cuda-python (``cuda.bindings``, or the older ``cuda.cuda``): CUDA-graph replay."""
    module, error = try_import("cuda.bindings")
    if module is None:
        module, error = try_import("cuda.cuda")
    if module is None:
        return Finding("cuda-python", "cuda-python", False, error=error)
    return Finding("cuda-python", "cuda-python", True, distribution_version("cuda-bindings", "cuda-python"))


def ros_distro_of_wheels() -> str:
    """The ROS distribution of rclpy installed from PyPI wheels (``ros-kilted-rclpy`` -> ``kilted``)."""
    for distribution in importlib.metadata.distributions():
        match = re.fullmatch(r"ros[-_]([a-z]+)[-_]rclpy", str(distribution.metadata["Name"] or "").lower())
        if match:
            return match.group(1)
    return ""


def check_rclpy() -> Finding:
    """rclpy and the ROS 2 distribution (``ROS_DISTRO`` of a sourced install, or the wheels')."""
    distro = os.environ.get("ROS_DISTRO", "")
    module, error = try_import("rclpy")
    if module is None:
        details = (f"ROS_DISTRO={distro} (is its setup.bash sourced in this shell?)",) if distro else ()
        return Finding("rclpy", "ROS 2 (rclpy)", False, details=details, error=error)
    source = f"ROS_DISTRO={distro}" if distro else ""
    wheels = ros_distro_of_wheels()
    if not source:
        source = f"{wheels} (PyPI wheels, ROS_DISTRO unset)" if wheels else "ROS_DISTRO unset"
    return Finding("rclpy", "ROS 2 (rclpy)", True, source)


def check_messages() -> Finding:
    """Our generated messages: ``ma_trt_ros_interfaces.msg`` with both message types."""
    label = "messages (ma_trt_ros_interfaces)"
    module, error = try_import("ma_trt_ros_interfaces.msg")
    if module is None:
        return Finding("messages", label, False, error=error)
    missing = [name for name in ("DenseCorrespondence", "Matches") if not hasattr(module, name)]
    if missing:
        return Finding("messages", label, False, error=f"built without {', '.join(missing)}: rebuild msg/")
    return Finding("messages", label, True, "DenseCorrespondence, Matches")


def gpu_finding(gpu: GpuInfo | None) -> Finding:
    """The GPU as a table row; no GPU is a finding ("missing"), not an error."""
    if gpu is None:
        why = "nvidia-smi not on PATH" if shutil.which("nvidia-smi") is None else "nvidia-smi lists no GPU"
        return Finding("gpu", "GPU and driver", False, error=f"no GPU found: {why}, no CUDA device via torch/pycuda")
    details = [f"compute capability {gpu.compute_capability or 'unknown'}"]
    if gpu.driver:
        details.append(f"driver {gpu.driver}")
    if gpu.cuda_driver:
        details.append(f"driver supports CUDA {gpu.cuda_driver}")
    if gpu.memory:
        details.append(gpu.memory)
    if gpu.count > 1:
        details.append(f"{gpu.count} GPUs, GPU 0 shown")
    details.append(f"via {gpu.source}")
    return Finding("gpu", "GPU and driver", True, gpu.name, tuple(details))


def cuda_runtime_finding(findings: dict[str, Finding]) -> Finding:
    """The CUDA runtime the Python packages bring (cuda-python's, torch's build); "missing" when none does."""
    versions = []
    if findings["cuda-python"].present and "cuda.bindings" in sys.modules:
        version = _cuda_python_runtime_version()
        if version:
            versions.append(f"{version} (cuda-python)")
    torch = sys.modules.get("torch")
    built = getattr(getattr(torch, "version", None), "cuda", None) if torch is not None else None
    if built:
        versions.append(f"{built} (PyTorch's)")
    if not versions:
        return Finding("cuda-runtime", "CUDA runtime", False, error="no CUDA runtime through cuda-python or PyTorch")
    return Finding("cuda-runtime", "CUDA runtime", True, versions[0], tuple(versions[1:]))


def _cuda_python_runtime_version() -> str:
    """``cudaRuntimeGetVersion`` through cuda-python, ``""`` when it cannot say."""
    module, _ = try_import("cuda.bindings.runtime")
    try:
        error, version = module.cudaRuntimeGetVersion()  # type: ignore[union-attr]
    except Exception:  # no libcudart: cannot say
        return ""
    return f"{version // 1000}.{version % 1000 // 10}" if int(error) == 0 else ""


def jetpack_release(path: Path | None = None) -> str:
    """``"JetPack 6 (L4T R36.4.3)"`` on a Jetson (from ``/etc/nv_tegra_release``), ``""`` elsewhere."""
    try:
        text = (path or TEGRA_RELEASE).read_text(errors="replace")
    except OSError:
        return ""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([0-9.]+)", text)
    if not match:
        return "a Jetson (L4T version unreadable)"
    major, revision = match.groups()
    jetpack = JETPACK_OF_L4T.get(major)
    return f"JetPack {jetpack} (L4T R{major}.{revision})" if jetpack else f"L4T R{major}.{revision}"


def take_inventory() -> Inventory:
    """Look at every component; the GPU last so that torch/pycuda (when importable) can fill it in."""
    findings = [
        check_python(),
        check_module("tensorrt", "TensorRT (tensorrt)", "tensorrt"),
        check_module("tensorrt_rtx", "TensorRT-RTX (tensorrt_rtx)", "tensorrt_rtx"),
        check_module("tensorrt_lean", "TensorRT lean (tensorrt_lean)", "tensorrt_lean"),
        check_pycuda(),
        check_cuda_python(),
        check_onnxruntime(),
        check_torch(),
        check_module("onnx", "ONNX (onnx)", "onnx"),
        check_module("onnxslim", "onnxslim", "onnxslim"),
        check_module("cv2", "OpenCV (cv2)", "cv2", "opencv-python-headless", "opencv-python"),
        check_rclpy(),
        check_messages(),
    ]
    by_name = {finding.component: finding for finding in findings}
    gpu = find_gpu()
    by_name["gpu"] = gpu_finding(gpu)
    by_name["cuda-runtime"] = cuda_runtime_finding(by_name)
    return Inventory(by_name, gpu, jetpack_release())
