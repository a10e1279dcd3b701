"""Graph clean-up after ``torch.onnx.export`` and saving (inline or with external data).

Clean-up = onnxslim (constant folding, dead-node and common-subexpression elimination, Conv+BN and
MatMul+Add fusion, shape inference) followed by :func:`drop_float64` (the TorchScript exporter emits
float64 constants from Python float arithmetic; TensorRT would clamp them down with a warning) and
a final check that no operator every TensorRT version rejects is left (e.g. an ``EyeLike`` that
could not be folded).

onnxslim re-serialises the whole model for shape inference in each of its passes, which takes
minutes for RoMa's 1.6 GB of weights. Weights over :data:`LIFT_BYTES` are therefore lifted out as
graph inputs while it runs and put back afterwards (:func:`lift_large_initializers`): it still folds
every shape computation and small constant, while the large weights stay untouched (``torch.onnx``
already folded what depends on weights alone, and TensorRT folds the rest at build time).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxslim

from ma_trt_convert.engine_limits import UNSUPPORTED_OPS
from ma_trt_convert.errors import ConversionError

LOG = logging.getLogger(__name__)
# Ops that no TensorRT version parses; EyeLike is folded for fixed shapes and must be gone afterwards.
REJECTED_OPS = (UNSUPPORTED_OPS["8.5"] & UNSUPPORTED_OPS["10"]) | {"EyeLike"}
# protobuf cannot serialise a message over 2 GiB; above this many weight bytes, weights go to a side file.
EXTERNAL_DATA_THRESHOLD = 1 << 30
EXTERNAL_DATA_SUFFIX = ".data"
LIFT_BYTES = 1 << 20


def _double_to_float_tensor(tensor: onnx.TensorProto) -> None:
    if tensor.data_type == onnx.TensorProto.DOUBLE:
        array = onnx.numpy_helper.to_array(tensor).astype(np.float32)
        tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))


def drop_float64(model: onnx.ModelProto) -> int:
    """Turn every float64 initializer, constant, cast target and declared type into float32, in place.

    Returns:
        how many places were changed.
    """
    changed = 0
    graph = model.graph
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.DOUBLE:
            _double_to_float_tensor(init)
            changed += 1
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == onnx.TensorProto.DOUBLE:
                _double_to_float_tensor(attr.t)
                changed += 1
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == onnx.TensorProto.DOUBLE:
                attr.i = onnx.TensorProto.FLOAT
                changed += 1
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE:
            value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
            changed += 1
    return changed


def rejected_nodes(model: onnx.ModelProto) -> list[str]:
    """``name (op)`` of every node whose operator no TensorRT version parses."""
    return [f"{node.name} ({node.op_type})" for node in model.graph.node if node.op_type in REJECTED_OPS]


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    """Operator type -> node count, sorted by name."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def lift_large_initializers(model: onnx.ModelProto, min_bytes: int = LIFT_BYTES) -> dict[str, onnx.TensorProto]:
    """Move initializers of at least ``min_bytes`` out of ``model`` into graph inputs, in place.

    Returns:
        name -> the removed initializer, for :func:`restore_initializers`.
    """
    lifted = {init.name: init for init in model.graph.initializer if len(init.raw_data) >= min_bytes}
    kept = [init for init in model.graph.initializer if init.name not in lifted]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.input.extend(
        onnx.helper.make_tensor_value_info(name, init.data_type, list(init.dims)) for name, init in lifted.items()
    )
    return lifted


def restore_initializers(model: onnx.ModelProto, lifted: dict[str, onnx.TensorProto]) -> None:
    """Undo :func:`lift_large_initializers`: drop the lifted inputs, put back the still-used weights."""
    used = {name for node in model.graph.node for name in node.input}
    inputs = [value for value in model.graph.input if value.name not in lifted]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model.graph.initializer.extend(init for name, init in lifted.items() if name in used)


def cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    """Slim ``model`` and remove float64; raises ConversionError if a rejected operator survives."""
    nodes_before = len(model.graph.node)
    lifted = lift_large_initializers(model)
    model = onnxslim.slim(model)
    restore_initializers(model, lifted)
    changed = drop_float64(model)
    LOG.info(
        "clean-up: %d -> %d nodes (onnxslim %s), %d float64 entries made float32",
        nodes_before,
        len(model.graph.node),
        onnxslim.__version__,
        changed,
    )
    rejected = rejected_nodes(model)
    if rejected:
        raise ConversionError(
            "the exported graph keeps operators TensorRT cannot parse: "
            + ", ".join(rejected[:10])
            + ("..." if len(rejected) > 10 else "")
            + ". Replace them in the model port with fixed-shape equivalents."
        )
    return model


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of raw initializer data held in the message (external data not counted)."""
    return sum(len(init.raw_data) for init in model.graph.initializer)


def _readable(path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike[str], *, external_data: bool | None = None) -> list[Path]:
    """Save ``model`` to ``path`` atomically; returns the files written.

    Args:
        external_data: True: weights in ``<path>.data`` next to the model (one file, location
            stored relative, so the pair can be moved together); False: one self-contained file;
            None: external data when the weights exceed :data:`EXTERNAL_DATA_THRESHOLD`.

    Both files are written into a temporary folder beside ``path`` and moved into place with
    ``os.replace`` (data file first), so a reader never sees a model without its weights. A stale
    ``<path>.data`` from an earlier export is removed when saving inline.
    """
    path = Path(path)
    if external_data is None:
        external_data = weight_bytes(model) > EXTERNAL_DATA_THRESHOLD
    data_name = path.name + EXTERNAL_DATA_SUFFIX
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp_model = tmp_dir / path.name
        if external_data:
            onnx.save_model(
                model,
                os.fspath(tmp_model),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=1024,
            )
            _readable(tmp_dir / data_name)
            os.replace(tmp_dir / data_name, path.parent / data_name)
        else:
            onnx.save_model(model, os.fspath(tmp_model))
            (path.parent / data_name).unlink(missing_ok=True)
        _readable(tmp_model)
        os.replace(tmp_model, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return [path, path.parent / data_name] if external_data else [path]
