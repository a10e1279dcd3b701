"""``ma-trt-convert doctor``: what it finds, what each target needs, the install steps and the exit codes.

CI has no GPU and no TensorRT but has PyTorch (CPU), ONNX Runtime, TensorRT-RTX, rclpy and our
messages; the GPU paths run against the ``nvidia-smi`` test double, TensorRT and pycuda against
stand-in modules put into ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from support.nvidia_smi_double import install_nvidia_smi_double

from ma_trt_convert import gpu_probe
from ma_trt_convert.cli import main
from ma_trt_convert.doctor import checks
from ma_trt_convert.doctor.checks import jetpack_release

H200 = "NVIDIA H200, 580.95.05, 9.0, 143771 MiB"
RTX_A6000 = "NVIDIA RTX A6000, 580.95.05, 8.6, 49140 MiB"
ORIN = "Orin (nvgpu), 540.4.0, 8.7, [N/A]"


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No nvidia-smi on PATH, no GPU through torch/pycuda, no ROS_DISTRO, not a Jetson: the CI machine anywhere."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("ROS_DISTRO", raising=False)
    monkeypatch.setattr(gpu_probe, "gpu_from_torch", lambda: None)
    monkeypatch.setattr(gpu_probe, "gpu_from_pycuda", lambda: None)
    monkeypatch.setattr(checks, "TEGRA_RELEASE", tmp_path / "no-nv_tegra_release")


def fake_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gpu_line: str) -> None:
    """Put the nvidia-smi double reporting ``gpu_line`` on PATH."""
    folder = install_nvidia_smi_double(tmp_path / "smi")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("NVIDIA_SMI_DOUBLE_GPU", gpu_line)


def stand_in(monkeypatch: pytest.MonkeyPatch, name: str, version: str) -> None:
    """A stand-in module ``name`` (and its parent) with ``__version__`` in ``sys.modules``."""
    module = ModuleType(name)
    module.__version__ = version  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)
    parent = name.rpartition(".")[0]
    if parent:
        package = ModuleType(parent)
        package.VERSION_TEXT = version  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, parent, package)


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code, text = doctor(capsys, *args, "--json")
    return code, json.loads(text)


def need(report: dict, component: str) -> dict:
    return next(n for n in report["needs"] if n["component"] == component)


def test_desktop_without_gpu_or_tensorrt_fails_and_names_the_install_steps(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = doctor(capsys, "--target", "desktop")
    assert code == 1
    assert "target desktop: NOT READY: GPU and driver missing; TensorRT (tensorrt) missing; pycuda missing" in text
    assert "missing (no GPU found:" in text
    assert "to install (desktop wording):" in text
    assert "`pip install tensorrt`" in text and '`pip install ".[gpu]"`' in text
    assert "install NVIDIA's driver" in text
    assert "sudo apt" not in text  # desktop wording only


def test_jetson_targets_get_jetpack_wording(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = doctor(capsys, "--target", "jetson-orin-jp6")
    assert code == 1
    assert "to install (JetPack wording):" in text
    assert "`sudo apt install nvidia-jetpack` brings it" in text and "python3-libnvinfer" in text
    assert "TensorRT 10.3" in text and "--system-site-packages" in text
    assert "`sudo apt install python3-pycuda`" in text
    assert "pip install tensorrt" not in text
    assert "this machine is not a Jetson" in text


def test_what_ci_has_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime

    code, report = doctor_json(capsys)
    assert code == 0 and report["target"] is None and report["gpu"] is None
    components = report["components"]
    runtime = components["onnxruntime"]
    assert runtime["present"] and runtime["version"] == onnxruntime.__version__
    assert "CPUExecutionProvider" in runtime["details"][0]
    assert components["rclpy"]["present"] and components["rclpy"]["version"].startswith("kilted (PyPI wheels")
    assert components["messages"]["present"] and components["messages"]["version"] == "DenseCorrespondence, Matches"
    assert (
        components["torch"]["details"] == ["CPU-only build"] or "GPU not visible" in components["torch"]["details"][0]
    )
    assert not components["gpu"]["present"] and components["gpu"]["error"].startswith("no GPU found")
    assert not components["tensorrt"]["present"] and components["tensorrt"]["error"] == "not installed"
    assert components["tensorrt"]["install"]["desktop"].startswith("`pip install tensorrt`")
    assert "python3-libnvinfer" in components["tensorrt"]["install"]["jetpack"]
    assert report["targets"]["desktop"] == {
        "ready": False,
        "problems": ["GPU and driver missing", "TensorRT (tensorrt) missing", "pycuda missing"],
    }


def test_overview_text_lists_targets_and_both_wordings(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = doctor(capsys)
    assert code == 0
    assert "- desktop-rtx: not ready: GPU and driver missing; pycuda missing" in text
    assert '    desktop: `pip install ".[gpu]"`' in text and "    JetPack: `sudo apt install python3-pycuda`" in text


def test_desktop_rtx_finds_tensorrt_rtx(capsys: pytest.CaptureFixture[str]) -> None:
    import tensorrt_rtx

    code, report = doctor_json(capsys, "--target", "desktop-rtx")
    rtx = need(report, "tensorrt_rtx")
    assert rtx["met"] and rtx["required"] and rtx["install"] is None
    assert report["components"]["tensorrt_rtx"]["version"] == tensorrt_rtx.__version__
    assert "tensorrt" not in {n["component"] for n in report["needs"]}
    assert need(report, "gpu")["for"] == "running plans"  # RTX builds without a GPU
    assert code == 1 and report["exit_code"] == 1 and not need(report, "gpu")["met"]


def test_a_blocked_module_is_reported_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    code, report = doctor_json(capsys, "--target", "desktop-rtx")
    assert code == 1
    assert report["components"]["tensorrt_rtx"]["present"] is False
    rtx = need(report, "tensorrt_rtx")
    assert rtx["problem"] == "TensorRT-RTX (tensorrt_rtx) missing" and 'pip install ".[rtx]"' in rtx["install"]


def test_json_structure(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = doctor_json(capsys, "--target", "desktop")
    keys = {"machine", "components", "gpu", "target", "machine_note", "needs", "targets", "works_here", "exit_code"}
    assert set(report) == keys
    assert list(report["components"])[:3] == ["python", "gpu", "cuda-runtime"]
    assert set(report["components"]["python"]) == {"label", "present", "version", "details", "error", "install"}
    assert set(report["needs"][0]) == {"component", "for", "required", "met", "problem", "note", "install"}
    assert [n["component"] for n in report["needs"] if n["required"]] == [
        "python",
        "gpu",
        "tensorrt",
        "pycuda",
        "cv2",
        "rclpy",
        "messages",
    ]
    assert set(report["targets"]) == {"desktop", "desktop-rtx", "jetson-orin-jp6", "jetson-xavier-jp5", "jetson-thor"}


def test_gpu_from_nvidia_smi_and_hopper_refused_by_rtx(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gpu(monkeypatch, tmp_path, H200)
    code, report = doctor_json(capsys, "--target", "desktop-rtx")
    assert report["gpu"] == {
        "name": "NVIDIA H200",
        "driver": "580.95.05",
        "compute_capability": "9.0",
        "memory": "143771 MiB",
        "cuda_driver": "13.0",
        "source": "nvidia-smi",
        "count": 1,
    }
    gpu = need(report, "gpu")
    assert code == 1 and not gpu["met"]
    assert gpu["problem"].startswith("compute capability 9.0: TensorRT-RTX plans are built for 8.0 8.6 8.9 12.0")
    assert gpu["install"] == "targets for this GPU: desktop"
    code, text = doctor(capsys, "--target", "desktop-rtx")
    gpu_row = next(line for line in text.splitlines() if line.startswith("GPU and driver"))
    assert (
        code == 1
        and gpu_row.split()[:5] == ["GPU", "and", "driver", "NVIDIA", "H200;"]
        and gpu_row.endswith("MISMATCH")
    )
    _, report = doctor_json(capsys, "--target", "desktop")
    assert need(report, "gpu")["met"] and report["targets"]["desktop"]["problems"] == [
        "TensorRT (tensorrt) missing",
        "pycuda missing",
    ]


def test_a_fitting_gpu_with_everything_installed_is_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gpu(monkeypatch, tmp_path, RTX_A6000)
    stand_in(monkeypatch, "pycuda.driver", "2025.1.2")
    code, text = doctor(capsys, "--target", "desktop-rtx")
    assert code == 0, text
    assert "NVIDIA RTX A6000; compute capability 8.6;" in text
    assert text.rstrip().endswith("target desktop-rtx: READY")


def test_jetson_gpu_against_desktop_and_orin_targets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gpu(monkeypatch, tmp_path, ORIN)
    _, report = doctor_json(capsys, "--target", "desktop")
    assert report["gpu"]["memory"] == ""  # [N/A] is not a value
    assert need(report, "gpu")["problem"] == "compute capability 8.7 is a Jetson Orin: use a jetson-* target"
    assert need(report, "gpu")["install"] == "targets for this GPU: jetson-orin-jp6, jetson-xavier-jp5"
    _, report = doctor_json(capsys, "--target", "jetson-orin-jp6")
    assert need(report, "gpu")["met"]
    _, report = doctor_json(capsys, "--target", "jetson-xavier-jp5")
    assert need(report, "gpu")["met"]
    _, report = doctor_json(capsys, "--target", "jetson-thor")
    assert need(report, "gpu")["problem"] == "compute capability 8.7: jetson-thor runs on 10.1 or 11.0 (Jetson iGPU)"


def test_tensorrt_version_against_the_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in(monkeypatch, "tensorrt", "8.5.2.2")
    _, report = doctor_json(capsys, "--target", "desktop")
    trt = need(report, "tensorrt")
    assert trt["problem"] == "tensorrt 8.5.2.2: desktop needs 10.x or 11.x"
    assert trt["install"].startswith("pick the target of this version, or install the one desktop needs: `pip install")
    stand_in(monkeypatch, "tensorrt", "10.7.0.23")
    _, report = doctor_json(capsys, "--target", "jetson-orin-jp6")
    trt = need(report, "tensorrt")
    assert trt["met"] and trt["note"].startswith("jetson-orin-jp6 ships 10.3, this is 10.7.0.23")


def test_a_hanging_nvidia_smi_is_cut_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_gpu(monkeypatch, tmp_path, H200)
    monkeypatch.setenv("NVIDIA_SMI_DOUBLE_SLEEP", "30")
    monkeypatch.setattr(gpu_probe, "SMI_TIMEOUT_S", 0.5)
    start = time.monotonic()
    assert gpu_probe.find_gpu() is None
    assert time.monotonic() - start < 5


def test_nvidia_smi_without_devices_means_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_gpu(monkeypatch, tmp_path, "")
    finding = checks.gpu_finding(gpu_probe.find_gpu())
    assert not finding.present and finding.error.startswith("no GPU found: nvidia-smi lists no GPU")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64", "JetPack 6 (L4T R36.4.3)"),
        ("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref", "JetPack 5 (L4T R35.5.0)"),
        ("garbled", "a Jetson (L4T version unreadable)"),
    ],
)
def test_jetpack_release(tmp_path: Path, text: str, expected: str) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text(text + "\n")
    assert jetpack_release(release) == expected


def test_jetpack_mismatch_is_a_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R35 (release), REVISION: 5.0, GCID: 1\n")
    monkeypatch.setattr(checks, "TEGRA_RELEASE", release)
    code, text = doctor(capsys, "--target", "jetson-orin-jp6")
    assert code == 1  # a note only: TensorRT, pycuda and the GPU are what is missing
    assert "machine: Linux" in text and "Jetson, JetPack 5 (L4T R35.5.0)" in text
    assert "- machine: this Jetson runs JetPack 5 (L4T R35.5.0); jetson-orin-jp6 is for JetPack 6" in text


def test_no_ros_leaves_the_node_out(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)
    monkeypatch.setenv("ROS_DISTRO", "humble")
    _, report = doctor_json(capsys, "--target", "desktop")
    rclpy = need(report, "rclpy")
    assert rclpy["required"] and not rclpy["met"] and "/opt/ros/$ROS_DISTRO/setup.bash" in rclpy["install"]
    assert "ROS_DISTRO=humble (is its setup.bash sourced in this shell?)" in report["components"]["rclpy"]["details"]
    _, report = doctor_json(capsys, "--target", "desktop", "--no-ros")
    assert (
        not need(report, "rclpy")["required"]
        and "ROS 2 (rclpy) missing" not in report["targets"]["desktop"]["problems"]
    )


PLAIN_INSTALL = """
import json, sys

BLOCKED = ("torch", "onnx", "onnxslim", "onnxruntime", "tensorrt", "tensorrt_rtx", "tensorrt_lean", "cv2", "rclpy",
           "ma_trt_ros_interfaces", "pycuda", "cuda")

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this test")

sys.meta_path.insert(0, Block())
from ma_trt_convert.cli import main
code = main(["doctor", "--json"])
print("EXIT", code)
code = main(["doctor", "--target", "desktop"])
print("EXIT", code)
"""


def test_doctor_runs_with_only_the_plain_install(tmp_path: Path) -> None:
    """numpy only, no nvidia-smi: every component reported missing with why, exit 1 (nothing can run)."""
    env = {"PATH": str(tmp_path), "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable, "-c", PLAIN_INSTALL], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    json_part, text_part = result.stdout.split("EXIT 1\n", 1)
    report = json.loads(json_part)
    assert report["exit_code"] == 1
    for name in ("torch", "onnx", "onnxruntime", "tensorrt_rtx", "cv2", "rclpy", "messages", "pycuda", "cuda-python"):
        component = report["components"][name]
        assert not component["present"] and "is blocked for this test" in component["error"], name
    assert report["components"]["python"]["present"] and not report["components"]["gpu"]["present"]
    assert text_part.rstrip().endswith("EXIT 1")
    assert "nothing here runs or builds a model" not in text_part  # the --target report has its own verdict
    assert "`pip install opencv-python-headless`" in text_part and "`pip install tensorrt`" in text_part
    assert "target desktop: NOT READY:" in text_part and "OpenCV (cv2) missing" in text_part


def test_capability_missing_from_nvidia_smi_comes_from_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_gpu(monkeypatch, tmp_path, "Orin (nvgpu), 540.4.0, [N/A], [N/A]")
    torch_view = gpu_probe.GpuInfo("Orin", "", "8.7", source="torch.cuda")
    monkeypatch.setattr(gpu_probe, "gpu_from_torch", lambda: torch_view)
    gpu = gpu_probe.find_gpu()
    assert gpu == gpu_probe.GpuInfo("Orin (nvgpu)", "540.4.0", "8.7", "", "13.0", "nvidia-smi + torch.cuda", 1)
