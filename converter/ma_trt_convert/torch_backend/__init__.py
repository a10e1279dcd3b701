"""The runtime's ``torch`` backend (a plugin registered under the ``ma_trt_ros.backends`` entry points)."""

from ma_trt_convert.torch_backend.backend import TorchBackend

__all__ = ["TorchBackend"]
