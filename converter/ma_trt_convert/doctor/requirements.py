"""What each target needs, for which command, how to install it, and whether this machine has it.

A target is *ready* when everything marked required is met: the GPU (with a fitting compute
capability), the target's TensorRT module of an accepted major version, pycuda and OpenCV (the
runtime's ``tensorrt`` backend) and, unless the ROS node is left out, rclpy with our messages. The
export tools (PyTorch, ONNX, onnxslim), ONNX Runtime, cuda-python and the lean runtime are reported
with their install steps but never make a target fail: export runs on any machine and its ONNX is
portable.
"""

from __future__ import annotations

from dataclasses import dataclass

from ma_trt_convert.doctor.checks import Finding, Inventory
from ma_trt_convert.tensorrt.targets import TARGETS, Target

MIN_PYTHON = (3, 10)
# integrated GPUs of the Jetson families: capability -> module
JETSON_GPUS = {"7.2": "Xavier", "8.7": "Orin", "10.1": "Thor", "11.0": "Thor"}
# GPUs each Jetson target runs on (Thor is sm 10.1 under CUDA 12.8/12.9, 11.0 from CUDA 13)
JETSON_TARGET_GPUS = {
    "jetson-orin-jp6": ("8.7",),
    "jetson-xavier-jp5": ("7.2", "8.7"),
    "jetson-thor": ("10.1", "11.0"),
}
# JetPack major each Jetson target is for
JETPACK_OF_TARGET = {"jetson-orin-jp6": "6", "jetson-xavier-jp5": "5", "jetson-thor": "7"}
# desktop TensorRT 10/11 wheels: Turing (7.5) and newer discrete/server GPUs
DESKTOP_MIN_CAPABILITY = (7, 5)
_IN_CHECKOUT = "in the ma_trt_ros checkout"
_CONVERT = f'`pip install ".[convert]"` {_IN_CHECKOUT} (on a CPU-only machine install PyTorch\'s CPU build first)'
_EXPORT_ELSEWHERE = "or export on a desktop and copy the .onnx: it is portable"
_COLCON = (
    "build them with colcon as the README says: `colcon build --base-paths src/ma_trt_ros src/ma_trt_ros/msg` "
    "in your workspace, then `source install/setup.bash`"
)
# component -> (desktop wording, JetPack wording); the target's TensorRT module takes the target's own
INSTALL: dict[str, tuple[str, str]] = {
    "python": (
        "Python 3.10 or later (your distribution's python3.10+, or a venv made with it)",
        "JetPack 6/7 ship Python 3.10/3.12; on JetPack 5 (Python 3.8) install a newer Python or move to JetPack 6",
    ),
    "gpu": (
        "install NVIDIA's driver for the GPU (`nvidia-smi` must list it); in a container pass the GPU (--gpus all)",
        "flash JetPack with SDK Manager (the GPU driver is part of L4T); `sudo apt install nvidia-jetpack` adds "
        "CUDA and TensorRT",
    ),
    "tensorrt": (
        f'{TARGETS["desktop"].install}, or `pip install ".[tensorrt]"` {_IN_CHECKOUT}',
        "TensorRT comes with JetPack: `sudo apt install nvidia-jetpack` (or just `python3-libnvinfer`); create the "
        "venv with --system-site-packages so that `import tensorrt` finds it",
    ),
    "tensorrt_rtx": (
        f'`pip install ".[rtx]"` {_IN_CHECKOUT}; ' + TARGETS["desktop-rtx"].install,
        "not for Jetson: TensorRT-RTX is for desktop RTX GPUs; use a jetson-* target",
    ),
    "tensorrt_lean": (
        "`pip install tensorrt-lean-cu13` (or -cu12; runs version-compatible plans only, cannot build)",
        "`sudo apt install python3-libnvinfer-lean`",
    ),
    "pycuda": (
        f'`pip install ".[gpu]"` {_IN_CHECKOUT} (pycuda builds against the CUDA toolkit: needs nvcc and cuda.h)',
        "`sudo apt install python3-pycuda`",
    ),
    "cuda-python": (
        f'`pip install ".[gpu]"` {_IN_CHECKOUT} (cuda-python of the driver\'s CUDA major)',
        '`pip install "cuda-python==12.*"` on JetPack 6 (CUDA 12), `"cuda-python==13.*"` on JetPack 7',
    ),
    "onnxruntime": (
        f'`pip install ".[onnxruntime]"` {_IN_CHECKOUT} (CPU; `onnxruntime-gpu` adds the CUDA provider)',
        "`pip install onnxruntime` (CPU); GPU builds for JetPack come from NVIDIA's Jetson wheels",
    ),
    "torch": (_CONVERT, f"NVIDIA's PyTorch wheel for your JetPack, {_EXPORT_ELSEWHERE}"),
    "onnx": (_CONVERT, f"`pip install onnx`, {_EXPORT_ELSEWHERE}"),
    "onnxslim": (_CONVERT, f"`pip install onnxslim`, {_EXPORT_ELSEWHERE}"),
    "cv2": (
        "`pip install opencv-python-headless` (part of `pip install .`)",
        "`sudo apt install python3-opencv` (or `pip install opencv-python-headless`)",
    ),
    "rclpy": (
        "`source /opt/ros/$ROS_DISTRO/setup.bash` of a ROS 2 install (Humble, Jazzy, Kilted); without one, "
        '`pip install "ros-kilted-rclpy[fastrtps]"` into the venv',
        "ROS 2 Humble on JetPack 6 (Ubuntu 22.04): `sudo apt install ros-humble-ros-base`, then "
        "`source /opt/ros/humble/setup.bash`",
    ),
    "messages": (f"{_COLCON} (the PyPI-wheel venv: `make setup`)", _COLCON),
}


@dataclass(frozen=True)
class Need:
    """One component a target needs: for which commands, and whether the target fails without it."""

    component: str
    purpose: str
    required: bool


@dataclass(frozen=True)
class Verdict:
    """A need checked against this machine; ``problem`` says what is wrong (``""``: met), ``note`` warns."""

    need: Need
    met: bool
    problem: str = ""
    note: str = ""


def is_jetson(target: Target) -> bool:
    """Whether the target is a Jetson (JetPack wording for install steps)."""
    return target.name.startswith("jetson")


def needs_of(target: Target, *, with_ros: bool = True) -> list[Need]:
    """What ``target`` needs on this machine (``with_ros``: rclpy and the messages are required)."""
    gpu_for = "running plans" if target.module == "tensorrt_rtx" else "build, running plans"
    needs = [
        Need("python", "everything", True),
        Need("gpu", gpu_for, True),
        Need(target.module, "build, running plans", True),
        Need("pycuda", "running plans (GPU buffers)", True),
        Need("cv2", "pre-processing, ma-trt-match", True),
        Need("rclpy", "the ROS node", with_ros),
        Need("messages", "the ROS node", with_ros),
        Need("cuda-python", "CUDA-graph replay", False),
    ]
    if target.version_compatible:
        needs.append(Need("tensorrt_lean", "version-compatible plans without full TensorRT", False))
    needs += [
        Need("torch", "export, verify", False),
        Need("onnx", "export, verify, build --print-trtexec", False),
        Need("onnxslim", "export", False),
        Need("onnxruntime", "verify, onnxruntime backend", False),
    ]
    return needs


def install_step(component: str, target: Target) -> str:
    """The install step for ``component`` on ``target``: JetPack wording for Jetson targets, desktop otherwise."""
    desktop, jetpack = INSTALL[component]
    if not is_jetson(target):
        return desktop
    if component == target.module:
        return f"`sudo apt install nvidia-jetpack` brings it; {target.install}"
    return jetpack


def _capability(text: str) -> tuple[int, int] | None:
    try:
        major, minor = text.split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def gpu_problem(target: Target, capability: str) -> str:
    """Why a GPU of ``capability`` cannot run the target's plans, ``""`` when it can."""
    if target.module == "tensorrt_rtx":
        if capability not in target.compute_capabilities:
            return (
                f"compute capability {capability}: TensorRT-RTX plans are built for "
                f"{' '.join(target.compute_capabilities)} and refuse to run on other GPUs (e.g. Hopper, 9.0)"
            )
        return ""
    if is_jetson(target):
        allowed = JETSON_TARGET_GPUS[target.name]
        if capability not in allowed:
            return f"compute capability {capability}: {target.name} runs on {' or '.join(allowed)} (Jetson iGPU)"
        return ""
    if capability in JETSON_GPUS:
        return f"compute capability {capability} is a Jetson {JETSON_GPUS[capability]}: use a jetson-* target"
    parsed = _capability(capability)
    if parsed is not None and parsed < DESKTOP_MIN_CAPABILITY:
        return f"compute capability {capability}: desktop TensorRT 10/11 needs 7.5 (Turing) or newer"
    return ""


def platform_note(target: Target, jetpack: str) -> str:
    """A warning when the machine is not the kind the target is for (``jetpack``: checks.jetpack_release)."""
    if not is_jetson(target):
        return f"this is a Jetson ({jetpack}): use a jetson-* target here" if jetpack else ""
    if not jetpack:
        return "this machine is not a Jetson (no /etc/nv_tegra_release): build the plan on the robot"
    wanted = JETPACK_OF_TARGET[target.name]
    if not jetpack.startswith(f"JetPack {wanted} "):
        return f"this Jetson runs {jetpack}; {target.name} is for JetPack {wanted}"
    return ""


def _major(version: str) -> int | None:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def judge(need: Need, finding: Finding, target: Target, inventory: Inventory) -> Verdict:
    """Check one need against what was found."""
    if not finding.present:
        return Verdict(need, False, f"{finding.label} missing")
    if need.component == "python":
        version = tuple(int(p) for p in finding.version.split(".")[:2])
        if version < MIN_PYTHON:
            return Verdict(need, False, f"Python {finding.version}: the project needs 3.10 or later")
    if need.component == "gpu" and inventory.gpu is not None:
        capability = inventory.gpu.compute_capability
        if not capability:
            return Verdict(need, True, note="compute capability unknown: not checked against the target")
        problem = gpu_problem(target, capability)
        return Verdict(need, not problem, problem)
    if need.component == target.module:
        major = _major(finding.version)
        if major is not None and major not in target.majors:
            accepted = " or ".join(f"{m}.x" for m in target.majors)
            return Verdict(need, False, f"{target.module} {finding.version}: {target.name} needs {accepted}")
        if target.expected and not finding.version.startswith(target.expected + "."):
            note = f"{target.name} ships {target.expected}, this is {finding.version}: fine if the robot has the same"
            return Verdict(need, True, note=note)
    return Verdict(need, True)


def judge_target(target: Target, inventory: Inventory, *, with_ros: bool = True) -> list[Verdict]:
    """Every need of ``target`` checked against ``inventory``."""
    return [
        judge(need, inventory.findings[need.component], target, inventory)
        for need in needs_of(target, with_ros=with_ros)
    ]


def remedy(verdict: Verdict, target: Target, inventory: Inventory) -> str:
    """What to do about an unmet need: the install step, or for a GPU that does not fit, the targets that do."""
    component = verdict.need.component
    if component == "gpu" and inventory.gpu is not None:
        capability = inventory.gpu.compute_capability
        fitting = [t.name for t in TARGETS.values() if not gpu_problem(t, capability)]
        return f"targets for this GPU: {', '.join(fitting)}" if fitting else "no target here runs on this GPU"
    if component == target.module and inventory.findings[component].present:
        step = install_step(component, target)
        return f"pick the target of this version, or install the one {target.name} needs: {step}"
    return install_step(component, target)


def ready(verdicts: list[Verdict]) -> bool:
    """Whether every required need is met."""
    return all(v.met for v in verdicts if v.need.required)
