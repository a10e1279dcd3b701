"""The runtime: runs MatchAnything models (TensorRT plans, ONNX files, or the PyTorch port) on image
pairs and returns matches in pixels of the images as given. No PyTorch, converter or ROS import here:
the TensorRT and ONNX Runtime paths run where none is installed; the torch backend is a plugin that
the converter registers (:mod:`ma_trt_ros.runtime.backends.registry`)."""

from ma_trt_ros.runtime.errors import BackendUnavailableError, InputError, MatcherError, ModelError
from ma_trt_ros.runtime.loading import BACKENDS, choose_backend, open_matcher
from ma_trt_ros.runtime.matcher import Matcher
from ma_trt_ros.runtime.options import BackendSettings, MatchOptions
from ma_trt_ros.runtime.result import DenseField, ImageSize, MatchResult

__all__ = [
    "BACKENDS",
    "BackendSettings",
    "BackendUnavailableError",
    "DenseField",
    "ImageSize",
    "InputError",
    "MatchOptions",
    "MatchResult",
    "Matcher",
    "MatcherError",
    "ModelError",
    "choose_backend",
    "open_matcher",
]
