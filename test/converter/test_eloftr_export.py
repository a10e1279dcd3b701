"""ONNX export of the ELoFTR export module (opset 17, TorchScript exporter) and ONNX Runtime parity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES, ELoFTRExportModule, build_export_module
from ma_trt_convert.onnx.export import export_onnx
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.tensorrt.build import build_engine
from ma_trt_convert.tensorrt.check import check_onnx
from ma_trt_convert.tensorrt.targets import TARGETS, default_options
from ma_trt_convert.verify.compare import MatchAgreement, Tolerances, compare_outputs
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

HEIGHT, WIDTH = 224, 320
FORBIDDEN_OPS = {"NonZero", "Loop", "If", "Col2Im", "Unique", "Multinomial"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = load_layout("matchanything_eloftr")
    state = matching_state(random_state_dict(layout, 0), *textured_pair(HEIGHT, WIDTH))
    path = tmp_path_factory.mktemp("eloftr") / "matchanything_eloftr.ckpt"
    write_release_file(state, layout, path)
    return path


def _export(module: ELoFTRExportModule, path: Path) -> onnx.ModelProto:
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


def _assert_static_and_export_friendly(model: onnx.ModelProto, module: ELoFTRExportModule) -> None:
    ops = {node.op_type for node in model.graph.node}
    assert not ops & FORBIDDEN_OPS
    types = _value_types(model)
    assert onnx.TensorProto.DOUBLE not in types.values()
    rows = int(module.metadata()["output_rows"])
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert shapes == {
        "keypoints0": [1, rows, 2],
        "keypoints1": [1, rows, 2],
        "confidence": [1, rows],
        "valid": [1, rows],
        "num_valid": [1],
        "cells": [1, rows, 2],
    }


def test_budgeted_fp32_onnx_matches_pytorch_in_onnxruntime(checkpoint: Path, tmp_path: Path) -> None:
    module = build_export_module(checkpoint, height=HEIGHT, width=WIDTH)
    assert module.max_matches == DEFAULT_MAX_MATCHES  # the default graph is the budgeted one
    model = _export(module, tmp_path / "eloftr_fp32.onnx")
    _assert_static_and_export_friendly(model, module)
    assert sum(node.op_type == "TopK" for node in model.graph.node) == 3  # per row, budget, row order
    image0, image1 = textured_pair(HEIGHT, WIDTH)
    session = ort.InferenceSession(str(tmp_path / "eloftr_fp32.onnx"), providers=["CPUExecutionProvider"])
    kp0, kp1, conf, valid, num_valid, cells = session.run(None, {"image0": image0.numpy(), "image1": image1.numpy()})
    with torch.no_grad():
        ref = [t.numpy() for t in module(image0, image1)]
    assert valid.dtype == np.bool_ and num_valid.dtype == cells.dtype == np.int32
    assert np.array_equal(valid, ref[3])
    assert np.array_equal(cells[valid], ref[5][valid])
    # cells are (image-0 cell, image-1 cell): each keypoint lies in its cell's window (upstream
    # convention: 8·(column, row) + pixel − 3.5, plus the ±1 px regression offset in image 1)
    w = WIDTH // 8
    origin = 8 * np.stack([cells[valid] % w, cells[valid] // w], axis=-1)
    assert np.abs(kp0[valid] - origin[:, 0]).max() <= 3.5
    assert np.abs(kp1[valid] - origin[:, 1]).max() <= 4.5
    assert (np.diff(cells[valid][:, 0]) >= 0).all()  # valid rows by increasing candidate index
    comparison = compare_outputs(module.output_names, ref, [kp0, kp1, conf, valid, num_valid, cells])
    assert comparison.agreement == MatchAgreement(both=int(valid.sum()), only_reference=0, only_candidate=0)
    assert comparison.failures(Tolerances.default("fp32")) == []
    assert num_valid.tolist() == ref[4].tolist() == [int(valid.sum())]
    assert int(valid.sum()) >= 75  # 82 measured
    assert valid[0, : int(num_valid[0])].all()
    # ONNX Runtime's conv kernels round differently (~1e-6 relative); the fixture's sharp dual
    # softmax turns that into ~1e-4 of confidence (see docs/eloftr_model.md).
    assert np.abs(conf - ref[2]).max() <= 1e-3
    assert np.abs(kp0[valid] - ref[0][valid]).max() <= 1e-3
    assert np.abs(kp1[valid] - ref[1][valid]).max() <= 1e-3


def test_fp16_onnx_is_strongly_typed_with_fp32_reductions(tmp_path: Path) -> None:
    layout = load_layout("matchanything_eloftr")
    write_release_file(random_state_dict(layout, 1), layout, tmp_path / "eloftr.ckpt")
    # float16 convolutions are very slow on CPU; a small input keeps the trace short. No budget here,
    # so that the unbudgeted graph is exported too.
    module = build_export_module(tmp_path / "eloftr.ckpt", height=64, width=64, precision="fp16", max_matches=None)
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
    assert output_types == {
        "keypoints0": fp32,
        "keypoints1": fp32,
        "confidence": fp32,
        "valid": onnx.TensorProto.BOOL,
        "num_valid": onnx.TensorProto.INT32,
        "cells": onnx.TensorProto.INT32,
    }


def test_budget_smaller_than_the_candidates_parses_and_builds_with_tensorrt_rtx(tmp_path: Path) -> None:
    layout = load_layout("matchanything_eloftr")
    write_release_file(random_state_dict(layout, 2), layout, tmp_path / "eloftr.ckpt")
    # 64x96: 96 cells x 9 = 864 candidates, so the budget TopK really selects (K = 100 < 864)
    module = build_export_module(tmp_path / "eloftr.ckpt", height=64, width=96, max_matches=100)
    onnx_path, plan = tmp_path / "eloftr.onnx", tmp_path / "eloftr.plan"
    export_onnx(module, onnx_path, metadata={"variant": "eloftr", "precision": "fp32"})
    target = TARGETS["desktop-rtx"]
    report = check_onnx(onnx_path, target)
    assert report.ok, "\n".join(report.lines())
    assert report.op_counts["TopK"] == 3
    sidecar = build_engine(onnx_path, plan, target, default_options(target, str(plan)))
    outputs = {t.name: (t.shape, t.dtype) for t in sidecar.outputs}
    assert outputs == {
        "keypoints0": ((1, 100, 2), "float32"),
        "keypoints1": ((1, 100, 2), "float32"),
        "confidence": ((1, 100), "float32"),
        "valid": ((1, 100), "bool"),
        "num_valid": ((1,), "int32"),
        "cells": ((1, 100, 2), "int32"),
    }
