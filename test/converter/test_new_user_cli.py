"""``ma-trt-convert`` as a new user meets it (issue 20): one-line errors, a closed pipe, suggested
commands that run as printed, one install wording, and what works on a CPU machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli_run import assert_one_line_error, run_tool, tool_argv, tool_env
from support.standin_port import StandInMatcher, write_standin_checkpoint
from support.tensorrt_recording_double import fake_tensorrt

from ma_trt_convert.cli import main
from ma_trt_convert.onnx.export import export_onnx
from ma_trt_convert.tensorrt.targets import TARGETS
from ma_trt_ros.cli_errors import PIPE_CLOSED


@pytest.fixture(scope="module")
def standin_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ELoFTR-like ONNX written by the exporter."""
    folder = tmp_path_factory.mktemp("standin")
    path = folder / "m.onnx"
    module = StandInMatcher(64, 96, "fp32").load(write_standin_checkpoint(folder / "w.pt"))
    export_onnx(module, path, metadata={"variant": "eloftr", "precision": "fp32"})
    return path


@pytest.mark.parametrize("command", [["info"], ["check", "--target", "desktop", "--no-parser", "--onnx"]])
@pytest.mark.parametrize("content", ["truncated", "text"])
def test_info_and_check_on_a_broken_onnx_say_so_in_one_line(
    command: list[str], content: str, standin_onnx: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.onnx"
    data = standin_onnx.read_bytes()
    broken.write_bytes(data[: len(data) // 3] if content == "truncated" else b"not a model\n")
    finished = run_tool("ma-trt-convert", [*command, str(broken)])
    assert finished.code == 2
    assert_one_line_error(finished, f"{broken}: not an ONNX file, or a truncated one", "copied whole")


def test_doctor_json_into_a_closed_pipe_ends_quietly() -> None:
    # `ma-trt-convert doctor --json | head -0`: the reader is gone before the doctor writes
    child = subprocess.Popen(
        tool_argv("ma-trt-convert", ["doctor", "--json"]),
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()
    _, stderr = child.communicate(timeout=120)
    assert (child.returncode, stderr.decode()) == (PIPE_CLOSED, "")


def test_build_says_when_it_creates_the_output_folder(
    standin_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("10.13.3.9"))
    plan = tmp_path / "new" / "dir" / "x.plan"
    assert main(["build", "--onnx", str(standin_onnx), "--target", "desktop", "--output", str(plan)]) == 0
    out = capsys.readouterr().out
    assert plan.is_file() and f"created the folder {plan.parent} (it did not exist)" in out
    assert main(["build", "--onnx", str(standin_onnx), "--target", "desktop", "--output", str(plan)]) == 0
    assert "created the folder" not in capsys.readouterr().out


def test_build_and_doctor_word_the_tensorrt_install_alike(
    standin_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wording = TARGETS["desktop"].install
    assert wording.startswith("`pip install tensorrt` (NVIDIA's wheels")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["build", "--onnx", str(standin_onnx), "--target", "desktop", "--output", str(tmp_path / "x")]) == 2
    assert wording in capsys.readouterr().err
    assert main(["doctor", "--target", "desktop", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["components"]["tensorrt"]["install"]["desktop"].startswith(wording)


def test_doctor_says_what_works_on_a_machine_without_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    # this machine: no GPU, no TensorRT; ONNX Runtime, PyTorch (CPU), TensorRT-RTX, rclpy and the messages
    assert main(["doctor", "--target", "desktop"]) == 1
    text = capsys.readouterr().out
    assert "target desktop: NOT READY" in text
    works = next(line for line in text.splitlines() if line.startswith("works here: "))
    assert "ma-trt-match and the node on an exported .onnx (ONNX Runtime backend, CPU)" in works
    assert "ma-trt-convert build --target desktop-rtx" in works and "matchanything_node" in works
    main(["doctor", "--json"])
    assert any("ONNX Runtime" in line for line in json.loads(capsys.readouterr().out)["works_here"])
