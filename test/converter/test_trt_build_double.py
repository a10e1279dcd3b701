"""Build paths for TensorRT proper (absent here) against a recording test double of the ``tensorrt`` module.

:func:`fake_tensorrt` imitates the parts of the TensorRT Python API that ``trt_build`` uses, per
version: 8.5 (no strong typing, no optimisation level, no progress monitor, EXPLICIT_BATCH needed),
10.3/10.13 and 11.x. It records the flags and settings so the tests can assert what each target
asks of the builder. It proves our calls follow the documented API shape, not that a real TensorRT
accepts them: that part is unexecuted here (see docs/conversion.md).
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import onnx
import pytest
from test_export_standin import StandInMatcher, write_standin_checkpoint

from ma_trt_convert.conversion_errors import ConversionError
from ma_trt_convert.onnx_export import export_onnx
from ma_trt_convert.trt_build import build_engine, keep_fp32_layers
from ma_trt_convert.trt_targets import TARGETS, default_options
from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path

LAYER_TYPES = {"Softmax": "SOFTMAX", "LayerNormalization": "NORMALIZATION", "ReduceMean": "REDUCE", "Exp": "UNARY"}


def fake_tensorrt(version: str) -> ModuleType:
    """A recording double of the ``tensorrt`` module at ``version`` (see module docstring)."""
    major = int(version.split(".")[0])
    trt = ModuleType("tensorrt")
    trt.__version__ = version
    trt.record = SimpleNamespace(network_flags=None, flags=set(), pools={}, settings={}, cache_loaded=None)
    trt.float32 = "float32"
    layer_types = ["SOFTMAX", "REDUCE", "UNARY", "ELEMENTWISE", "OTHER"] + (["NORMALIZATION"] if major >= 10 else [])
    trt.LayerType = enum.Enum("LayerType", layer_types)
    trt.UnaryOperation = enum.Enum("UnaryOperation", ["EXP", "LOG", "SQRT", "RECIP", "ABS"])
    trt.ElementWiseOperation = enum.Enum("ElementWiseOperation", ["POW", "SUM"])
    flags = ["EXPLICIT_BATCH"] if major < 11 else []
    trt.NetworkDefinitionCreationFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag", flags + (["STRONGLY_TYPED"] if major >= 10 else []), start=0
    )
    builder_flags = ["OBEY_PRECISION_CONSTRAINTS", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "GPU_FALLBACK"]
    trt.BuilderFlag = enum.Enum("BuilderFlag", builder_flags + (["FP16"] if major < 11 else []))
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE"])
    trt.DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])
    trt.nptype = lambda dtype: {"FLOAT": np.float32, "FLOAT16": np.float16, "BOOL": np.bool_, "INT32": np.int32}[dtype]

    class ILogger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self) -> None:
            pass

    class Layer:
        def __init__(self, node: onnx.NodeProto) -> None:
            self.name, self.num_outputs = node.name, len(node.output)
            kind = LAYER_TYPES.get(node.op_type, "OTHER")
            self.type = getattr(trt.LayerType, kind if hasattr(trt.LayerType, kind) else "OTHER")
            self.precision, self.output_types = None, {}

        def set_output_type(self, index: int, dtype: str) -> None:
            self.output_types[index] = dtype

    class IUnaryLayer(Layer):
        op = trt.UnaryOperation.EXP

    class IElementWiseLayer(Layer):
        op = trt.ElementWiseOperation.SUM

    class Network:
        def __init__(self) -> None:
            self.inputs, self.outputs, self.layers = [], [], []

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))
        num_layers = property(lambda self: len(self.layers))

        def get_input(self, i: int):
            return self.inputs[i]

        def get_output(self, i: int):
            return self.outputs[i]

        def get_layer(self, i: int):
            return self.layers[i]

    class OnnxParser:
        num_errors = 0

        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network = network

        def parse_from_file(self, path: str) -> bool:
            graph = onnx.load(path, load_external_data=False).graph

            def tensor(value: onnx.ValueInfoProto) -> SimpleNamespace:
                dims = tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
                dtype = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
                return SimpleNamespace(name=value.name, shape=dims, dtype=dtype)

            self.network.inputs = [tensor(v) for v in graph.input]
            self.network.outputs = [tensor(v) for v in graph.output]
            self.network.layers = [Layer(n) for n in graph.node]
            return True

    class Cache:
        def serialize(self) -> bytes:
            return b"timing-cache"

    class Config:
        def set_memory_pool_limit(self, pool, size: int) -> None:
            trt.record.pools[pool.name] = size

        def set_flag(self, flag) -> None:
            trt.record.flags.add(flag.name)

        def create_timing_cache(self, data: bytes) -> Cache:
            trt.record.cache_loaded = data
            return Cache()

        def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> None:
            pass

        def get_timing_cache(self) -> Cache:
            return Cache()

        def __setattr__(self, name: str, value) -> None:
            trt.record.settings[name] = value

    if major >= 10:
        Config.builder_optimization_level = 3
        Config.progress_monitor = None

        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        trt.IProgressMonitor = IProgressMonitor

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            trt.record.network_flags = flags
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            return b"fake plan " + version.encode()

    trt.ILogger, trt.OnnxParser, trt.Builder = ILogger, OnnxParser, Builder
    trt.IUnaryLayer, trt.IElementWiseLayer = IUnaryLayer, IElementWiseLayer
    return trt


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("double")
    checkpoint = write_standin_checkpoint(folder / "w.pt")
    paths = {}
    for precision in ("fp32", "fp16"):
        paths[precision] = folder / f"{precision}.onnx"
        module = StandInMatcher(64, 96, precision).load(checkpoint)
        export_onnx(module, paths[precision], metadata={"variant": "eloftr", "precision": precision})
    return paths


def _build(monkeypatch, tmp_path: Path, onnx_path: Path, target: str, version: str, **changes):
    trt = fake_tensorrt(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    plan = tmp_path / "m.plan"
    options = default_options(TARGETS[target], str(plan))
    sidecar = build_engine(onnx_path, plan, TARGETS[target], options.__class__(**{**options.__dict__, **changes}))
    return trt, plan, sidecar


def test_xavier_jp5_builds_weakly_typed_with_fp32_layers(monkeypatch, tmp_path: Path, onnx_files) -> None:
    trt, plan, sidecar = _build(monkeypatch, tmp_path, onnx_files["fp32"], "jetson-xavier-jp5", "8.5.2.2", dla_core=0)
    assert trt.record.network_flags == 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    assert trt.record.flags == {"FP16", "OBEY_PRECISION_CONSTRAINTS", "GPU_FALLBACK"}
    assert trt.record.pools == {"WORKSPACE": 2 << 30}
    assert "builder_optimization_level" not in trt.record.settings and "progress_monitor" not in trt.record.settings
    assert trt.record.settings["DLA_core"] == 0 and trt.record.settings["default_device_type"].name == "DLA"
    assert trt.record.cache_loaded == b""
    assert Path(f"{plan}.timing-cache").read_bytes() == b"timing-cache"
    assert plan.read_bytes() == b"fake plan 8.5.2.2"
    assert (sidecar.tensorrt.typing, sidecar.tensorrt.fp16_flag, sidecar.tensorrt.dla_core) == ("weak", True, 0)
    assert read_sidecar(sidecar_path(plan)) == sidecar


@pytest.mark.parametrize(
    ("version", "kinds"), [("8.5.2.2", {"SOFTMAX", "REDUCE"}), ("10.3.0.30", {"SOFTMAX", "REDUCE", "NORMALIZATION"})]
)
def test_weak_typing_pins_softmax_and_normalisation_to_fp32(onnx_files, version: str, kinds: set[str]) -> None:
    trt = fake_tensorrt(version)
    network = trt.Builder(None).create_network(0)
    trt.OnnxParser(network, None).parse_from_file(str(onnx_files["fp32"]))
    pinned = keep_fp32_layers(trt, network)
    layers = {layer.name: layer for layer in network.layers}
    assert pinned and all(layers[name].precision == "float32" for name in pinned)
    assert {layers[name].type.name for name in pinned} == kinds
    assert all(layers[name].output_types == {0: "float32"} for name in pinned)
    untouched = [layer for layer in network.layers if layer.name not in pinned]
    assert untouched and all(layer.precision is None for layer in untouched)


@pytest.mark.parametrize(
    ("target", "version"), [("jetson-orin-jp6", "10.3.0.30"), ("jetson-thor", "10.13.3.9"), ("desktop", "11.0.0.1")]
)
def test_strongly_typed_targets(monkeypatch, tmp_path: Path, onnx_files, target: str, version: str) -> None:
    trt, _, sidecar = _build(monkeypatch, tmp_path, onnx_files["fp16"], target, version)
    assert trt.record.network_flags == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert trt.record.flags == set()
    assert trt.record.settings["builder_optimization_level"] == 3
    assert type(trt.record.settings["progress_monitor"]).__name__ == "TqdmProgressMonitor"
    assert sidecar.tensorrt.version == version and sidecar.tensorrt.typing == "strong"
    dtypes = {t.name: t.dtype for t in sidecar.outputs}
    assert (dtypes["valid"], dtypes["cells"], dtypes["confidence"]) == ("bool", "int32", "float32")


def test_desktop_version_compatible_for_lean_runtime(monkeypatch, tmp_path: Path, onnx_files) -> None:
    trt, _, sidecar = _build(
        monkeypatch,
        tmp_path,
        onnx_files["fp16"],
        "desktop",
        "10.8.0.43",
        version_compatible=True,
        exclude_lean_runtime=True,
        timing_cache=None,
    )
    assert trt.record.flags == {"VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME"}
    assert trt.record.cache_loaded is None
    assert sidecar.tensorrt.version_compatible and sidecar.tensorrt.exclude_lean_runtime


def test_wrong_major_version_is_refused(monkeypatch, tmp_path: Path, onnx_files) -> None:
    with pytest.raises(ConversionError, match=r"jetson-orin-jp6 needs tensorrt 10\.x, found 8\.5"):
        _build(monkeypatch, tmp_path, onnx_files["fp16"], "jetson-orin-jp6", "8.5.2.2")
    assert not (tmp_path / "m.plan").exists()
