"""matchanything_node lifecycle over its ROS services: the model is opened at configure and released at cleanup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.lifecycle import LifecycleClient
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, wait_until

pytestmark = pytest.mark.ros


def log_lines(path: Path) -> list[str]:
    """Lines the fake matcher wrote (open/close)."""
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.timeout(120)
def test_configure_opens_cleanup_closes_and_only_active_node_matches(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Path
) -> None:
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image
    from ma_trt_ros_interfaces.msg import Matches

    ns, log = "/lifecycle", tmp_path / "fake.log"
    name = f"{ns}/matchanything_node"
    matches = ros_node.collect(Matches, f"{name}/matches")
    image_publishers = [ros_node.publisher(Image, f"{ns}/image{k}") for k in (0, 1)]

    def publish_pair(second: int) -> None:
        header = Header(frame_id="cam")
        header.stamp.sec = second
        for publisher in image_publishers:
            publisher.publish(numpy_to_image(np.zeros((20, 30), np.uint8), "mono8", header=header))

    params = {"model_path": "fake:eloftr", "autostart": False, "input_reliability": "reliable"}
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_LOG": str(log)}) as node:
        lifecycle = LifecycleClient(ros_node, name)
        assert lifecycle.state() == "unconfigured" and log_lines(log) == []
        assert lifecycle.transition("configure") and lifecycle.state() == "inactive"
        assert log_lines(log) == ["open fake:eloftr"]
        assert image_publishers[0].get_subscription_count() == 0
        assert lifecycle.transition("activate") and lifecycle.state() == "active"
        wait_until(lambda: all(p.get_subscription_count() == 1 for p in image_publishers), 20.0, "node subscriptions")
        wait_for_outputs([matches])
        publish_pair(1)
        assert [m.header0.stamp.sec for m in matches.wait_for(1, timeout_s=20.0)] == [1]
        assert lifecycle.transition("deactivate") and lifecycle.state() == "inactive"
        wait_until(lambda: all(p.get_subscription_count() == 0 for p in image_publishers), 20.0, "unsubscription")
        assert log_lines(log) == ["open fake:eloftr"]
        assert lifecycle.transition("cleanup") and lifecycle.state() == "unconfigured"
        assert log_lines(log) == ["open fake:eloftr", "close"]
        assert lifecycle.transition("configure") and lifecycle.transition("activate")
        wait_until(lambda: all(p.get_subscription_count() == 1 for p in image_publishers), 20.0, "node subscriptions")
        wait_for_outputs([matches])
        publish_pair(2)
        assert [m.header0.stamp.sec for m in matches.wait_for(2, timeout_s=20.0)] == [1, 2]
        assert log_lines(log) == ["open fake:eloftr", "close", "open fake:eloftr"]
        assert node.stop() == 0, node.output()  # Ctrl-C while spinning: a clean exit
    assert log_lines(log) == ["open fake:eloftr", "close", "open fake:eloftr", "close"]


@pytest.mark.timeout(60)
def test_bad_model_fails_configure_with_the_error_text(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    ns = "/bad_model"
    name = f"{ns}/matchanything_node"
    with start_node(ros_env, ns, {"model_path": "missing.plan", "autostart": False}) as node:
        lifecycle = LifecycleClient(ros_node, name)
        assert not lifecycle.transition("configure")
        assert lifecycle.state() == "unconfigured"
        wait_until(lambda: "configure failed" in node.output(), 10.0, "the error in the log")
        assert "configure failed: test double: 'missing.plan' is not a model" in node.output()
    with start_node(ros_env, "/bad_model_autostart", {"model_path": "missing.plan"}) as node:
        assert node.wait(timeout_s=30.0) == 1
        assert "configure failed: test double: 'missing.plan' is not a model" in node.output()


@pytest.mark.timeout(60)
def test_invalid_parameter_fails_configure_naming_it(ros_env: RosEnvironment) -> None:
    with start_node(ros_env, "/bad_param", {"model_path": "fake:roma", "queue_policy": "newest"}) as node:
        assert node.wait(timeout_s=30.0) == 1
        assert "queue_policy = 'newest'; use one of latest, lossless" in node.output()
