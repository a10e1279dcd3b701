"""Capturing an engine's enqueue as a CUDA graph and replaying it (static shapes and addresses only).

Uses NVIDIA's ``cuda-python`` driver bindings (``pip install cuda-python``), since pycuda has no
stream capture. Capture is thread-local: only work this thread enqueues on the stream is recorded.
Replaying saves TensorRT's per-call launch overhead (many small kernels); the graph reads and writes
the same device addresses every time, so inputs must be uploaded into the captured buffers first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ma_trt_ros.runtime.errors import BackendUnavailableError, MatcherError


def _driver_bindings() -> Any:
    try:
        from cuda.bindings import driver
    except ImportError:
        try:
            from cuda import cuda as driver
        except ImportError as exc:
            raise BackendUnavailableError(
                "CUDA-graph replay needs NVIDIA's driver bindings: pip install cuda-python (or turn cuda_graph off)"
            ) from exc
    return driver


def _check(result: Any, what: str) -> Any:
    """The value of a ``cuda-python`` call's ``(error, value...)`` result; MatcherError when it failed."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise MatcherError(f"CUDA graph: {what} failed with {error}")
    return values[0] if len(values) == 1 else values


class CapturedGraph:
    """The work ``enqueue(stream_handle)`` puts on a stream, captured once, launched by :meth:`launch`."""

    def __init__(self, stream_handle: int, enqueue: Callable[[int], None]) -> None:
        self._cu = _driver_bindings()
        cu = self._cu
        stream = cu.CUstream(stream_handle)
        mode = cu.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
        _check(cu.cuStreamBeginCapture(stream, mode), "begin capture")
        try:
            enqueue(stream_handle)
        finally:
            graph = _check(cu.cuStreamEndCapture(stream), "end capture")
        self._graph = graph
        self._exec = _check(cu.cuGraphInstantiate(graph, 0), "instantiate")

    def launch(self, stream_handle: int) -> None:
        """Enqueue the captured work on the stream."""
        _check(self._cu.cuGraphLaunch(self._exec, self._cu.CUstream(stream_handle)), "launch")

    def close(self) -> None:
        """Destroy the graph (idempotent)."""
        if self._exec is not None:
            _check(self._cu.cuGraphExecDestroy(self._exec), "destroy executable graph")
            _check(self._cu.cuGraphDestroy(self._graph), "destroy graph")
            self._exec = self._graph = None
