"""Opening a matcher from a model file: choosing the backend and loading the model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ma_trt_ros.runtime.backends.base import Backend
from ma_trt_ros.runtime.errors import ModelError
from ma_trt_ros.runtime.matcher import Matcher
from ma_trt_ros.runtime.model_files import BACKENDS_BY_KIND, model_kind
from ma_trt_ros.runtime.options import MatchOptions

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")


@dataclass(frozen=True)
class BackendSettings:
    """Backend-specific settings (each backend reads its own and ignores the rest).

    Attributes:
        device: torch: ``"cuda"``, ``"cuda:1"`` or ``"cpu"`` (default: CUDA when available);
            tensorrt: the CUDA device index as ``"cuda:N"`` (default 0).
        cuda_graph: tensorrt/torch: replay the captured enqueue as a CUDA graph (static shapes).
        dinov2: torch, RoMa: the ``dinov2_vitl14_pretrain.pth`` file that goes with the checkpoint.
        precision: torch: ``"fp16"`` or ``"fp32"``.
        compile: torch with ``cuda_graph``: a ``torch.compile`` mode for the fast path (``"default"``), or
            None. Compiling takes about 35 s for ELoFTR on an H200 machine the first time; set
            ``TORCHINDUCTOR_CACHE_DIR`` and ``TRITON_CACHE_DIR`` to a kept folder and later starts reuse
            it (about 7 s); each input size of a dynamic-size model compiles once; docs/benchmarks.md.
        build_args: torch: network sizes, as ``ma-trt-convert export`` takes them (ELoFTR ``height``,
            ``width``; RoMa ``coarse_res``, ``upsample_res``).
    """

    device: str | None = None
    cuda_graph: bool = False
    dinov2: str | None = None
    precision: str = "fp32"
    compile: str | None = None
    build_args: dict[str, Any] = field(default_factory=dict)


def _create_backend(name: str, path: str, settings: BackendSettings) -> Backend:
    if name == "onnxruntime":
        from ma_trt_ros.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path)
    if name == "tensorrt":
        from ma_trt_ros.runtime.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(path, device=settings.device, cuda_graph=settings.cuda_graph)
    from ma_trt_ros.runtime.backends.torch_backend import TorchBackend

    return TorchBackend(path, settings)


def choose_backend(path: str | os.PathLike[str], backend: str = "auto") -> str:
    """The backend that runs ``path``: ``auto`` picks by file kind; a backend that cannot take that kind
    of file is a ModelError that says which backend (or conversion) would."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    kind = model_kind(path)
    able = BACKENDS_BY_KIND[kind]
    if backend == "auto":
        return able[0]
    if backend not in able:
        plan = Path(path).with_suffix(".plan")
        hint = {
            "tensorrt": f"build an engine with `ma-trt-convert build --onnx {path} --target desktop --output {plan}`",
            "onnxruntime": "export the checkpoint with `ma-trt-convert export`",
            "torch": "give the release checkpoint(s) instead",
        }[backend]
        raise ModelError(f"{path} is a {kind} file, which the {backend} backend cannot run: use {able[0]}, or {hint}")
    return backend


def open_matcher(
    model: str | os.PathLike[str],
    backend: str = "auto",
    options: MatchOptions | None = None,
    settings: BackendSettings | None = None,
) -> Matcher:
    """Load ``model`` (a ``.plan`` with its sidecar, an exported ``.onnx``, or release checkpoints) on
    ``backend`` and return a :class:`Matcher`.

    Raises:
        ModelError: the file is missing, unreadable, of an unknown variant, or incompatible with this
            GPU / TensorRT version; BackendUnavailableError (a ModelError) names what to install.
    """
    path = os.fspath(model)
    name = choose_backend(path, backend)
    return Matcher(_create_backend(name, path, settings or BackendSettings()), options)
