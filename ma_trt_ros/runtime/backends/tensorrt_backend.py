"""TensorRT backend: a ``.plan`` checked against its sidecar, run on a CUDA stream by tensor name.

Order of work when opening: read the sidecar (no TensorRT needed), check the plan file against it,
import the TensorRT module the plan was built with, read the GPU's identity, refuse a plan built for
another TensorRT version or GPU with a message that names the mismatch and the rebuild command,
deserialise, check the engine's tensors against the sidecar, allocate buffers once, bind their
addresses, and optionally capture the enqueue as a CUDA graph. No PyTorch anywhere.

Dynamic-size plans (an optimisation profile in the sidecar): buffers are allocated once for the
profile's largest shapes; each call sets the inputs' shapes when they differ from the previous call's
(``set_input_shape``) and uploads only the call's elements; with CUDA graphs, one graph is captured
per input shape, on the first call of that shape.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ma_trt_ros.contract.errors import SidecarError
from ma_trt_ros.contract.sidecar import EngineSidecar, read_sidecar, runtime_mismatches, sidecar_path
from ma_trt_ros.contract.variants import variant_contract
from ma_trt_ros.runtime.backends.base import graph_takes_uint8
from ma_trt_ros.runtime.cuda_graph import CapturedGraph
from ma_trt_ros.runtime.cuda_stream import CudaContext, EngineBuffers, GpuIdentity
from ma_trt_ros.runtime.errors import InputError, MatcherError, ModelError
from ma_trt_ros.runtime.model_files import model_id
from ma_trt_ros.runtime.tensorrt_api import check_io_matches_sidecar, deserialize, engine_io, import_tensorrt


def _device_index(device: str | None) -> int:
    if device in (None, "cuda"):
        return 0
    prefix, _, index = device.partition(":")
    if prefix != "cuda" or not index.isdigit():
        raise ModelError(f"tensorrt backend: device {device!r} is not 'cuda' or 'cuda:N'")
    return int(index)


def load_sidecar(plan: Path) -> EngineSidecar:
    """The plan's sidecar, checked against the plan file's size (a truncated copy is caught here)."""
    try:
        sidecar = read_sidecar(sidecar_path(plan))
        variant_contract(sidecar.variant)
    except (SidecarError, ValueError) as exc:
        raise ModelError(str(exc)) from exc
    size = plan.stat().st_size
    if sidecar.plan.size is not None and size != sidecar.plan.size:
        raise ModelError(
            f"{plan}: {size} bytes, its sidecar says {sidecar.plan.size}: the plan is truncated or was replaced; "
            "copy it again or rebuild it with ma-trt-convert build"
        )
    return sidecar


def rebuild_hint(plan: Path, sidecar: EngineSidecar) -> str:
    """The command that rebuilds ``plan`` for this machine."""
    return f"ma-trt-convert build --onnx {sidecar.onnx.file} --target {sidecar.target} --output {plan}"


def check_runtime(plan: Path, sidecar: EngineSidecar, module: str, version: str, gpu: GpuIdentity | None) -> None:
    """ModelError naming every way the plan does not fit this TensorRT (and GPU, when given) and the
    command that rebuilds it; the TensorRT check needs no GPU, so it runs before any CUDA work."""
    problems = runtime_mismatches(
        sidecar,
        tensorrt_module=module,
        tensorrt_version=version,
        compute_capability=gpu and gpu.compute_capability,
        gpu_name=gpu and gpu.name,
    )
    if problems:
        raise ModelError(f"{plan} cannot run here: {'; '.join(problems)}. Rebuild: {rebuild_hint(plan, sidecar)}")


class TensorRTBackend:
    """A TensorRT plan on one GPU (see :class:`~ma_trt_ros.runtime.backends.base.Backend`).

    Create it on the thread that will call :meth:`run` (it owns the CUDA context there).

    Args:
        plan: the ``.plan`` file; its sidecar ``<plan>.json`` must be beside it.
        device: ``"cuda"`` or ``"cuda:N"``.
        cuda_graph: replay the enqueue as a CUDA graph (needs ``cuda-python``).
        tensorrt: ``(module, name)``: a TensorRT module to use instead of importing the sidecar's, and
            the name the sidecar check compares (``"tensorrt"``, ``"tensorrt_rtx"``); tests on machines
            without TensorRT pass a double here.
        context, stream: share a CUDA context and stream with other engines (default: own ones).
    """

    name = "tensorrt"

    def __init__(
        self,
        plan: str | os.PathLike[str],
        device: str | None = None,
        cuda_graph: bool = False,
        tensorrt: tuple[Any, str] | None = None,
        context: CudaContext | None = None,
        stream: Any = None,
    ) -> None:
        plan = Path(plan)
        sidecar = load_sidecar(plan)
        trt, module_name = tensorrt or import_tensorrt(sidecar)
        check_runtime(plan, sidecar, module_name, trt.__version__, None)
        self._owns_context = context is None
        self._context = context or CudaContext(_device_index(device))
        self._buffers: EngineBuffers | None = None
        self._graphs: dict[tuple[tuple[int, ...], ...], CapturedGraph] = {}
        self._shapes: tuple[tuple[int, ...], ...] = tuple(spec.shape for spec in sidecar.inputs)
        self._cuda_graph = cuda_graph
        try:
            check_runtime(plan, sidecar, module_name, trt.__version__, self._context.identity)
            self._open(trt, plan, sidecar, stream)
        except BaseException:
            self.close()
            raise
        self.variant = sidecar.variant
        self.model_id = model_id(plan, sidecar.plan.sha256)
        self.inputs, self.outputs = sidecar.inputs, sidecar.outputs
        self.size_range = sidecar.size_range()
        self.takes_uint8_images = graph_takes_uint8(self.inputs)
        self.sidecar = sidecar

    def _open(self, trt: Any, plan: Path, sidecar: EngineSidecar, stream: Any) -> None:
        with self._context.active():
            self._runtime, self._engine = deserialize(trt, plan.read_bytes(), sidecar)
            check_io_matches_sidecar(engine_io(trt, self._engine), sidecar)
            self._execution = self._engine.create_execution_context()
            for spec in sidecar.inputs:
                if not spec.is_dynamic:
                    self._execution.set_input_shape(spec.name, spec.shape)
        self._buffers = EngineBuffers(self._context, sidecar.buffer_shapes(), sidecar.outputs, stream)
        with self._context.active():
            for name, address in self._buffers.addresses.items():
                self._execution.set_tensor_address(name, address)
        if self._cuda_graph and not sidecar.profiles:
            self._capture()

    def _capture(self) -> None:
        """Capture the enqueue for the current input shapes (TensorRT finishes its set-up for a shape on the
        first enqueue, so one uncaptured enqueue runs first, on the buffers as they are)."""
        with self._context.active():
            self._enqueue(self._buffers.stream_handle)
            self._graphs[self._shapes] = CapturedGraph(self._buffers.stream_handle, self._enqueue)

    def _checked_shapes(self, inputs: Mapping[str, np.ndarray]) -> tuple[tuple[int, ...], ...]:
        """This call's input shapes; InputError for a shape the plan cannot take (fixed: its own; dynamic:
        fixed axes equal and height/width within the optimisation profile)."""
        shapes = tuple(tuple(inputs[spec.name].shape) for spec in self.inputs)
        for spec, shape in zip(self.inputs, shapes, strict=True):
            try:
                spec.with_shape(shape)
            except ValueError as exc:
                raise InputError(f"{exc}: the plan's input") from exc
            if spec.is_dynamic and (problem := self.size_range.problem(shape[2], shape[3])):
                raise InputError(f"input {spec.name}: {problem}, the plan's optimisation profile")
        return shapes

    def _set_shapes(self, shapes: tuple[tuple[int, ...], ...]) -> None:
        """Give the execution context new input shapes (dynamic plans) and capture their graph if asked."""
        with self._context.active():
            for spec, shape in zip(self.inputs, shapes, strict=True):
                if not self._execution.set_input_shape(spec.name, shape):
                    raise InputError(f"TensorRT refused shape {shape} for input {spec.name}")
        self._shapes = shapes
        if self._cuda_graph and shapes not in self._graphs:
            self._capture()

    def _enqueue(self, stream_handle: int) -> None:
        if not self._execution.execute_async_v3(stream_handle):
            raise MatcherError("TensorRT failed to enqueue the engine (see its log); the pair was not matched")

    def _execute(self, stream_handle: int) -> None:
        graph = self._graphs.get(self._shapes)
        if graph is not None:
            graph.launch(stream_handle)
        else:
            self._enqueue(stream_handle)

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        if self._buffers is None:
            raise MatcherError("the TensorRT backend was closed")
        shapes = self._checked_shapes(inputs)
        if shapes != self._shapes:
            self._set_shapes(shapes)
        return self._buffers.run(inputs, self._execute, wanted)

    def gpu_memory_bytes(self) -> int | None:
        if self._buffers is None:
            return 0
        return self._buffers.device_bytes() + int(getattr(self._engine, "device_memory_size", 0) or 0)

    def close(self) -> None:
        """Free the graph, execution context, engine, buffers and (when owned) the CUDA context."""
        if getattr(self, "_context", None) is None:
            return
        with self._context.active():
            for graph in self._graphs.values():
                graph.close()
            self._graphs = {}
            self._execution = self._engine = self._runtime = None
        if self._buffers is not None:
            self._buffers.free()
            self._buffers = None
        if self._owns_context:
            self._context.close()
        self._context = None
