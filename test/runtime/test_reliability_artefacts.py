"""Bad artefacts fail fast at open with one clear line, and an interrupted export or write leaves nothing.

Cases: truncated and corrupted ONNX files and checkpoints, an ONNX whose external-data file is missing,
a corrupted plan and plans whose sidecar names another GPU or TensorRT version (checked before any CUDA
work, so no GPU is needed), and SIGINT in the middle of ``ma-trt-convert export`` and of an atomic write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import tensorrt_double
from support.tensorrt_double import write_double_plan

from ma_trt_ros.runtime import ModelError, open_matcher
from ma_trt_ros.runtime.backends.tensorrt_backend import check_runtime, load_sidecar
from ma_trt_ros.runtime.cuda_stream import GpuIdentity
from ma_trt_ros.runtime.options import BackendSettings
from ma_trt_ros.runtime.tensorrt_api import deserialize

REPO = Path(__file__).resolve().parents[2]


def truncated(data: bytes) -> bytes:
    """The first half of ``data``."""
    return data[: len(data) // 2]


def corrupted(data: bytes) -> bytes:
    """``data`` of the same size with every 997th byte flipped."""
    flipped = bytearray(data)
    for index in range(1000, len(flipped), 997):
        flipped[index] ^= 0x5A
    return bytes(flipped)


def one_line_error(opener: Callable[[], object]) -> str:
    """The ModelError text ``opener`` raises, checked to be a single line."""
    with pytest.raises(ModelError) as caught:
        opener()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("damage", [truncated, corrupted])
def test_a_damaged_onnx_file_is_refused_naming_it(eloftr_model, tmp_path: Path, damage: Callable) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(damage(eloftr_model.onnx.read_bytes()))
    message = one_line_error(lambda: open_matcher(broken))
    assert message.startswith(f"{broken}: ONNX Runtime cannot load it") and "re-export it" in message


def test_an_onnx_without_its_external_data_file_is_refused_naming_the_missing_file(
    eloftr_model, tmp_path: Path
) -> None:
    import onnx

    from ma_trt_convert.onnx.cleanup import save_onnx

    files = save_onnx(onnx.load(os.fspath(eloftr_model.onnx)), tmp_path / "external.onnx", external_data=True)
    files[1].unlink()
    message = one_line_error(lambda: open_matcher(files[0]))
    assert "External data path does not exist" in message and "external.onnx.data" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["external.onnx"]


@pytest.mark.parametrize("damage", [truncated, corrupted])
def test_a_damaged_checkpoint_is_refused_naming_it(eloftr_model, tmp_path: Path, damage: Callable) -> None:
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(damage(eloftr_model.checkpoint.read_bytes()))
    settings = BackendSettings(device="cpu", build_args=eloftr_model.build_args)
    message = one_line_error(lambda: open_matcher(broken, "torch", settings=settings))
    assert message.startswith(f"{broken}: cannot be read as a PyTorch weight file")
    assert "is it truncated or of another format?" in message


def test_a_corrupted_plan_of_the_right_size_is_refused_by_deserialisation(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path)
    damaged = b"\xff" + plan.read_bytes()[1:]  # the header a deserialiser checks first
    message = one_line_error(lambda: deserialize(tensorrt_double, damaged, load_sidecar(plan)))
    assert "the file is corrupt or was built by another TensorRT version" in message


def test_a_plan_for_another_gpu_and_tensorrt_names_both_and_the_rebuild(tmp_path: Path) -> None:
    plan = write_double_plan(tmp_path, version="10.3.0.30", gpu_name="NVIDIA A100", compute_capabilities=("8.0",))
    here = GpuIdentity("NVIDIA H200", "9.0", 141 << 30)
    message = one_line_error(
        lambda: check_runtime(plan, load_sidecar(plan), "tensorrt", tensorrt_double.__version__, here)
    )
    assert "built with tensorrt 10.3.0.30" in message and "9.0" in message and "NVIDIA A100" in message
    assert f"Rebuild: ma-trt-convert build --onnx double.onnx --target desktop --output {plan}" in message


def interrupt_when(process: subprocess.Popen, condition: Callable[[], bool], timeout_s: float) -> None:
    """Send SIGINT to ``process`` as soon as ``condition()`` holds (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, "the process ended before it could be interrupted"
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)


def child_env() -> dict[str, str]:
    """This process's environment with the repository and converter on PYTHONPATH."""
    paths = [str(REPO), str(REPO / "converter"), str(REPO / "test"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.timeout(120)
def test_sigint_during_export_leaves_no_temporary_or_half_written_file(eloftr_model, tmp_path: Path) -> None:
    output = tmp_path / "out" / "eloftr.onnx"
    output.parent.mkdir()
    command = "import sys; from ma_trt_convert.cli import main; sys.exit(main())"
    args = ["export", "--variant", "eloftr", "--checkpoint", str(eloftr_model.checkpoint), "--output", str(output)]
    args += ["--height", "64", "--width", "64", "--precision", "fp32"]
    process = subprocess.Popen([sys.executable, "-c", command, *args], env=child_env(), stderr=subprocess.PIPE)
    interrupt_when(process, lambda: any(output.parent.iterdir()), 60.0)  # the temporary export folder exists
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert list(output.parent.iterdir()) == [], stderr.decode()[-2000:]


ATOMIC_WRITER = """
import sys, time
from ma_trt_ros.contract.files import atomic_writer
with atomic_writer(sys.argv[1]) as handle:
    for _ in range(600):
        handle.write(b"new" * 1000)
        handle.flush()
        time.sleep(0.01)
"""


@pytest.mark.timeout(60)
def test_sigint_during_an_atomic_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "engine.plan"
    target.write_bytes(b"old engine")
    process = subprocess.Popen([sys.executable, "-c", ATOMIC_WRITER, str(target)], env=child_env())
    interrupt_when(process, lambda: len(list(tmp_path.iterdir())) == 2, 30.0)
    assert process.wait(timeout=30) != 0
    assert [p.name for p in tmp_path.iterdir()] == ["engine.plan"] and target.read_bytes() == b"old engine"
