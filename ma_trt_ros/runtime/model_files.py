"""Model files: which kind a path is, and the short identity traced into every published message."""

from __future__ import annotations

import os
from pathlib import Path

from ma_trt_ros.contract.files import sha256_file
from ma_trt_ros.runtime.errors import ModelError

PLAN_SUFFIXES = (".plan", ".engine", ".trt")
ONNX_SUFFIXES = (".onnx",)
CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt", ".safetensors")
# Which backends can take each kind, in the order ``auto`` tries them.
BACKENDS_BY_KIND = {
    "plan": ("tensorrt",),
    "onnx": ("onnxruntime",),
    "checkpoint": ("torch",),
}
ID_HASH_CHARS = 8


def model_kind(path: str | os.PathLike[str]) -> str:
    """``"plan"``, ``"onnx"`` or ``"checkpoint"`` by file suffix; ModelError for a missing or unknown file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; give a .plan (with its .plan.json), an .onnx or a checkpoint")
    suffix = path.suffix.lower()
    for kind, suffixes in (("plan", PLAN_SUFFIXES), ("onnx", ONNX_SUFFIXES), ("checkpoint", CHECKPOINT_SUFFIXES)):
        if suffix in suffixes:
            return kind
    known = ", ".join(PLAN_SUFFIXES + ONNX_SUFFIXES + CHECKPOINT_SUFFIXES)
    raise ModelError(f"{path}: unknown model file type {suffix!r}; expected one of {known}")


def model_id(path: str | os.PathLike[str], sha256: str | None = None) -> str:
    """``name@hash8`` of a model file (``sha256`` given: taken as the file's hash, e.g. from a sidecar)."""
    path = Path(path)
    return f"{path.name}@{(sha256 or sha256_file(path))[:ID_HASH_CHARS]}"
