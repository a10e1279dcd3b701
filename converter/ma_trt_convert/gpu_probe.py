"""Which GPU this machine has: ``nvidia-smi`` (with a timeout) first, then ``torch.cuda`` or pycuda when
either is already imported (never imported here). Standard library only; the one GPU probe of the
converter (``doctor`` and the sidecar of ``build``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace

SMI_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GpuInfo:
    """GPU 0 as seen by ``source``: name, driver version, ``"major.minor"`` compute capability."""

    name: str
    driver: str = ""
    compute_capability: str = ""
    memory: str = ""
    cuda_driver: str = ""
    source: str = ""
    count: int = 1


def _smi(args: list[str]) -> str:
    """stdout of ``nvidia-smi ARGS`` or ``""`` (absent, failed or timed out)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ""
    try:
        result = subprocess.run([smi, *args], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def gpu_from_nvidia_smi() -> GpuInfo | None:
    """GPU 0 from ``nvidia-smi --query-gpu`` (name, driver, compute capability, memory) and its banner."""
    rows = [
        line
        for line in _smi(
            ["--query-gpu=name,driver_version,compute_cap,memory.total", "--format=csv,noheader"]
        ).splitlines()
        if line.strip()
    ]
    if not rows:
        return None
    fields = [part.strip() for part in rows[0].split(",")]
    fields += [""] * (4 - len(fields))
    name, driver, capability, memory = (value if "N/A" not in value else "" for value in fields[:4])
    banner = re.search(r"CUDA Version:\s*([0-9.]+)", _smi([]))
    return GpuInfo(name, driver, capability, memory, banner.group(1) if banner else "", "nvidia-smi", len(rows))


def gpu_from_torch() -> GpuInfo | None:
    """GPU 0 from ``torch.cuda`` when PyTorch is already imported and sees one."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_available():
            return None
        major, minor = torch.cuda.get_device_capability(0)
        return GpuInfo(
            torch.cuda.get_device_name(0), "", f"{major}.{minor}", source="torch.cuda", count=torch.cuda.device_count()
        )
    except Exception:  # any CUDA error means torch cannot tell us
        return None


def gpu_from_pycuda() -> GpuInfo | None:
    """GPU 0 from pycuda's driver API when pycuda is already imported."""
    cuda = sys.modules.get("pycuda.driver")
    try:
        if cuda is None:
            return None
        cuda.init()
        device = cuda.Device(0)
        major, minor = device.compute_capability()
        version = cuda.get_driver_version()
        return GpuInfo(
            device.name(),
            "",
            f"{major}.{minor}",
            f"{device.total_memory() // 2**20} MiB",
            f"{version // 1000}.{version % 1000 // 10}",
            "pycuda",
            cuda.Device.count(),
        )
    except Exception:  # no device, no driver: nothing to report from here
        return None


def find_gpu() -> GpuInfo | None:
    """GPU 0: nvidia-smi first; a missing capability (Jetson's nvidia-smi) is filled from torch/pycuda."""
    smi = gpu_from_nvidia_smi()
    if smi is not None and smi.compute_capability:
        return smi
    other = gpu_from_torch() or gpu_from_pycuda()
    if smi is None or other is None:
        return smi or other
    return replace(smi, compute_capability=other.compute_capability, source=f"nvidia-smi + {other.source}")
