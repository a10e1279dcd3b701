"""CUDA on ``pycuda``: the GPU's primary context made current per block of work, a stream, page-locked
host and device buffers allocated once per engine (for its largest input shapes), and timed upload →
execute → download.

Thread rule: a :class:`CudaContext` belongs to the thread that created it (the inference thread);
every GPU call runs inside ``context.active()``, which pushes the context on entry and pops it on
exit, so no context stays current on a thread by accident, and using it from another thread is an
error that says so. The primary context is the one the CUDA runtime (and so TensorRT and PyTorch)
uses: buffers allocated here are valid for TensorRT's ``execute_async_v3``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.errors import BackendUnavailableError, InputError


def _driver() -> Any:
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise BackendUnavailableError(
            f"GPU buffers need pycuda ({exc}): pip install pycuda (builds against the installed CUDA driver; "
            "on JetPack: sudo apt install python3-pycuda)"
        ) from exc
    return cuda


@dataclass(frozen=True)
class GpuIdentity:
    """What the sidecar check needs to know of the GPU: name, ``"major.minor"`` and memory in bytes."""

    name: str
    compute_capability: str
    total_memory_bytes: int


class CudaContext:
    """The primary CUDA context of one GPU, owned by the thread that creates it."""

    def __init__(self, device_index: int = 0) -> None:
        self._cuda = _driver()
        self._cuda.init()
        if device_index >= self._cuda.Device.count():
            raise BackendUnavailableError(
                f"CUDA device {device_index} does not exist ({self._cuda.Device.count()} visible)"
            )
        self._device = self._cuda.Device(device_index)
        self._context = self._device.retain_primary_context()
        self._owner = threading.get_ident()
        self._closed = False
        major, minor = self._device.compute_capability()
        self.identity = GpuIdentity(self._device.name(), f"{major}.{minor}", self._device.total_memory())

    @contextlib.contextmanager
    def active(self) -> Iterator[Any]:
        """Make the context current on this (the owning) thread for the block; yields ``pycuda.driver``."""
        if threading.get_ident() != self._owner:
            raise RuntimeError(
                "this CUDA context belongs to another thread: create the matcher on the thread that runs it"
            )
        if self._closed:
            raise RuntimeError("the CUDA context was closed")
        self._context.push()
        try:
            yield self._cuda
        finally:
            self._cuda.Context.pop()

    def memory_in_use_bytes(self) -> int:
        """Device memory in use on the whole GPU (all processes), bytes."""
        with self.active() as cuda:
            free, total = cuda.mem_get_info()
        return int(total - free)

    def new_stream(self) -> Any:
        """A new ``pycuda.driver.Stream`` of this context."""
        with self.active() as cuda:
            return cuda.Stream()

    def close(self) -> None:
        """Release this retain of the primary context (idempotent; free the buffers first)."""
        if not self._closed:
            self._closed = True
            self._context.detach()


class _Buffer:
    """One tensor's page-locked host array and device allocation (same shape and dtype)."""

    def __init__(self, cuda: Any, spec: TensorSpec) -> None:
        self.spec = spec
        self.host: np.ndarray = cuda.pagelocked_empty(spec.shape, np.dtype(spec.dtype))
        self.device = cuda.mem_alloc(max(self.host.nbytes, 1))

    def staged(self, array: np.ndarray) -> np.ndarray:
        """``array`` copied into the front of the page-locked buffer; returns that view.

        Raises:
            InputError: another dtype kind, or more elements than the buffer holds, or another rank.
        """
        capacity = self.host.shape
        if array.ndim != len(capacity) or any(a > c for a, c in zip(array.shape, capacity, strict=True)):
            raise InputError(f"input {self.spec.name}: shape {array.shape}, the engine takes at most {capacity}")
        view = self.host.reshape(-1)[: array.size].reshape(array.shape)
        np.copyto(view, array, casting="same_kind")
        return view

    def free(self) -> None:
        self.device.free()
        self.host.base.free()


class EngineBuffers:
    """Inputs and outputs of one engine on a stream: allocated once, reused by every call.

    ``run`` copies the inputs into page-locked memory, uploads them, calls ``execute(stream_handle)``
    (which must enqueue the engine's work on that stream), downloads the outputs and waits for the
    stream; events between the stages give their GPU times in milliseconds. Input buffers have the
    given (largest) shapes; a call may pass smaller inputs (a dynamic-size engine), which fill the
    front of each buffer densely, as the engine reads a tensor of the shape it was given.
    """

    def __init__(
        self,
        context: CudaContext,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        stream: Any | None = None,
    ) -> None:
        self._context = context
        with context.active() as cuda:
            self.stream = stream if stream is not None else cuda.Stream()
            self._inputs = [_Buffer(cuda, spec) for spec in inputs]
            self._outputs = [_Buffer(cuda, spec) for spec in outputs]
            self._events = [cuda.Event() for _ in range(4)]
        self._freed = False

    @property
    def addresses(self) -> dict[str, int]:
        """Device address of every tensor by name (for ``set_tensor_address``)."""
        return {b.spec.name: int(b.device) for b in self._inputs + self._outputs}

    @property
    def stream_handle(self) -> int:
        return int(self.stream.handle)

    def device_bytes(self) -> int:
        """Device memory held by the buffers."""
        return sum(b.host.nbytes for b in self._inputs + self._outputs)

    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        execute: Callable[[int], None],
        wanted: Collection[str] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Outputs (copies the caller owns; only those named in ``wanted``, None: all) and
        ``upload``/``execute``/``download`` times in ms."""
        staged = [buffer.staged(inputs[buffer.spec.name]) for buffer in self._inputs]
        outputs = [b for b in self._outputs if wanted is None or b.spec.name in wanted]
        start, uploaded, executed, downloaded = self._events
        with self._context.active() as cuda:
            start.record(self.stream)
            for buffer, host in zip(self._inputs, staged, strict=True):
                cuda.memcpy_htod_async(buffer.device, host, self.stream)
            uploaded.record(self.stream)
            execute(self.stream_handle)
            executed.record(self.stream)
            for buffer in outputs:
                cuda.memcpy_dtoh_async(buffer.host, buffer.device, self.stream)
            downloaded.record(self.stream)
            downloaded.synchronize()
            timing = {
                "upload": uploaded.time_since(start),
                "execute": executed.time_since(uploaded),
                "download": downloaded.time_since(executed),
            }
        return {b.spec.name: b.host.copy() for b in outputs}, timing

    def free(self) -> None:
        """Free every buffer (idempotent)."""
        if self._freed:
            return
        self._freed = True
        with self._context.active():
            for buffer in self._inputs + self._outputs:
                buffer.free()
