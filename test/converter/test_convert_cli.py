"""The export -> verify -> check -> build -> info chain through ``ma-trt-convert``, on the stand-in model.

The stand-in replaces the ELoFTR port (``ma_trt_convert.variants.models._port`` is patched); TensorRT-RTX is real:
``check`` and ``build --target desktop-rtx`` run NVIDIA's parser and builder on this CPU machine.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from support.standin_port import standin_port, write_standin_checkpoint

from ma_trt_convert import cli
from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES
from ma_trt_convert.onnx.metadata import BUILD_ARGS_KEY, decode_io_contract, read_onnx_metadata
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.variants import models as variant_models
from ma_trt_convert.verify.parity import synthetic_inputs
from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path
from ma_trt_ros.contract.tensors import TensorSpec

SIZE = ["--height", "64", "--width", "96"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    write_standin_checkpoint(path / "standin.ckpt")
    write_standin_checkpoint(path / "other.ckpt", seed=1)
    return path


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variant_models, "_port", lambda variant: standin_port())


@pytest.fixture(scope="module")
def exported(workdir: Path) -> dict[str, Path]:
    """fp16 and fp32 exports of the stand-in (module-scoped: several tests read them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(variant_models, "_port", lambda variant: standin_port())
        paths = {}
        for precision in ("fp16", "fp32"):
            path = workdir / f"standin_{precision}.onnx"
            args = [
                "export",
                "--variant",
                "eloftr",
                "--checkpoint",
                str(workdir / "standin.ckpt"),
                "--output",
                str(path),
            ]
            assert cli.main([*args, *SIZE, "--precision", precision]) == 0
            paths[precision] = path
    return paths


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "export",
            [
                "--precision",
                "--batch",
                "--opset",
                "--coarse-res",
                "--upsample-res",
                "--height",
                "--width",
                "--max-matches",
            ],
        ),
        (
            "verify",
            [
                "--px-p99",
                "--px-max",
                "--score-max",
                "--mask-fraction",
                "--min-match-agreement",
                "--fp16-margin",
                "--min-matches",
                "--pair",
            ],
        ),
        ("build", ["desktop-rtx", "jetson-xavier-jp5", "jetson-thor", "--print-trtexec", "--version-compatible"]),
        ("check", ["--target", "support tables", "--no-parser"]),
        ("info", ["sidecar", "I/O contract"]),
        ("sidecar", ["trtexec", "--tensorrt-version", "--gpu-name", "--compute-capability"]),
    ],
)
def test_help_explains_each_subcommand(command: str, expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in expected:
        assert word in text


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_verify_passes_and_prints_pixel_errors(
    exported: dict[str, Path], workdir: Path, precision: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["verify", "--onnx", str(exported[precision]), "--checkpoint", str(workdir / "standin.ckpt")], capsys
    )
    assert code == 0, out
    assert "verify passed" in out
    if precision == "fp32":
        line = next(row for row in out.splitlines() if " keypoints1 " in row)
        assert line.startswith("ok") and "px" in line and "median" in line and "p99" in line
    else:  # fp16: PyTorch fp16 and the graph, each against PyTorch fp32, side by side
        line = next(row for row in out.splitlines() if row.startswith("keypoints1 "))
        assert line.count("median") == 2 and line.count("flips") == 2 and "px" in line


def test_verify_pair_shifted_uses_the_textured_pair(
    exported: dict[str, Path], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = tuple(TensorSpec(name, (2, 1, 64, 96), "float32", "") for name in ("image0", "image1"))
    first, second = synthetic_inputs(specs, seed=5, pair="shifted")
    for item in range(2):
        image0, image1 = textured_pair(64, 96, seed=5 + item)
        np.testing.assert_allclose(first[item], image0[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(second[item], image1[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="unknown pair 'noise'"):
        synthetic_inputs(specs, pair="noise")
    args = ["verify", "--onnx", str(exported["fp32"]), "--checkpoint", str(workdir / "standin.ckpt")]
    code, out, _ = run([*args, "--pair", "shifted"], capsys)
    assert code == 0 and "verify passed" in out, out


def test_verify_fails_beyond_tolerance(
    exported: dict[str, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(variant_models, "_port", lambda variant: standin_port(shift=3.0))
    args = ["verify", "--onnx", str(exported["fp32"]), "--checkpoint", str(workdir / "standin.ckpt")]
    code, out, _ = run(args, capsys)
    assert code == 1
    line = next(row for row in out.splitlines() if " keypoints0 " in row)
    assert line.startswith("FAIL") and "median 4.24 " in line  # (3, 3) px: 3·√2
    code, out, _ = run([*args, "--px-p99", "4.25", "--px-max", "4.25"], capsys)
    assert code == 0, out


def test_verify_pairs_rows_by_cells_when_a_match_flips(
    exported: dict[str, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The PyTorch reference matches at 0.095 instead of 0.02: its weakest match (confidence 0.091; the
    # next is 0.098) becomes invalid, so in its budgeted rows (valid first) every later match moves up
    # one row. Paired by cells, the other 95 matches agree to float32 rounding (0 px, or 1e-6 px where
    # ONNX Runtime and PyTorch pick other CPU kernels).
    monkeypatch.setattr(variant_models, "_port", lambda variant: standin_port(match_threshold=0.095))
    args = ["verify", "--onnx", str(exported["fp32"]), "--checkpoint", str(workdir / "standin.ckpt")]
    code, out, _ = run(args, capsys)
    assert code == 1
    assert "FAIL  valid          matches    in both 95, only in ONNX 1, only in PyTorch 0, Jaccard 0.9896" in out
    for name in ("keypoints0", "keypoints1"):
        line = next(row for row in out.splitlines() if f" {name} " in row)
        largest = re.search(r" max (\S+) px", line)
        assert line.startswith("ok") and "n=95 " in line and largest is not None and float(largest[1]) < 1e-5
    assert "verify FAILED for valid\n" in out
    code, out, _ = run([*args, "--min-match-agreement", "0.98"], capsys)
    assert code == 0, out


@pytest.mark.parametrize(
    ("option", "rows", "recorded"),
    [([], 192, DEFAULT_MAX_MATCHES), (["--max-matches", "50"], 50, 50), (["--max-matches", "all"], 192, None)],
)
def test_export_max_matches_sets_the_rows_and_verify_rebuilds_them(
    option: list[str], rows: int, recorded: int | None, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / f"budget_{'_'.join(option)}.onnx"
    checkpoint = ["--checkpoint", str(workdir / "standin.ckpt")]
    export = ["export", "--variant", "eloftr", *checkpoint, "--output", str(path), *SIZE, "--precision", "fp32"]
    assert cli.main([*export, *option]) == 0
    meta = read_onnx_metadata(path)
    assert json.loads(meta[BUILD_ARGS_KEY]) == {"height": 64, "width": 96, "threshold": 0.1, "max_matches": recorded}
    _, outputs = decode_io_contract(meta)
    assert {o.name: o.shape for o in outputs} == {
        "keypoints0": (1, rows, 2),
        "keypoints1": (1, rows, 2),
        "confidence": (1, rows),
        "valid": (1, rows),
        "cells": (1, rows, 2),
    }
    code, out, _ = run(["verify", "--onnx", str(path), *checkpoint], capsys)
    assert code == 0, out
    assert f"in both {min(rows, 96)}, only in ONNX 0, only in PyTorch 0, Jaccard 1.0000" in out


@pytest.mark.parametrize("value", ["-3", "many"])
def test_export_rejects_a_bad_max_matches(value: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = ["export", "--variant", "eloftr", "--checkpoint", "c", "--output", str(workdir / "x.onnx")]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*export, "--max-matches", value])
    assert exit_info.value.code == 2
    assert "expected a positive number of rows, 'all' or 0" in capsys.readouterr().err


def test_verify_refuses_other_weights(
    exported: dict[str, Path], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["verify", "--onnx", str(exported["fp32"]), "--checkpoint", str(workdir / "other.ckpt")], capsys)
    assert code == 2 and "differs from the one" in err


def test_check_and_build_with_tensorrt_rtx(
    exported: dict[str, Path], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", "--onnx", str(exported["fp16"]), "--target", "desktop-rtx"], capsys)
    assert code == 0, out
    assert "opset 17: ok" in out and "real parser tensorrt_rtx 1." in out and "check passed" in out
    plan = workdir / "standin_fp16.plan"
    code, out, err = run(
        ["build", "--onnx", str(exported["fp16"]), "--target", "desktop-rtx", "--output", str(plan)], capsys
    )
    assert code == 0, err
    assert plan.stat().st_size > 10_000 and "Building engine" in err
    sidecar = read_sidecar(sidecar_path(plan))
    assert (sidecar.variant, sidecar.precision, sidecar.batch, sidecar.target) == ("eloftr", "fp16", 1, "desktop-rtx")
    assert (sidecar.tensorrt.module, sidecar.tensorrt.typing, sidecar.device.gpu_name) == (
        "tensorrt_rtx",
        "strong",
        None,
    )
    assert sidecar.device.compute_capabilities == ("8.0", "8.6", "8.9", "12.0")
    assert [(t.name, t.shape, t.dtype) for t in sidecar.inputs] == [
        ("image0", (1, 1, 64, 96), "float32"),
        ("image1", (1, 1, 64, 96), "float32"),
    ]
    assert [t.dtype for t in sidecar.outputs] == ["float32", "float32", "float32", "bool", "int32"]
    assert sidecar.inputs[0].description and sidecar.model["standin"] == "true"
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []

    code, out, _ = run(["info", str(plan)], capsys)
    assert code == 0 and "tensorrt_rtx" in out and "keypoints0" in out and "8.0 8.6 8.9 12.0" in out
    code, out, _ = run(["info", str(plan), "--json"], capsys)
    assert json.loads(out)["schema"] == 1
    with plan.open("ab") as handle:
        handle.write(b"x")
    code, out, _ = run(["info", str(plan)], capsys)
    assert code == 1 and "does NOT match" in out


def test_info_onnx_prints_contract(exported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", str(exported["fp16"])], capsys)
    assert code == 0
    assert "opset 17" in out and "precision: fp16" in out and "checkpoint_sha256: " in out
    assert "image0                 float32  [1x1x64x96]" in out and "valid" in out


def test_check_jp5_lists_layernorm(exported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--onnx", str(exported["fp32"]), "--target", "jetson-xavier-jp5"], capsys)
    assert code == 1
    assert "(LayerNormalization): not supported by TensorRT 8.5" in out
    assert "real parser: not run" in out and "check FAILED" in out


def test_build_without_tensorrt_names_install(
    exported: dict[str, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code, _, err = run(
        ["build", "--onnx", str(exported["fp16"]), "--target", "desktop", "--output", str(workdir / "x.plan")], capsys
    )
    assert code == 2
    assert "needs the Python module `tensorrt`" in err and "`pip install tensorrt` (NVIDIA's wheels" in err
    assert not (workdir / "x.plan").exists()


def test_build_jp5_refuses_fp16_graph(
    exported: dict[str, Path], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        [
            "build",
            "--onnx",
            str(exported["fp16"]),
            "--target",
            "jetson-xavier-jp5",
            "--output",
            str(workdir / "x.plan"),
        ],
        capsys,
    )
    assert code == 2 and "--precision fp32" in err


def test_print_trtexec(exported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["build", "--onnx", str(exported["fp32"]), "--output", "m.plan", "--print-trtexec"]
    code, out, _ = run([*base, "--target", "jetson-orin-jp6"], capsys)
    assert code == 0
    assert out.split()[:3] == ["trtexec", f"--onnx={exported['fp32']}", "--saveEngine=m.plan"]
    assert "--stronglyTyped" in out and "--memPoolSize=workspace:4096" in out and "--skipInference" in out
    assert "--timingCacheFile=m.plan.timing-cache" in out and "--fp16" not in out
    code, out, _ = run([*base, "--target", "jetson-xavier-jp5", "--dla-core", "1"], capsys)
    assert code == 0
    assert "--fp16" in out and "--precisionConstraints=obey" in out and "--buildOnly" in out
    assert "Softmax:fp32" in out and "--useDLACore=1 --allowGPUFallback" in out and "--stronglyTyped" not in out
    code, _, err = run([*base, "--target", "jetson-thor", "--dla-core", "0"], capsys)
    assert code == 2 and "no DLA" in err


def test_export_roma_needs_dinov2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        [
            "export",
            "--variant",
            "roma",
            "--checkpoint",
            str(workdir / "standin.ckpt"),
            "--output",
            str(workdir / "r.onnx"),
        ],
        capsys,
    )
    assert code == 2 and "--dinov2" in err


def test_sidecar_for_a_trtexec_plan(
    exported: dict[str, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = workdir / "trtexec.plan"
    plan.write_bytes(b"plan built by trtexec on the robot")
    base = ["sidecar", "--onnx", str(exported["fp16"]), "--plan", str(plan), "--target", "jetson-orin-jp6"]
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code, _, err = run(base, capsys)
    assert code == 2 and "pip install" not in err and "python3-libnvinfer" in err
    code, out, _ = run(
        [*base, "--tensorrt-version", "10.3.0.30", "--gpu-name", "Orin", "--compute-capability", "8.7"], capsys
    )
    assert code == 0, out
    sidecar = read_sidecar(sidecar_path(plan))
    assert (sidecar.target, sidecar.tensorrt.version, sidecar.tensorrt.typing) == (
        "jetson-orin-jp6",
        "10.3.0.30",
        "strong",
    )
    assert (sidecar.device.gpu_name, sidecar.device.compute_capabilities) == ("Orin", ("8.7",))
    assert [(t.name, t.dtype) for t in sidecar.outputs][-2:] == [("valid", "bool"), ("cells", "int32")]
    assert run(["info", str(plan)], capsys)[0] == 0
