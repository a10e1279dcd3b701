"""The engine sidecar (schema 1): round trip, validation, runtime compatibility rules, no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ma_trt_ros.contract.errors import SidecarError
from ma_trt_ros.contract.files import atomic_write_bytes
from ma_trt_ros.contract.sidecar import (
    BuildDevice,
    EngineSidecar,
    FileRef,
    TensorRTBuild,
    read_sidecar,
    runtime_mismatches,
    sidecar_path,
    write_sidecar,
)
from ma_trt_ros.contract.tensors import TensorSpec


def make_sidecar(**changes) -> EngineSidecar:
    sidecar = EngineSidecar(
        variant="roma",
        precision="fp16",
        batch=1,
        target="jetson-orin-jp6",
        tensorrt=TensorRTBuild("tensorrt", "10.3.0.30", "strong"),
        device=BuildDevice("Orin", ("8.7",)),
        onnx=FileRef("roma.onnx", "ab" * 32),
        plan=FileRef("roma.plan", "cd" * 32, 1234),
        inputs=(TensorSpec("image0_coarse", (1, 3, 560, 560), "float32", "RGB [0,1]"),),
        outputs=(TensorSpec("warp", (1, 864, 864, 2), "float32"),),
        model={"coarse_res": "560"},
        converter_version="0.1.0",
        created_utc="2026-01-01T00:00:00Z",
    )
    return replace(sidecar, **changes)


def test_round_trip_and_path(tmp_path: Path) -> None:
    plan = tmp_path / "roma.plan"
    assert sidecar_path(plan) == tmp_path / "roma.plan.json"
    write_sidecar(make_sidecar(), sidecar_path(plan))
    assert read_sidecar(sidecar_path(plan)) == make_sidecar()
    data = json.loads(sidecar_path(plan).read_text())
    assert data["schema"] == 1 and data["inputs"][0]["shape"] == [1, 3, 560, 560] and data["plan"]["bytes"] == 1234
    assert sidecar_path(plan).stat().st_mode & 0o044 == 0o044  # readable by the runtime's user, not mkstemp's 0600


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema=2), "schema 2 is not supported"),
        (lambda d: d.pop("variant"), "missing key 'variant'"),
        (lambda d: d.update(batch="1"), "'batch' must be int"),
        (lambda d: d.update(precision="int8"), "precision 'int8'"),
        (lambda d: d["tensorrt"].update(typing="mixed"), "typing 'mixed'"),
        (lambda d: d["inputs"][0].update(shape=[1, 0]), "shape must be positive"),
        (lambda d: d["outputs"][0].update(dtype="float64"), "dtype 'float64'"),
        (lambda d: d.update(outputs=[]), "must not be empty"),
    ],
)
def test_validation_names_the_problem(tmp_path: Path, edit, message: str) -> None:
    data = make_sidecar().to_dict()
    edit(data)
    path = tmp_path / "m.plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SidecarError, match=message):
        read_sidecar(path)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="no sidecar"):
        read_sidecar(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SidecarError, match="not readable JSON"):
        read_sidecar(tmp_path / "bad.json")


def test_runtime_mismatches() -> None:
    sidecar = make_sidecar()
    ok = {"tensorrt_module": "tensorrt", "tensorrt_version": "10.3.0.30", "compute_capability": "8.7"}
    assert runtime_mismatches(sidecar, **ok) == []
    assert "rebuild" in runtime_mismatches(sidecar, **{**ok, "tensorrt_version": "10.3.1.1"})[0]
    assert "tensorrt_rtx" in runtime_mismatches(sidecar, **{**ok, "tensorrt_module": "tensorrt_rtx"})[0]
    assert "8.6" in runtime_mismatches(sidecar, **{**ok, "compute_capability": "8.6"})[0]
    assert "Orin" in runtime_mismatches(sidecar, **ok, gpu_name="RTX 4090")[0]
    compat = make_sidecar(tensorrt=TensorRTBuild("tensorrt", "10.3.0.30", "strong", version_compatible=True))
    assert runtime_mismatches(compat, **{**ok, "tensorrt_version": "10.8.0.43"}) == []
    assert len(runtime_mismatches(compat, **{**ok, "tensorrt_version": "10.2.0.1"})) == 1
    assert len(runtime_mismatches(compat, **{**ok, "tensorrt_version": "11.0.0.1"})) == 1
    rtx = make_sidecar(device=BuildDevice(None, ("8.6", "8.9")))
    assert runtime_mismatches(rtx, **{**ok, "compute_capability": "8.9"}, gpu_name="RTX 4090") == []


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "m.plan"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "text is not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.plan"]


def test_sidecar_module_needs_no_torch_or_numpy() -> None:
    code = (
        "import sys; import ma_trt_ros.contract.sidecar; "
        "print(sorted(m for m in ('torch', 'numpy', 'onnx', 'tensorrt') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_commands_need_no_torch() -> None:
    """build/check/info can run where PyTorch is absent (e.g. a Jetson with only JetPack's TensorRT)."""
    code = "import sys; import ma_trt_convert.cli.engines; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
