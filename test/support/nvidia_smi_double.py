"""A test double of ``nvidia-smi`` for machines without a GPU: it answers the doctor's two calls.

:func:`install_nvidia_smi_double` writes an executable ``nvidia-smi`` into a folder (put it first on
``PATH``) that runs this file with the current Python. The GPU it reports comes from the
``NVIDIA_SMI_DOUBLE_GPU`` variable, one CSV line as ``--query-gpu=name,driver_version,compute_cap,
memory.total --format=csv,noheader`` prints it; ``NVIDIA_SMI_DOUBLE_CUDA`` is the "CUDA Version" of
the banner; ``NVIDIA_SMI_DOUBLE_SLEEP`` (seconds) makes it hang first, to test the doctor's timeout.
It is not nvidia-smi: only the output the doctor parses is imitated.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path


def install_nvidia_smi_double(folder: Path) -> Path:
    """Write ``folder/nvidia-smi`` (executable) that runs this double; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def main(args: list[str]) -> int:
    """Print what nvidia-smi would for ``args`` (the query or the banner)."""
    time.sleep(float(os.environ.get("NVIDIA_SMI_DOUBLE_SLEEP", "0")))
    gpu = os.environ.get("NVIDIA_SMI_DOUBLE_GPU", "")
    if not gpu:
        print("No devices were found")
        return 6
    if any(arg.startswith("--query-gpu=") for arg in args):
        print(gpu)
        return 0
    driver = gpu.split(",")[1].strip()
    cuda = os.environ.get("NVIDIA_SMI_DOUBLE_CUDA", "13.0")
    print(f"| NVIDIA-SMI {driver}    Driver Version: {driver}    CUDA Version: {cuda}     |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
