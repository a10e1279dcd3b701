"""A recording test double of the ``tensorrt`` builder API (no TensorRT can be installed here).

It records what ``ma_trt_convert.tensorrt.build`` asks of TensorRT (flags, layer precisions, typing,
version-compatibility); it shows what we ask, not that TensorRT accepts it.
"""

from __future__ import annotations

import enum
from types import ModuleType, SimpleNamespace

import numpy as np
import onnx

LAYER_TYPES = {"Softmax": "SOFTMAX", "LayerNormalization": "NORMALIZATION", "ReduceMean": "REDUCE", "Exp": "UNARY"}


def fake_tensorrt(version: str) -> ModuleType:
    """A recording double of the ``tensorrt`` module at ``version`` (see module docstring)."""
    major = int(version.split(".")[0])
    trt = ModuleType("tensorrt")
    trt.__version__ = version
    trt.record = SimpleNamespace(network_flags=None, flags=set(), pools={}, settings={}, cache_loaded=None, profiles=[])
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
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)
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

        def add_optimization_profile(self, profile: Profile) -> int:
            trt.record.profiles.append(profile.shapes)
            return len(trt.record.profiles) - 1

        def __setattr__(self, name: str, value) -> None:
            trt.record.settings[name] = value

    if major >= 10:
        Config.builder_optimization_level = 3
        Config.progress_monitor = None

        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        trt.IProgressMonitor = IProgressMonitor

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, name: str, low: tuple[int, ...], opt: tuple[int, ...], high: tuple[int, ...]) -> None:
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            pass

        def create_optimization_profile(self) -> Profile:
            return Profile()

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
