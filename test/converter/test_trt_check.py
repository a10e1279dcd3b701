"""``check``: opset limits, NVIDIA's per-version op tables, restrictions, and the real TensorRT-RTX parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ma_trt_convert.tensorrt.check import check_onnx
from ma_trt_convert.tensorrt.targets import TARGETS


def save_graph(path: Path, nodes: list, outputs: list, opset: int = 17, initializers: tuple = ()) -> Path:
    """A one-input (``x`` float32 [1, 4, 8, 8]) graph with the given nodes."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    graph = helper.make_graph(nodes, "g", [x], outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def out(name: str, shape: list[int], dtype: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


@pytest.fixture
def layernorm_det(tmp_path: Path) -> Path:
    scale = onnx.numpy_helper.from_array(np.ones(8, np.float32), "scale")
    nodes = [
        helper.make_node("LayerNormalization", ["x", "scale"], ["ln"], name="ln_node", axis=-1),
        helper.make_node("Reshape", ["ln", "shape"], ["sq"], name="reshape"),
        helper.make_node("Det", ["sq"], ["det"], name="det_node"),
    ]
    shape = onnx.numpy_helper.from_array(np.array([4, 8, 8], np.int64), "shape")
    return save_graph(tmp_path / "ln_det.onnx", nodes, [out("det", [4])], initializers=(scale, shape))


def test_tables_differ_by_version(layernorm_det: Path) -> None:
    jp5 = check_onnx(layernorm_det, TARGETS["jetson-xavier-jp5"], real_parser=False)
    jp6 = check_onnx(layernorm_det, TARGETS["jetson-orin-jp6"], real_parser=False)
    assert sorted(p.op_type for p in jp5.problems) == ["Det", "LayerNormalization"]
    assert [p.node for p in jp6.problems] == ["det_node"]
    assert not jp5.ok and not jp6.ok
    assert any("det_node (Det): not supported by TensorRT 10" in line for line in jp6.lines())


def test_real_parser_reports_failing_node(layernorm_det: Path) -> None:
    report = check_onnx(layernorm_det, TARGETS["desktop-rtx"])
    assert report.parser.startswith("tensorrt_rtx 1.")
    assert len(report.parser_errors) == 1
    assert "det_node (Det)" in report.parser_errors[0]
    assert report.problems == [] and not report.ok


def test_real_parser_accepts_supported_graph(tmp_path: Path) -> None:
    nodes = [helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=1)]
    report = check_onnx(save_graph(tmp_path / "ok.onnx", nodes, [out("y", [1, 4, 8, 8])]), TARGETS["desktop-rtx"])
    assert report.ok and report.parser_errors == [] and report.op_counts == {"Softmax": 1}


def test_restrictions_and_opset(tmp_path: Path) -> None:
    k = onnx.numpy_helper.from_array(np.array([4000], np.int64), "k")
    grid = onnx.numpy_helper.from_array(np.zeros((1, 8, 8, 2), np.float32), "grid")
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["f"], name="flatten"),
        helper.make_node("TopK", ["f", "k"], ["v", "i"], name="big_topk"),
        helper.make_node("GridSample", ["x", "grid"], ["g"], name="sampler"),
        helper.make_node("Cast", ["x"], ["d"], name="to_double", to=TensorProto.DOUBLE),
        helper.make_node("Unique", ["x"], ["u"], name="unique"),
        helper.make_node("MyPlugin", ["x"], ["p"], name="plugin", domain="com.example"),
    ]
    flat = onnx.numpy_helper.from_array(np.array([1, 256], np.int64), "flat")
    outputs = [
        out("v", [1, 4000]),
        out("g", [1, 4, 8, 8]),
        out("d", [1, 4, 8, 8], TensorProto.DOUBLE),
        out("u", [256]),
        out("p", [1]),
    ]
    model_path = save_graph(tmp_path / "r.onnx", nodes, outputs, opset=20, initializers=(k, grid, flat))
    report = check_onnx(model_path, TARGETS["jetson-thor"], real_parser=False)
    reasons = {p.node: p.reason for p in report.problems}
    assert "K=4000 >= 3840" in reasons["big_topk"]
    assert "opset 20" in reasons["sampler"]
    assert "float64" in reasons["to_double"]
    assert "TensorRT 10" in reasons["unique"]
    assert "plugin" in reasons["plugin"]
    jp5 = check_onnx(model_path, TARGETS["jetson-xavier-jp5"], real_parser=False)
    assert "opset 20: TOO NEW (its parser takes <= 17)" in jp5.lines()


def test_cubic_resize_only_flagged_for_tensorrt_85(tmp_path: Path) -> None:
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="bicubic", mode="cubic")]
    path = save_graph(tmp_path / "cubic.onnx", nodes, [out("y", [1, 4, 16, 16])], initializers=(scales,))
    assert [p.node for p in check_onnx(path, TARGETS["jetson-xavier-jp5"], real_parser=False).problems] == ["bicubic"]
    assert check_onnx(path, TARGETS["jetson-orin-jp6"], real_parser=False).problems == []
