"""Build paths for TensorRT proper (absent here) against a recording test double of the ``tensorrt`` module.

:func:`fake_tensorrt` imitates the parts of the TensorRT Python API that ``tensorrt/build.py`` uses, per
version: 8.5 (no strong typing, no optimisation level, no progress monitor, EXPLICIT_BATCH needed),
10.3/10.13 and 11.x. It records the flags and settings so the tests can assert what each target
asks of the builder. It proves our calls follow the documented API shape, not that a real TensorRT
accepts them: that part is unexecuted here (see docs/conversion.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.standin_port import StandInMatcher, write_standin_checkpoint
from support.tensorrt_recording_double import fake_tensorrt

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.onnx.export import export_onnx
from ma_trt_convert.tensorrt.build import build_engine, keep_fp32_layers
from ma_trt_convert.tensorrt.targets import TARGETS, default_options
from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path


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
