"""Start ``matchanything_node`` (this worktree's code) in a child process with the fake matcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ros_harness import RosEnvironment, RosProcess, run_module_in_ros_process

NODE_MODULE = "ma_trt_ros.ros.matchanything_node"
FAKE_FACTORY = "support.fake_matcher:open_fake_matcher"


def ros_value(value: Any) -> str:
    """``value`` as rclpy's ``-p name:=value`` parses it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def start_node(
    env: RosEnvironment,
    namespace: str,
    params: dict[str, Any],
    fake_env: dict[str, str] | None = None,
    params_file: Path | None = None,
) -> RosProcess:
    """The node in namespace ``namespace`` with ``params`` (``-p``), the fake matcher, and ``fake_env`` variables."""
    args = ["--ros-args", "-r", f"__ns:={namespace}"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in params.items():
        args += ["-p", f"{name}:={ros_value(value)}"]
    extra = {"MA_TRT_ROS_MATCHER_FACTORY": FAKE_FACTORY, **(fake_env or {})}
    return run_module_in_ros_process(NODE_MODULE, env, tuple(args), extra)
