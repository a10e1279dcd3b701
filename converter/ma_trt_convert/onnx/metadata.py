"""Model metadata stored in the exported ONNX file (``ModelProto.metadata_props``) and the I/O contract.

Keys written by ``ma-trt-convert export`` (all values are strings):

==================  ==========================================================================
``variant``         ``roma`` or ``eloftr``
``precision``       ``fp16`` (strongly typed graph) or ``fp32``
``batch``           fixed batch size of every input
``opset``           ai.onnx opset of the graph
``build_args``      JSON of the resolution/solver arguments the PyTorch module was built with
                    (``verify`` rebuilds the same module from it)
``checkpoint_sha256``, ``dinov2_sha256``   SHA-256 of the weight files (RoMa has both)
``exporter``        converter, torch and onnx versions
``io_contract``     JSON ``{"inputs": [...], "outputs": [...]}`` of :class:`TensorSpec` dicts
==================  ==========================================================================

plus every entry of the model port's own ``metadata()`` (e.g. coordinate conventions).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import onnx

from ma_trt_convert.errors import ConversionError
from ma_trt_ros.contract.files import sha256_files
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec

IO_CONTRACT_KEY = "io_contract"
BUILD_ARGS_KEY = "build_args"


def onnx_sha256(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of the ONNX file followed by its external-data file ``<path>.data`` when there is one.

    This is the ``onnx.sha256`` of the engine sidecar: it changes when the graph or the weights change.
    """
    path = Path(path)
    data = path.with_name(path.name + ".data")
    return sha256_files([path, data] if data.is_file() else [path], chunk_bytes)


def set_metadata(model: onnx.ModelProto, values: dict[str, str]) -> None:
    """Replace ``model.metadata_props`` with ``values`` (sorted by key, so files are reproducible)."""
    del model.metadata_props[:]
    for key in sorted(values):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(values[key])


def get_metadata(model: onnx.ModelProto) -> dict[str, str]:
    """``metadata_props`` as a dict."""
    return {entry.key: entry.value for entry in model.metadata_props}


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Metadata of an ONNX file without loading its (possibly external) weights."""
    return get_metadata(onnx.load(os.fspath(path), load_external_data=False))


def read_export_metadata(path: str | os.PathLike[str], *required: str) -> dict[str, str]:
    """The metadata ``ma-trt-convert export`` wrote into ``path``: ``variant`` and every key in ``required``.

    Raises:
        ConversionError: a key is missing (the file was not written by ``export``).
    """
    metadata = read_onnx_metadata(path)
    if any(key not in metadata for key in ("variant", *required)):
        raise ConversionError(f"{path}: no ma_trt_convert metadata; export it with `ma-trt-convert export`")
    return metadata


def _spec(value: onnx.ValueInfoProto, descriptions: dict[str, str]) -> TensorSpec:
    tensor_type = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else DYNAMIC for d in tensor_type.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    return TensorSpec(value.name, tuple(dims), dtype, descriptions.get(value.name, ""))


def graph_io(
    model: onnx.ModelProto, descriptions: dict[str, str] | None = None
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of the graph (name, shape with :data:`DYNAMIC` for open axes, numpy dtype) with the
    given descriptions."""
    descriptions = descriptions or {}
    initializers = {init.name for init in model.graph.initializer}
    inputs = tuple(_spec(v, descriptions) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_spec(v, descriptions) for v in model.graph.output)
    return inputs, outputs


def encode_io_contract(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> str:
    """The ``io_contract`` metadata value."""
    return json.dumps({"inputs": [s.to_dict() for s in inputs], "outputs": [s.to_dict() for s in outputs]})


def decode_io_contract(metadata: dict[str, str]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inverse of :func:`encode_io_contract`; raises KeyError when the file has no contract."""
    data: dict[str, Any] = json.loads(metadata[IO_CONTRACT_KEY])
    return (
        tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
        tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
    )
