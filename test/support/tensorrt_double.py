"""A test double of the ``tensorrt`` module for machines without TensorRT.

It implements only what ``ma_trt_ros.runtime`` calls (Logger, Runtime.deserialize_cuda_engine, the
engine's tensor-name queries, the execution context's set_input_shape / set_tensor_address /
execute_async_v3) and, on a GPU, launches a REAL kernel on the given stream over the given device
addresses (through CuPy, present on our GPU machine), so the runtime's CUDA plumbing (buffers,
addresses, stream order, events, CUDA graphs) is exercised for real. It is not TensorRT: it proves
what we ask of TensorRT, not that TensorRT accepts it.

A "plan" for the double is JSON: ``{"inputs": [spec...], "outputs": [spec...], "scale": a,
"bias": b, "spin": n}`` with float32 specs ``{"name", "shape", "dtype"}``. Every output element ``i``
becomes ``scale · input0[i mod size(input0)] + bias`` after a busy loop of ``spin`` iterations per
thread (to make a missing stream dependency show as stale data). An input shape with -1 axes is
dynamic: ``size(input0)`` is then the shape last given to ``set_input_shape``, as in TensorRT.
"""

from __future__ import annotations

import enum
import json
import math
from typing import Any

__version__ = "10.99.0.double"

KERNEL = r"""
extern "C" __global__ void affine(const float* in, float* out, long long n_in, long long n_out,
                                  float scale, float bias, long long spin) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_out) return;
    float v = in[i % n_in];
    for (long long k = 0; k < spin; ++k) { v = v * 1.0000001f; v = v * 0.9999999f; }
    out[i] = scale * v + bias;
}
"""


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT32 = 3
    BOOL = 4


_DTYPES = {"float32": DataType.FLOAT, "float16": DataType.HALF, "int32": DataType.INT32, "bool": DataType.BOOL}


class Logger:
    WARNING = 2

    def __init__(self, severity: int = 2) -> None:
        self.severity = severity


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self._engine = engine
        self.addresses: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.enqueues = 0
        self._streams: dict[int, Any] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = int(address)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        import cupy

        spec_in = self._engine.specs[0]
        n_in = math.prod(self.shapes.get(spec_in["name"], spec_in["shape"]))
        if n_in <= 0:
            return False  # TensorRT refuses to enqueue before every dynamic input has a shape
        kernel = cupy.RawKernel(KERNEL, "affine")
        if stream_handle not in self._streams:
            self._streams[stream_handle] = cupy.cuda.ExternalStream(stream_handle)
        with self._streams[stream_handle]:
            for spec in self._engine.outputs:
                n_out = math.prod(spec["shape"])
                kernel(
                    ((n_out + 255) // 256,),
                    (256,),
                    (
                        _device_array(self.addresses[spec_in["name"]], n_in),
                        _device_array(self.addresses[spec["name"]], n_out),
                        cupy.int64(n_in),
                        cupy.int64(n_out),
                        cupy.float32(self._engine.plan["scale"]),
                        cupy.float32(self._engine.plan["bias"]),
                        cupy.int64(self._engine.plan.get("spin", 0)),
                    ),
                )
        self.enqueues += 1
        return True


def _device_array(address: int, count: int) -> Any:
    import cupy

    memory = cupy.cuda.UnownedMemory(address, count * 4, owner=None)
    return cupy.ndarray((count,), cupy.float32, cupy.cuda.MemoryPointer(memory, 0))


class _Engine:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.specs = plan["inputs"] + plan["outputs"]
        self.outputs = plan["outputs"]
        self.num_io_tensors = len(self.specs)
        self.device_memory_size = 0
        self.contexts: list[_Context] = []

    def _spec(self, name: str) -> dict[str, Any]:
        return next(s for s in self.specs if s["name"] == name)

    def get_tensor_name(self, index: int) -> str:
        return self.specs[index]["name"]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        is_input = any(s["name"] == name for s in self.plan["inputs"])
        return TensorIOMode.INPUT if is_input else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._spec(name)["shape"])

    def get_tensor_dtype(self, name: str) -> DataType:
        return _DTYPES[self._spec(name)["dtype"]]

    def create_execution_context(self) -> _Context:
        context = _Context(self)
        self.contexts.append(context)
        return context


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.engines: list[_Engine] = []

    def deserialize_cuda_engine(self, plan: bytes) -> _Engine | None:
        try:
            engine = _Engine(json.loads(plan))
        except (ValueError, KeyError):
            return None  # TensorRT returns None for bytes it cannot read
        self.engines.append(engine)
        return engine


def write_double_plan(
    folder: Any,
    *,
    shape: tuple[int, ...] = (1, 4, 64),
    output_shapes: tuple[tuple[int, ...], ...] = ((1, 4, 64),),
    scale: float = 2.0,
    bias: float = 1.0,
    spin: int = 0,
    variant: str = "eloftr",
    module: str = "tensorrt",
    version: str = __version__,
    gpu_name: str | None = None,
    compute_capabilities: tuple[str, ...] = (),
    name: str = "double.plan",
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None,
) -> Any:
    """Write a plan for this double (input ``x``, outputs ``y0, y1, ...``) and its real sidecar; returns the
    plan path. The sidecar says ``variant`` so the runtime accepts it; its tensors are the double's.
    ``profile`` (min, opt, max NCHW shapes) makes ``x`` dynamic in height and width (``shape`` is ignored)."""
    from pathlib import Path

    from ma_trt_ros.contract.files import sha256_file
    from ma_trt_ros.contract.sidecar import (
        BuildDevice,
        EngineSidecar,
        FileRef,
        TensorRTBuild,
        sidecar_path,
        write_sidecar,
    )
    from ma_trt_ros.contract.sizes import ShapeProfile
    from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec

    profiles = () if profile is None else (ShapeProfile("x", *profile),)
    if profile is not None:
        shape = (*profile[0][:2], DYNAMIC, DYNAMIC)
    plan_path = Path(folder) / name
    inputs = [{"name": "x", "shape": list(shape), "dtype": "float32"}]
    outputs = [{"name": f"y{i}", "shape": list(s), "dtype": "float32"} for i, s in enumerate(output_shapes)]
    plan = {"inputs": inputs, "outputs": outputs, "scale": scale, "bias": bias, "spin": spin}
    plan_path.write_text(json.dumps(plan))
    sidecar = EngineSidecar(
        variant=variant,
        precision="fp32",
        batch=shape[0],
        target="desktop",
        tensorrt=TensorRTBuild(module=module, version=version, typing="strong"),
        device=BuildDevice(gpu_name, compute_capabilities),
        onnx=FileRef("double.onnx", "0" * 64),
        plan=FileRef(plan_path.name, sha256_file(plan_path), plan_path.stat().st_size),
        inputs=tuple(TensorSpec(s["name"], tuple(s["shape"]), "float32") for s in inputs),
        outputs=tuple(TensorSpec(s["name"], tuple(s["shape"]), "float32") for s in outputs),
        profiles=profiles,
    )
    write_sidecar(sidecar, sidecar_path(plan_path))
    return plan_path
