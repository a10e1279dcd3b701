"""Shared fixtures: the isolated ROS environment of the test session and an in-process test node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.ros_harness import (
    INHERITED_VARIABLES_REMOVED,
    RosEnvironment,
    RosTestNode,
    reserved_domain_id,
    ros_environment,
)


@pytest.fixture(scope="session")
def ros_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RosEnvironment]:
    """Isolated ROS environment (own domain, loopback, temp ROS_HOME, large-message profile), also set in os.environ."""
    pytest.importorskip("rclpy")
    with reserved_domain_id() as domain_id, pytest.MonkeyPatch.context() as patch:
        env = ros_environment(domain_id, tmp_path_factory.mktemp("ros"))
        for name in INHERITED_VARIABLES_REMOVED:
            patch.delenv(name, raising=False)
        for name, value in env.variables.items():
            patch.setenv(name, value)
        yield env


@pytest.fixture
def ros_node(ros_env: RosEnvironment) -> Iterator[RosTestNode]:
    """A node in the test process on the session's domain, spinning in a background thread."""
    node = RosTestNode(ros_env)
    yield node
    node.close()
