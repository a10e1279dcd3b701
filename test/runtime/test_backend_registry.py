"""Backends by name: built in, or plugins found through the ``ma_trt_ros.backends`` entry points."""

from __future__ import annotations

import importlib.metadata

import pytest

from ma_trt_ros.runtime import BackendUnavailableError
from ma_trt_ros.runtime.backends import registry
from ma_trt_ros.runtime.loading import BACKENDS


def test_every_backend_name_has_a_factory_and_torch_is_the_converters_plugin() -> None:
    assert BACKENDS == ("auto", "tensorrt", "onnxruntime", "torch")
    for name in registry.BACKEND_NAMES:
        assert callable(registry.backend_factory(name))
    (entry,) = [e for e in importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP) if e.name == "torch"]
    assert entry.value == "ma_trt_convert.torch_backend:TorchBackend"


def test_a_missing_plugin_says_what_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [])
    with pytest.raises(BackendUnavailableError, match=r"^the torch backend is not installed \(it needs PyTorch"):
        registry.backend_factory("torch")
    with pytest.raises(BackendUnavailableError, match=r"^the jax backend is not installed"):
        registry.backend_factory("jax")
