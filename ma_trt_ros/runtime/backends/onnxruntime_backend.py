"""ONNX Runtime backend: the exported ``.onnx`` on the CPU (CUDA / TensorRT providers when installed)."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from ma_trt_ros.contract.sizes import SizeRange, size_range_of
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec
from ma_trt_ros.contract.variants import variant_contract
from ma_trt_ros.runtime.backends.base import graph_takes_uint8
from ma_trt_ros.runtime.errors import BackendUnavailableError, ModelError
from ma_trt_ros.runtime.model_files import model_id

# Providers in order of preference; ``auto`` keeps those this onnxruntime build has.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
}


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(
            "the onnxruntime backend needs ONNX Runtime: pip install onnxruntime (or onnxruntime-gpu)"
        ) from exc
    return onnxruntime


def _spec(arg, descriptions: Mapping[str, str]) -> TensorSpec:
    """A session input/output as a TensorSpec; symbolic axes (names or None) become :data:`DYNAMIC`."""
    shape = tuple(d if isinstance(d, int) and d > 0 else DYNAMIC for d in arg.shape)
    return TensorSpec(arg.name, shape, ORT_DTYPES.get(arg.type, arg.type), descriptions.get(arg.name, ""))


def _size_range(path: Path, metadata: Mapping[str, str], specs: tuple[TensorSpec, ...]) -> SizeRange | None:
    """The graph's size range (metadata ``size_range``) when it has dynamic inputs; ModelError when the
    dynamic axes are not the image height and width or the range is missing, or an output is dynamic."""
    dynamic = [s for s in specs if s.is_dynamic]
    if not dynamic:
        return None
    if "size_range" not in metadata or any(
        s.shape[2:] != (DYNAMIC, DYNAMIC) or DYNAMIC in s.shape[:2] for s in dynamic
    ):
        raise ModelError(
            f"{path}: dynamic axes {[(s.name, s.shape) for s in dynamic]} without a size range from "
            "ma-trt-convert export --size-range; re-export it"
        )
    return size_range_of(dict(metadata))


class OnnxRuntimeBackend:
    """An exported MatchAnything ONNX file in an ONNX Runtime session (see :class:`Backend`)."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike[str], providers: tuple[str, ...] | None = None) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        available = ort.get_available_providers()
        chosen = [p for p in (providers or PREFERRED_PROVIDERS) if p in available]
        if not chosen:
            raise BackendUnavailableError(f"none of the providers {providers} is in this onnxruntime ({available})")
        try:
            self._session = ort.InferenceSession(os.fspath(path), providers=chosen)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise ModelError(
                f"{path}: ONNX Runtime cannot load it ({exc}); re-export it with ma-trt-convert export"
            ) from exc
        metadata = self._session.get_modelmeta().custom_metadata_map
        if "variant" not in metadata:
            raise ModelError(f"{path}: no 'variant' in the ONNX metadata; export it with ma-trt-convert export")
        self.variant = metadata["variant"]
        try:
            descriptions = variant_contract(self.variant).descriptions
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from exc
        self.providers = tuple(self._session.get_providers())
        self.model_id = model_id(path)
        self.inputs = tuple(_spec(a, descriptions) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a, descriptions) for a in self._session.get_outputs())
        self.size_range = _size_range(path, metadata, self.inputs + self.outputs)
        self.takes_uint8_images = graph_takes_uint8(self.inputs)

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        names = [s.name for s in self.outputs if wanted is None or s.name in wanted]
        start = time.perf_counter()
        values = self._session.run(names, {spec.name: inputs[spec.name] for spec in self.inputs})
        elapsed = (time.perf_counter() - start) * 1e3
        return dict(zip(names, values, strict=True)), {"execute": elapsed}

    def gpu_memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._session = None
