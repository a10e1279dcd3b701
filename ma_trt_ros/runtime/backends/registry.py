"""Which backends exist and how each is created: one factory per backend name.

The TensorRT and ONNX Runtime backends live in the runtime. Others come as plugins through the
``ma_trt_ros.backends`` entry-point group (``name = module:factory``): the ``torch`` backend is the
converter's (``ma_trt_convert.torch_backend``), since it runs the PyTorch port, so the runtime never
imports the converter. A factory takes the model path and the :class:`BackendSettings`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from ma_trt_ros.runtime.backends.base import Backend
from ma_trt_ros.runtime.errors import BackendUnavailableError
from ma_trt_ros.runtime.options import BackendSettings

BackendFactory = Callable[[str, BackendSettings], Backend]
ENTRY_POINT_GROUP = "ma_trt_ros.backends"
# Every backend name the runtime knows; what the ones that come as plugins need, and what installs it.
BACKEND_NAMES = ("tensorrt", "onnxruntime", "torch")
PLUGIN_NEEDS = {"torch": ("PyTorch and the converter", "pip install 'ma_trt_ros[convert]'")}


def _tensorrt(path: str, settings: BackendSettings) -> Backend:
    from ma_trt_ros.runtime.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(path, device=settings.device, cuda_graph=settings.cuda_graph)


def _onnxruntime(path: str, settings: BackendSettings) -> Backend:
    from ma_trt_ros.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, providers=settings.providers)


_BUILT_IN: dict[str, BackendFactory] = {"tensorrt": _tensorrt, "onnxruntime": _onnxruntime}


def backend_factory(name: str) -> BackendFactory:
    """The factory of backend ``name``: built in, or the installed plugin of that name.

    Raises:
        BackendUnavailableError: no plugin of that name is installed, or it cannot be imported (the message
            says what installs it).
    """
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    needs, install = PLUGIN_NEEDS.get(name, ("its package", f"install a package that provides {name!r}"))
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            try:
                return entry.load()
            except ImportError as exc:
                raise BackendUnavailableError(f"the {name} backend needs {needs} ({exc}): {install}") from exc
    raise BackendUnavailableError(f"the {name} backend is not installed (it needs {needs}): {install}")
