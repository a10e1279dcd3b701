"""The few TensorRT calls the runtime makes, the same on every supported version.

Supported: ``tensorrt`` 8.5 (JetPack 5) to 11.x, the lean runtime ``tensorrt_lean`` (version-
compatible plans), and TensorRT for RTX ``tensorrt_rtx``. All of them have the tensor-name API that
8.5 introduced (``num_io_tensors``, ``get_tensor_name``/``mode``/``shape``/``dtype``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``); the binding-index API that 10.0
removed is never used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ma_trt_ros.contract.sidecar import EngineSidecar
from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.errors import BackendUnavailableError, ModelError

# TensorRT DataType names -> numpy dtype names (the sidecar's dtypes).
DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "INT8": "int8",
    "UINT8": "uint8",
}
INSTALL_HINTS = {
    "tensorrt": "pip install tensorrt (desktop; the version the plan was built with), or JetPack's python3-libnvinfer",
    "tensorrt_rtx": "pip install tensorrt-rtx-cu13",
    "tensorrt_lean": "pip install tensorrt-lean",
}


def import_tensorrt(sidecar: EngineSidecar) -> tuple[Any, str]:
    """The TensorRT module that can run the plan, and the module name the sidecar check compares.

    The module the plan was built with is tried first; a version-compatible ``tensorrt`` plan also
    runs on the lean runtime, which then reports itself as ``tensorrt``.
    """
    built = sidecar.tensorrt.module
    candidates = [built]
    if built == "tensorrt" and sidecar.tensorrt.version_compatible:
        candidates.append("tensorrt_lean")
    for name in candidates:
        try:
            return importlib.import_module(name), built
        except ImportError:
            continue
    hints = "; or ".join(INSTALL_HINTS.get(name, f"pip install {name}") for name in candidates)
    raise BackendUnavailableError(f"the plan needs {' or '.join(candidates)}, which is not installed: {hints}")


def deserialize(trt: Any, plan: bytes, sidecar: EngineSidecar) -> tuple[Any, Any]:
    """``(runtime, engine)`` of the plan bytes; ModelError when TensorRT refuses them."""
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    if sidecar.tensorrt.version_compatible and hasattr(runtime, "engine_host_code_allowed"):
        runtime.engine_host_code_allowed = True
    if sidecar.tensorrt.dla_core is not None:
        runtime.DLA_core = sidecar.tensorrt.dla_core
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise ModelError(
            "TensorRT could not deserialise the plan (its log above says why): the file is corrupt or was built "
            "by another TensorRT version; rebuild it on this machine with ma-trt-convert build"
        )
    return runtime, engine


def engine_io(trt: Any, engine: Any) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The engine's inputs and outputs as TensorSpecs (no descriptions), in engine order."""
    inputs, outputs = [], []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        dtype = engine.get_tensor_dtype(name).name
        spec = TensorSpec(name, tuple(int(d) for d in engine.get_tensor_shape(name)), DTYPES.get(dtype, dtype))
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        (inputs if is_input else outputs).append(spec)
    return tuple(inputs), tuple(outputs)


def check_io_matches_sidecar(
    found: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]], sidecar: EngineSidecar
) -> None:
    """ModelError naming every tensor whose name, shape or dtype differs between engine and sidecar."""
    problems = []
    for kind, engine_specs, sidecar_specs in zip(
        ("input", "output"), found, (sidecar.inputs, sidecar.outputs), strict=True
    ):
        expected = {s.name: (s.shape, s.dtype) for s in sidecar_specs}
        actual = {s.name: (s.shape, s.dtype) for s in engine_specs}
        for name in sorted(set(expected) | set(actual)):
            if expected.get(name) != actual.get(name):
                problems.append(f"{kind} {name}: sidecar {expected.get(name)}, engine {actual.get(name)}")
    if problems:
        raise ModelError(
            "the plan and its sidecar disagree (" + "; ".join(problems) + "): the sidecar belongs to another "
            "build; rebuild with ma-trt-convert build, which writes both"
        )
