"""Start ``matchanything_node`` (this worktree's code) in a child process, with the fake matcher (a test
double) or the real runtime."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from support.ros_harness import RosEnvironment, RosProcess, run_module_in_ros_process, wait_until

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
    factory: str | None = FAKE_FACTORY,
) -> RosProcess:
    """The node in namespace ``namespace`` with ``params`` (``-p``), the matcher factory ``factory`` (default: the
    fake matcher; None: the real runtime), and ``fake_env`` variables."""
    args = ["--ros-args", "-r", f"__ns:={namespace}"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in params.items():
        args += ["-p", f"{name}:={ros_value(value)}"]
    extra = {"MA_TRT_ROS_MATCHER_FACTORY": factory} if factory else {}
    extra.update(fake_env or {})
    return run_module_in_ros_process(NODE_MODULE, env, tuple(args), extra)


def wait_for_outputs(subscriptions: list[Any], timeout_s: float = 30.0, settle_s: float = 0.5) -> None:
    """Wait until each rclpy subscription (or harness Collector) is matched with a publisher, then ``settle_s``.

    The node's output publishers are volatile: results published before they matched the test's
    subscriptions are lost, so tests feed images only after this.
    """
    for subscription in subscriptions:
        handle = getattr(subscription, "subscription", subscription)
        wait_until(lambda h=handle: h.get_publisher_count() > 0, timeout_s, f"a publisher on {handle.topic_name}")
    time.sleep(settle_s)
