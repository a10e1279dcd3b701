"""Export, clean-up and parity on a small stand-in for a model port (fast; no MatchAnything weights).

:class:`StandInMatcher` is a test double of a port's export module with the ELoFTR output contract
and the traps the real graphs have: fp16 regions with fp32 LayerNorm/softmax, GridSample, TopK, a
float64 constant and ``torch.eye`` (EyeLike) from tracing. It lives in ``test/support/standin_port.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from support.standin_port import STRIDE, StandInMatcher, write_standin_checkpoint

from ma_trt_convert.onnx.cleanup import drop_float64, rejected_nodes, save_onnx
from ma_trt_convert.onnx.export import export_onnx
from ma_trt_convert.onnx.metadata import decode_io_contract, read_onnx_metadata
from ma_trt_convert.verify.compare import MatchAgreement, compare_outputs
from ma_trt_convert.verify.parity import run_onnxruntime, run_torch, synthetic_inputs
from ma_trt_ros.contract.tensors import TensorSpec


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_standin_checkpoint(tmp_path_factory.mktemp("standin") / "standin.pt")


def _export(tmp: Path, checkpoint: Path, precision: str, **kwargs) -> tuple[StandInMatcher, Path]:
    module = StandInMatcher(64, 96, precision).load(checkpoint)
    path = tmp / f"standin_{precision}.onnx"
    export_onnx(module, path, metadata={"variant": "eloftr", "precision": precision}, **kwargs)
    return module, path


def _value_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in values}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_export_cleans_graph_and_keeps_fp32_islands(tmp_path: Path, checkpoint: Path, precision: str) -> None:
    _, path = _export(tmp_path, checkpoint, precision)
    model = onnx.load(path)
    ops = {n.op_type for n in model.graph.node}
    assert {"GridSample", "TopK", "Softmax", "LayerNormalization"} <= ops
    assert "EyeLike" not in ops and not rejected_nodes(model)
    assert all(init.data_type != onnx.TensorProto.DOUBLE for init in model.graph.initializer)
    types = _value_types(model)
    assert onnx.TensorProto.DOUBLE not in types.values()
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT] * 2
    fp16_weights = sum(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert (fp16_weights > 0) == (precision == "fp16")
    for node in model.graph.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            assert types[node.input[0]] == onnx.TensorProto.FLOAT, f"{node.name} lost its fp32 island"


def test_export_metadata_and_io_contract(tmp_path: Path, checkpoint: Path) -> None:
    _, path = _export(tmp_path, checkpoint, "fp32", batch=2, descriptions={"image0": "gray [0,1]"})
    meta = read_onnx_metadata(path)
    assert (meta["variant"], meta["precision"], meta["batch"], meta["opset"], meta["standin"]) == (
        "eloftr",
        "fp32",
        "2",
        "17",
        "true",
    )
    assert meta["exporter"].startswith("ma_trt_convert ") and "torch" in meta["exporter"]
    inputs, outputs = decode_io_contract(meta)
    assert inputs[0] == TensorSpec("image0", (2, 1, 64, 96), "float32", "gray [0,1]")
    m = (64 // STRIDE) * (96 // STRIDE) * 2
    assert [(o.name, o.shape, o.dtype) for o in outputs] == [
        ("keypoints0", (2, m, 2), "float32"),
        ("keypoints1", (2, m, 2), "float32"),
        ("confidence", (2, m), "float32"),
        ("valid", (2, m), "bool"),
        ("cells", (2, m, 2), "int32"),
    ]


def test_opset_16_decomposes_layernorm(tmp_path: Path, checkpoint: Path) -> None:
    _, path = _export(tmp_path, checkpoint, "fp32", opset=16)
    model = onnx.load(path)
    assert model.opset_import[0].version == 16
    assert "LayerNormalization" not in {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_onnxruntime_matches_pytorch(tmp_path: Path, checkpoint: Path, precision: str) -> None:
    module, path = _export(tmp_path, checkpoint, precision)
    specs, _ = decode_io_contract(read_onnx_metadata(path))
    inputs = synthetic_inputs(specs)
    comparison = compare_outputs(
        module.output_names, run_torch(module, inputs), run_onnxruntime(path, module.input_names, inputs)
    )
    errors = {e.name: e for e in comparison.errors}
    assert comparison.agreement == MatchAgreement(both=96, only_reference=0, only_candidate=0)  # one per cell
    assert errors["confidence"].max < (1e-5 if precision == "fp32" else 2e-3)
    assert errors["keypoints0"].max == 0.0
    assert errors["keypoints1"].p99 < (1e-4 if precision == "fp32" else 0.05)


def test_external_data_is_relative_and_atomic(tmp_path: Path, checkpoint: Path) -> None:
    module, path = _export(tmp_path, checkpoint, "fp32", external_data=True)
    data = path.with_name(path.name + ".data")
    assert data.is_file() and data.stat().st_size > 10_000
    moved = tmp_path / "moved"
    moved.mkdir()
    path.rename(moved / path.name)
    data.rename(moved / data.name)
    specs, _ = decode_io_contract(read_onnx_metadata(moved / path.name))
    inputs = synthetic_inputs(specs)
    out = subprocess.run(
        [sys.executable, "-c", "import onnx,sys; onnx.checker.check_model(sys.argv[1]); print('ok')", path.name],
        cwd=moved,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr
    np.testing.assert_allclose(
        run_onnxruntime(moved / path.name, module.input_names, inputs)[2], run_torch(module, inputs)[2], atol=1e-5
    )
    save_onnx(onnx.load(moved / path.name), moved / path.name, external_data=False)
    assert not (moved / data.name).exists()
    assert sorted(p.name for p in moved.iterdir()) == [path.name]


def test_drop_float64_makes_graph_float32_and_keeps_values(tmp_path: Path) -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3])
    scale = onnx.numpy_helper.from_array(np.array([0.25, 2.0, -1.5], dtype=np.float64), "scale")
    nodes = [
        onnx.helper.make_node("Cast", ["x"], ["x64"], to=onnx.TensorProto.DOUBLE),
        onnx.helper.make_node("Mul", ["x64", "scale"], ["y64"]),
        onnx.helper.make_node("Cast", ["y64"], ["y"], to=onnx.TensorProto.FLOAT),
    ]
    graph = onnx.helper.make_graph(nodes, "g", [x], [y], [scale])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    assert drop_float64(model) == 2
    assert onnx.TensorProto.DOUBLE not in _value_types(model).values()
    path = tmp_path / "f.onnx"
    onnx.save(model, path)
    out = ort.InferenceSession(str(path)).run(None, {"x": np.array([4, 1, 2], dtype=np.float32)})[0]
    np.testing.assert_allclose(out, [1.0, 2.0, -3.0])


def test_synthetic_inputs_are_consistent_across_resolutions() -> None:
    specs = (
        TensorSpec("image0_coarse", (2, 3, 28, 28), "float32"),
        TensorSpec("image1_coarse", (2, 3, 28, 28), "float32"),
        TensorSpec("image0_upsample", (2, 3, 56, 56), "float32"),
    )
    c0, c1, u0 = synthetic_inputs(specs, seed=3)
    assert c0.shape == (2, 3, 28, 28) and u0.shape == (2, 3, 56, 56) and c0.dtype == np.float32
    assert c0.min() >= 0.0 and c0.max() <= 1.0 and c0.std() > 0.02
    down = torch.nn.functional.avg_pool2d(torch.from_numpy(u0), 2).numpy()
    assert np.abs(down - c0).max() < 1e-5
    assert np.abs(c1 - c0).mean() > 0.01
    assert np.abs(c0[0] - c0[1]).mean() > 0.01
    np.testing.assert_array_equal(synthetic_inputs(specs, seed=3)[0], c0)


def test_compare_outputs_units() -> None:
    ref_kp = np.zeros((1, 4, 2), np.float32)
    cand_kp = ref_kp + np.array([3.0, 4.0], np.float32)
    cand_kp[0, 3] = [100, 100]
    valid_ref = np.array([[True, True, True, False]])
    valid_cand = np.array([[True, True, True, True]])
    warp = np.zeros((1, 8, 8, 2), np.float32)
    comparison = compare_outputs(
        ("keypoints0", "valid", "warp", "certainty"),
        [ref_kp, valid_ref, warp, np.zeros((1, 8, 8), np.float32)],
        [cand_kp, valid_cand, warp + np.array([0.25, 0.0], np.float32), np.full((1, 8, 8), 0.1, np.float32)],
    )
    assert comparison.agreement is None  # no row identities: compared in order
    kp, valid, warp_err, cert = comparison.errors
    (count,) = compare_outputs(("num_valid",), [np.array([200, 0], np.int32)], [np.array([198, 1], np.int32)]).errors
    assert (count.kind, count.max, count.median) == ("count", 1.0, pytest.approx(0.505))
    assert (kp.count, kp.max, kp.unit) == (3, pytest.approx(5.0), "px")
    assert valid.max == pytest.approx(0.25)
    assert warp_err.median == pytest.approx(1.0) and warp_err.unit == "px"
    assert cert.max == pytest.approx(0.1)
