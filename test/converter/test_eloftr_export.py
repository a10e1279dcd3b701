"""ONNX export of the ELoFTR export module (opset 17, TorchScript exporter) and ONNX Runtime parity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ma_trt_convert.checkpoint import load_layout, random_state_dict, write_release_file
from ma_trt_convert.eloftr import ELoFTRMatcher, build_export_module
from ma_trt_convert.eloftr.synthetic import matching_state, textured_pair

HEIGHT, WIDTH = 224, 320
FORBIDDEN_OPS = {"NonZero", "Loop", "If", "Col2Im", "Unique", "Multinomial"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = load_layout("matchanything_eloftr")
    state = matching_state(random_state_dict(layout, 0), *textured_pair(HEIGHT, WIDTH))
    path = tmp_path_factory.mktemp("eloftr") / "matchanything_eloftr.ckpt"
    write_release_file(state, layout, path)
    return path


def _export(module: ELoFTRMatcher, path: Path) -> onnx.ModelProto:
    """Export (any tracer warning, i.e. a value frozen from data, fails the test), check and infer types."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            module.example_inputs(),
            str(path),
            opset_version=17,
            dynamo=False,
            input_names=list(module.input_names),
            output_names=list(module.output_names),
        )
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def _value_types(model: onnx.ModelProto) -> dict[str, int]:
    values = [*model.graph.value_info, *model.graph.output, *model.graph.input]
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    types |= {t.name: t.data_type for t in model.graph.initializer}
    return types


def _assert_static_and_export_friendly(model: onnx.ModelProto, module: ELoFTRMatcher) -> None:
    ops = {node.op_type for node in model.graph.node}
    assert not ops & FORBIDDEN_OPS
    types = _value_types(model)
    assert onnx.TensorProto.DOUBLE not in types.values()
    candidates = (module.height // 8) * (module.width // 8) * module.top_k
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert shapes == {
        "keypoints0": [1, candidates, 2],
        "keypoints1": [1, candidates, 2],
        "confidence": [1, candidates],
        "valid": [1, candidates],
    }


def test_fp32_onnx_matches_pytorch_in_onnxruntime(checkpoint: Path, tmp_path: Path) -> None:
    module = build_export_module(checkpoint, height=HEIGHT, width=WIDTH)
    model = _export(module, tmp_path / "eloftr_fp32.onnx")
    _assert_static_and_export_friendly(model, module)
    image0, image1 = textured_pair(HEIGHT, WIDTH)
    session = ort.InferenceSession(str(tmp_path / "eloftr_fp32.onnx"), providers=["CPUExecutionProvider"])
    kp0, kp1, conf, valid = session.run(None, {"image0": image0.numpy(), "image1": image1.numpy()})
    with torch.no_grad():
        ref = [t.numpy() for t in module(image0, image1)]
    assert valid.dtype == np.bool_
    assert np.array_equal(valid, ref[3])
    assert int(valid.sum()) >= 75  # 82 measured
    # ONNX Runtime's conv kernels round differently (~1e-6 relative); the fixture's sharp dual
    # softmax turns that into ~1e-4 of confidence (see docs/eloftr_model.md).
    assert np.abs(conf - ref[2]).max() <= 1e-3
    assert np.abs(kp0[valid] - ref[0][valid]).max() <= 1e-3
    assert np.abs(kp1[valid] - ref[1][valid]).max() <= 1e-3


def test_fp16_onnx_is_strongly_typed_with_fp32_reductions(tmp_path: Path) -> None:
    layout = load_layout("matchanything_eloftr")
    write_release_file(random_state_dict(layout, 1), layout, tmp_path / "eloftr.ckpt")
    # float16 convolutions are very slow on CPU; a small input keeps the trace short
    module = build_export_module(tmp_path / "eloftr.ckpt", height=64, width=64, precision="fp16")
    assert module.metadata()["precision"] == "fp16"
    model = _export(module, tmp_path / "eloftr_fp16.onnx")
    _assert_static_and_export_friendly(model, module)
    types = _value_types(model)
    by_op: dict[str, set[int]] = {}
    for node in model.graph.node:
        by_op.setdefault(node.op_type, set()).update(types[o] for o in node.output if o in types)
    fp16, fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    assert by_op["Conv"] == {fp16}
    assert by_op["LayerNormalization"] == {fp32}
    assert by_op["Softmax"] == {fp32}
    assert fp16 in by_op["MatMul"]
    output_types = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    assert output_types == {"keypoints0": fp32, "keypoints1": fp32, "confidence": fp32, "valid": onnx.TensorProto.BOOL}
