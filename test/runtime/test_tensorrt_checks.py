"""The TensorRT backend's checks that run before any GPU work (CI has no GPU and no TensorRT): the
sidecar, the plan file against it, the TensorRT module and version, each with an actionable message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import tensorrt_double
from support.tensorrt_double import write_double_plan

from ma_trt_ros.contract.sidecar import sidecar_path
from ma_trt_ros.runtime import BackendUnavailableError, ModelError, open_matcher
from ma_trt_ros.runtime.backends.tensorrt_backend import TensorRTBackend

DOUBLE = (tensorrt_double, "tensorrt")


def test_missing_sidecar_says_how_to_get_one(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path)
    sidecar_path(plan).unlink()
    with pytest.raises(ModelError, match="no sidecar; build the engine with `ma-trt-convert build`"):
        TensorRTBackend(plan, tensorrt=DOUBLE)


def test_truncated_plan_is_caught_by_its_size(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path)
    plan.write_bytes(plan.read_bytes()[:-10])
    with pytest.raises(ModelError, match="truncated or was replaced"):
        TensorRTBackend(plan, tensorrt=DOUBLE)


def test_plan_of_another_tensorrt_version_is_refused_with_the_rebuild_command(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path, version="10.3.0.30")
    with pytest.raises(ModelError) as caught:
        TensorRTBackend(plan, tensorrt=DOUBLE)
    message = str(caught.value)
    assert "built with tensorrt 10.3.0.30, this runtime has 10.99.0.double" in message
    assert f"ma-trt-convert build --onnx double.onnx --target desktop --output {plan}" in message


def test_plan_of_another_module_is_refused(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path, module="tensorrt_rtx")
    with pytest.raises(ModelError, match="built with tensorrt_rtx, this runtime uses tensorrt"):
        TensorRTBackend(plan, tensorrt=DOUBLE)


def test_unknown_variant_in_sidecar(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path)
    data = json.loads(sidecar_path(plan).read_text())
    data["variant"] = "superglue"
    sidecar_path(plan).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="unknown variant 'superglue'"):
        TensorRTBackend(plan, tensorrt=DOUBLE)


def test_missing_tensorrt_module_names_the_install(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path)
    with pytest.raises(BackendUnavailableError, match="pip install tensorrt"):
        open_matcher(plan)


def test_backend_for_the_wrong_file_kind(tmp_path: Path) -> None:
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not really")
    with pytest.raises(ModelError, match="onnx file, which the tensorrt backend cannot run: use onnxruntime"):
        open_matcher(onnx, "tensorrt")
    with pytest.raises(ModelError, match="no such model file"):
        open_matcher(tmp_path / "missing.plan")
    with pytest.raises(ModelError, match="ONNX Runtime cannot load it"):
        open_matcher(onnx)
