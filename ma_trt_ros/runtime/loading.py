"""Opening a matcher from a model file: choosing the backend and loading the model."""

from __future__ import annotations

import os
from pathlib import Path

from ma_trt_ros.runtime.backends.registry import BACKEND_NAMES, backend_factory
from ma_trt_ros.runtime.errors import ModelError
from ma_trt_ros.runtime.matcher import Matcher
from ma_trt_ros.runtime.model_files import BACKENDS_BY_KIND, model_kind
from ma_trt_ros.runtime.options import BackendSettings, MatchOptions

BACKENDS = ("auto", *BACKEND_NAMES)


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
    return Matcher(backend_factory(name)(path, settings or BackendSettings()), options)
